package objectstore_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/childproc"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/objectstore"
)

// start runs the store of the sandbox's quickstart (bucket modelmesh-example-models, the model
// examples/quickstart names) or skips when the binary is not built.
func start(t *testing.T, objects map[string][]byte) *objectstore.Store {
	t.Helper()
	bin := os.Getenv(objectstore.BinaryEnv)
	if bin == "" {
		t.Skip(objectstore.BinaryEnv + " is not set: make $(VERSITYGW) builds it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := objectstore.Start(ctx, objectstore.Options{
		Binary: bin, Bucket: "modelmesh-example-models", Objects: objects, Log: childproc.TestLog(t, "versitygw"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	model := []byte("not really a joblib, but bytes the puller must copy unchanged\x00\x01")
	s := start(t, map[string][]byte{"sklearn/mnist-svm.joblib": model})
	ctx := context.Background()

	keys, err := s.List(ctx, "modelmesh-example-models", "sklearn/")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"sklearn/mnist-svm.joblib"}) {
		t.Errorf("listed %q, want the one object put", keys)
	}
	got, err := s.Get(ctx, "modelmesh-example-models", "sklearn/mnist-svm.joblib")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, model) {
		t.Errorf("read back %q, want %q", got, model)
	}

	// What the server answers a client with a wrong secret or an unknown key id, and a missing object.
	for _, tc := range []struct {
		name, access, secret, path string
		status                     int
		code                       string
	}{
		{"wrong secret", s.AccessKey, s.SecretKey + "x", "/modelmesh-example-models/sklearn/mnist-svm.joblib", http.StatusForbidden, "SignatureDoesNotMatch"},
		// versitygw v1.8.0 (root user only, no IAM service) differs here from S3 and OSS, which
		// answer 403 InvalidAccessKeyId: pinned so that a change of it shows.
		{"unknown key id", "AKIAUNKNOWN", s.SecretKey, "/modelmesh-example-models/sklearn/mnist-svm.joblib", http.StatusNotFound, "XAdminUserNotFound"},
		{"missing object", s.AccessKey, s.SecretKey, "/modelmesh-example-models/sklearn/missing.joblib", http.StatusNotFound, "NoSuchKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Request(ctx, http.MethodGet, tc.path, nil, tc.access, tc.secret)
			var s3err *objectstore.Error
			if !errors.As(err, &s3err) {
				t.Fatalf("got %v, want an S3 error", err)
			}
			if s3err.Status != tc.status || s3err.Code != tc.code {
				t.Errorf("got %v, want %d %s", s3err, tc.status, tc.code)
			}
		})
	}

	dir := s.Dir()
	s.Stop()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Stop left %s behind (stat: %v)", dir, err)
	}
	if _, err := http.Get(s.Endpoint); err == nil {
		t.Errorf("%s still answers after Stop", s.Endpoint)
	}
}
