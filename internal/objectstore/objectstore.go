// Package objectstore runs a real S3-compatible object store on loopback for the test stack:
// versitygw (github.com/versity/versitygw, Apache-2.0, pinned in tools/objectstore) with its posix
// backend, one root access key and secret, checking SigV4 signatures as OSS and S3 do, so that a
// wrong secret, a missing bucket or a missing object fail with the server's own S3 error codes.
package objectstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/childproc"
)

// BinaryEnv names the versitygw binary (make's $(VERSITYGW): built by tools/go-tool.sh).
const BinaryEnv = "VERSITYGW"

// Options configure Start. Empty credentials or region take the defaults below.
type Options struct {
	Binary    string // versitygw; required
	AccessKey string
	SecretKey string
	Region    string
	Bucket    string            // created by Start when set
	Objects   map[string][]byte // put into Bucket by Start: key -> content
	// Host is the address to listen on; "" is 127.0.0.1. Pods reach loopback only inside their own
	// network namespace: for a Pod on a real node, the node's InternalIP (internal/testnode).
	Host string
	Log  io.Writer // the server's output; nil discards it
}

// Store is a running versitygw. Its fields say how to reach it, as a storage-config key would.
type Store struct {
	Endpoint  string // http://<Host>:<port>
	AccessKey string
	SecretKey string
	Region    string

	dir  string
	proc *childproc.Proc
}

// Start runs versitygw on a free port of opts.Host with its data under a new temporary folder, waits
// until it answers, then creates opts.Bucket and puts opts.Objects through the S3 API.
func Start(ctx context.Context, opts Options) (*Store, error) {
	if opts.Binary == "" {
		return nil, errors.New("objectstore: no versitygw binary (set " + BinaryEnv + "; make builds it as $(VERSITYGW))")
	}
	s := &Store{
		AccessKey: or(opts.AccessKey, "AKIAIOSFODNN7EXAMPLE"),
		SecretKey: or(opts.SecretKey, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
		Region:    or(opts.Region, "us-south"),
	}
	dir, err := os.MkdirTemp("", "objectstore-")
	if err != nil {
		return nil, err
	}
	s.dir = dir
	addr, err := freeAddr(or(opts.Host, "127.0.0.1"))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	s.Endpoint = "http://" + addr
	// The sidecar folder keeps object metadata (ETags) out of extended attributes, which not every
	// temporary file system supports.
	data, meta := filepath.Join(dir, "data"), filepath.Join(dir, "meta")
	for _, d := range []string{data, meta} {
		if err := os.Mkdir(d, 0o700); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	cmd := exec.Command(opts.Binary, "--port", addr, "--region", s.Region, "posix", "--sidecar", meta, data)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+s.AccessKey, "ROOT_SECRET_ACCESS_KEY="+s.SecretKey)
	cmd.Stdout, cmd.Stderr = opts.Log, opts.Log
	if s.proc, err = childproc.Start(cmd); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("objectstore: %w", err)
	}
	if err := s.proc.WaitReady(ctx, "answer on "+s.Endpoint, s.answers); err != nil {
		s.Stop()
		return nil, fmt.Errorf("objectstore: %w", err)
	}
	if opts.Bucket != "" {
		if err := s.CreateBucket(ctx, opts.Bucket); err != nil {
			s.Stop()
			return nil, err
		}
	}
	for key, body := range opts.Objects {
		if err := s.Put(ctx, opts.Bucket, key, body); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// Stop ends the server and removes its folder.
func (s *Store) Stop() {
	s.proc.Stop()
	_ = os.RemoveAll(s.dir)
}

// Dir is the server's folder (data and metadata), removed by Stop.
func (s *Store) Dir() string { return s.dir }

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func freeAddr(host string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// answers reports whether the server answers an unsigned request (with an S3 error: any HTTP
// answer means it listens).
func (s *Store) answers() bool {
	resp, err := http.Get(s.Endpoint + "/")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return true
}

// Error is an S3 error answer: the HTTP status and the XML body's Code and Message.
type Error struct {
	Status  int
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("S3 %d %s: %s", e.Status, e.Code, e.Message)
}

// Request sends an S3 request for path (/bucket/key, with an optional ?query) signed with SigV4
// by accessKey/secretKey, and returns the body of a 2xx answer, else an *Error.
func (s *Store) Request(ctx context.Context, method, path string, body []byte, accessKey, secretKey string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.Endpoint+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hash, "s3", s.Region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Status: resp.StatusCode}
		_ = xml.Unmarshal(out, e)
		return nil, e
	}
	return out, nil
}

func (s *Store) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	return s.Request(ctx, method, path, body, s.AccessKey, s.SecretKey)
}

// CreateBucket creates bucket.
func (s *Store) CreateBucket(ctx context.Context, bucket string) error {
	_, err := s.do(ctx, http.MethodPut, "/"+bucket, nil)
	return err
}

// Put writes body as bucket/key.
func (s *Store) Put(ctx context.Context, bucket, key string, body []byte) error {
	_, err := s.do(ctx, http.MethodPut, objectPath(bucket, key), body)
	return err
}

// Get reads bucket/key.
func (s *Store) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	return s.do(ctx, http.MethodGet, objectPath(bucket, key), nil)
}

// List returns the keys of bucket under prefix (ListObjectsV2, first page).
func (s *Store) List(ctx context.Context, bucket, prefix string) ([]string, error) {
	out, err := s.do(ctx, http.MethodGet, "/"+bucket+"?list-type=2&prefix="+url.QueryEscape(prefix), nil)
	if err != nil {
		return nil, err
	}
	var result struct {
		Contents []struct {
			Key string `xml:"Key"`
		} `xml:"Contents"`
	}
	if err := xml.Unmarshal(out, &result); err != nil {
		return nil, fmt.Errorf("objectstore: ListObjectsV2 answer: %w", err)
	}
	keys := make([]string, 0, len(result.Contents))
	for _, c := range result.Contents {
		keys = append(keys, c.Key)
	}
	return keys, nil
}

func objectPath(bucket, key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return "/" + bucket + "/" + strings.Join(parts, "/")
}
