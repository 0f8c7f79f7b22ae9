package asm

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/hashicorp/terraform-plugin-log/tflogtest"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
)

const (
	testAccessKey = "LTAI5tAsmClientTest01"
	testSecret    = "asm-client-test-secret"
)

var requestIDPattern = regexp.MustCompile(`request ID: [0-9A-F]{8}-[0-9A-F]{4}-`)

// fixture is a fake ASM with one running mesh and one cluster that can join it.
type fixture struct {
	fake    *asmfake.Server
	client  *Client
	mesh    asmfake.Mesh
	cluster asmfake.Cluster
}

func newFixture(t *testing.T, opts asmfake.Options) *fixture {
	t.Helper()
	fake := asmfake.New(opts)
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	fake.AddCredential(asmfake.Credential{AccessKeyID: testAccessKey, AccessKeySecret: testSecret})
	return &fixture{
		fake:    fake,
		client:  newTestClient(t, fake.Endpoint(), testSecret, 3),
		mesh:    fake.AddMesh(asmfake.Mesh{}),
		cluster: fake.AddAvailableCluster(asmfake.Cluster{}),
	}
}

// newTestClient returns a client whose retries and polls are quick.
func newTestClient(t *testing.T, endpoint, secret string, maxRetries int) *Client {
	t.Helper()
	c, err := NewClient(Config{Region: "cn-hangzhou", Credentials: credentials.NewStaticAKCredentialsProvider(testAccessKey, secret),
		Endpoint: endpoint, Protocol: "HTTP", MaxRetries: maxRetries})
	if err != nil {
		t.Fatal(err)
	}
	c.retry = backoff{initial: time.Millisecond, max: 5 * time.Millisecond, factor: 2}
	c.poll = backoff{initial: 5 * time.Millisecond, max: 20 * time.Millisecond, factor: 2}
	return c
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v, want an *asm.Error", err, err)
	}
	return e
}

func TestNewClientDefaultsToHTTPS(t *testing.T) {
	for protocol, want := range map[string]string{"": "HTTPS", "HTTPS": "HTTPS", "HTTP": "HTTP"} {
		client, err := NewClient(Config{Region: "cn-hangzhou", Credentials: credentials.NewStaticAKCredentialsProvider("ak", "sk"), Protocol: protocol})
		if err != nil {
			t.Fatal(err)
		}
		if got := client.Scheme(); got != want {
			t.Errorf("protocol %q: requests go out over %s, want %s", protocol, got, want)
		}
	}
}

func TestDescribeMesh(t *testing.T) {
	f := newFixture(t, asmfake.Options{})
	ctx := testContext(t)
	if err := f.fake.AttachClusterOutOfBand(f.mesh.ID, f.cluster.ID); err != nil {
		t.Fatal(err)
	}
	m, err := f.client.DescribeMesh(ctx, f.mesh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != f.mesh.ID || m.Name != f.mesh.Name || m.RegionID != f.mesh.RegionID || m.State != MeshRunning ||
		m.Version != asmfake.DefaultMeshVersion || m.VpcID != f.mesh.VpcID ||
		m.Endpoints.IntranetAPIServer != f.mesh.Endpoints.IntranetAPIServer ||
		m.Endpoints.IntranetPilot != f.mesh.Endpoints.IntranetPilot {
		t.Errorf("mesh = %+v, fake has %+v", m, f.mesh)
	}
	if len(m.ClusterIDs) != 1 || m.ClusterIDs[0] != f.cluster.ID {
		t.Errorf("cluster IDs = %v, want [%s]", m.ClusterIDs, f.cluster.ID)
	}

	clusters, err := f.client.ListClusters(ctx, f.mesh.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := Cluster{ID: f.cluster.ID, Name: f.cluster.Name, Type: f.cluster.Type, RegionID: f.cluster.RegionID,
		State: ClusterRunning, KubernetesVersion: f.cluster.KubernetesVersion, VpcID: f.cluster.VpcID}
	if len(clusters) != 1 || clusters[0] != want {
		t.Errorf("clusters = %+v, want [%+v]", clusters, want)
	}
}

func TestNotFound(t *testing.T) {
	f := newFixture(t, asmfake.Options{})
	ctx := testContext(t)

	_, err := f.client.DescribeMesh(ctx, "c00000000000000000000000000000000")
	if !IsNotFound(err) || !HasCode(err, CodeServiceMeshNotFound) || !requestIDPattern.MatchString(err.Error()) {
		t.Errorf("unknown mesh: got %v, want ServiceMesh.NotFound with a request ID", err)
	}
	_, err = f.client.GetCluster(ctx, "c00000000000000000000000000000000", f.cluster.ID)
	if !IsNotFound(err) {
		t.Errorf("cluster of an unknown mesh: got %v, want not found", err)
	}
	_, err = f.client.GetCluster(ctx, f.mesh.ID, f.cluster.ID)
	if !IsNotFound(err) || !strings.Contains(err.Error(), "is not in mesh") || !requestIDPattern.MatchString(err.Error()) {
		t.Errorf("cluster not in the mesh: got %v, want not found with a request ID", err)
	}
	if got := f.fake.CountRequests("DescribeServiceMeshDetail"); got != 1 {
		t.Errorf("a not-found answer was retried: %d calls", got)
	}
}

func TestClassification(t *testing.T) {
	for _, tc := range []struct {
		fault    asmfake.Fault
		want     Kind
		wantHint string
	}{
		{fault: asmfake.Fault{Code: asmfake.CodeThrottling}, want: Retryable},
		{fault: asmfake.Fault{Code: asmfake.CodeThrottlingUser}, want: Retryable},
		{fault: asmfake.Fault{Code: asmfake.CodeThrottlingAPI}, want: Retryable},
		{fault: asmfake.Fault{Code: asmfake.CodeRejectedThrottling}, want: Retryable},
		{fault: asmfake.Fault{Code: asmfake.CodeServiceUnavailable}, want: Retryable},
		{fault: asmfake.Fault{Code: asmfake.CodeInternalError}, want: Retryable},
		{fault: asmfake.Fault{Code: "Whatever", HTTPStatus: http.StatusBadGateway}, want: Retryable},
		// A transient answer is never taken for not-found, whatever code it carries.
		{fault: asmfake.Fault{Code: asmfake.CodeServiceMeshNotFound, HTTPStatus: http.StatusServiceUnavailable}, want: Retryable},
		{fault: asmfake.Fault{Code: asmfake.CodeServiceMeshNotFound}, want: NotFound},
		{fault: asmfake.Fault{Code: asmfake.CodeNotFound}, want: NotFound},
		// 404 and ".NotFound", but about the credentials.
		{fault: asmfake.Fault{Code: asmfake.CodeAccessKeyNotFound}, want: Permanent, wantHint: "check access_key"},
		{fault: asmfake.Fault{Code: asmfake.CodeTimestampExpired}, want: Permanent, wantHint: "clock skew"},
		{fault: asmfake.Fault{Code: asmfake.CodeSecurityTokenExpired}, want: Permanent, wantHint: "security_token"},
		{fault: asmfake.Fault{Code: asmfake.CodeStillInitializing}, want: Permanent, wantHint: "state is running"},
		// A missing permission is never taken for not-found: it names the action and the RAM permission.
		{fault: asmfake.Fault{Code: asmfake.CodeForbiddenRAM}, want: Permanent, wantHint: "RAM permission servicemesh:DescribeServiceMeshDetail"},
		{fault: asmfake.Fault{Code: "NoPermission", HTTPStatus: http.StatusForbidden}, want: Permanent, wantHint: "servicemesh:DescribeServiceMeshDetail"},
		{fault: asmfake.Fault{Code: asmfake.CodeServiceMeshNotFound, HTTPStatus: http.StatusForbidden}, want: Permanent, wantHint: "servicemesh:DescribeServiceMeshDetail"},
	} {
		t.Run(tc.fault.Code+"/"+http.StatusText(tc.fault.HTTPStatus), func(t *testing.T) {
			f := newFixture(t, asmfake.Options{})
			f.client.maxRetries = 0
			f.fake.InjectFault("DescribeServiceMeshDetail", tc.fault)
			_, err := f.client.DescribeMesh(testContext(t), f.mesh.ID)
			e := asError(t, err)
			if e.Kind != tc.want || classify(e.Err) != tc.want {
				t.Errorf("kind = %v, want %v (%v)", e.Kind, tc.want, err)
			}
			if e.Code != tc.fault.Code || e.RequestID == "" || !strings.Contains(err.Error(), e.RequestID) {
				t.Errorf("error does not carry the code and request ID: %v", err)
			}
			if !strings.Contains(e.Hint, tc.wantHint) {
				t.Errorf("hint %q does not contain %q", e.Hint, tc.wantHint)
			}
		})
	}
}

func TestWrongSecretIsExplained(t *testing.T) {
	f := newFixture(t, asmfake.Options{})
	c := newTestClient(t, f.fake.Endpoint(), "not-the-secret", 3)
	_, err := c.DescribeMesh(testContext(t), f.mesh.ID)
	e := asError(t, err)
	if e.Code != "SignatureDoesNotMatch" || e.Kind != Permanent || !strings.Contains(err.Error(), "check secret_key") {
		t.Errorf("got %v, want SignatureDoesNotMatch explained as a wrong secret_key", err)
	}
	if strings.Contains(err.Error(), "string to sign") {
		t.Errorf("the server's string to sign is noise in the error: %v", err)
	}
	if got := f.fake.CountRequests("DescribeServiceMeshDetail"); got != 1 {
		t.Errorf("a credentials error was retried: %d calls", got)
	}
}

func TestRetriesThenSucceeds(t *testing.T) {
	f := newFixture(t, asmfake.Options{})
	var logs bytes.Buffer
	ctx := tflogtest.RootLogger(testContext(t), &logs)
	f.fake.InjectFault("DescribeServiceMeshDetail", asmfake.Fault{Code: asmfake.CodeThrottling, Times: 1})
	f.fake.InjectFault("DescribeServiceMeshDetail", asmfake.Fault{Code: asmfake.CodeServiceUnavailable, Times: 1})

	if _, err := f.client.DescribeMesh(ctx, f.mesh.ID); err != nil {
		t.Fatalf("throttling and a 503 then success: %v", err)
	}
	if got := f.fake.CountRequests("DescribeServiceMeshDetail"); got != 3 {
		t.Errorf("calls = %d, want 3", got)
	}
	entries, err := tflogtest.MultilineJSONDecode(&logs)
	if err != nil {
		t.Fatal(err)
	}
	var retries []map[string]any
	for _, entry := range entries {
		if entry["@message"] == "retrying ASM call" {
			retries = append(retries, entry)
		}
	}
	if len(retries) != 2 {
		t.Fatalf("want 2 retries logged, got %v", entries)
	}
	for i, code := range []string{asmfake.CodeThrottling, asmfake.CodeServiceUnavailable} {
		if retries[i]["@level"] != "debug" || retries[i]["code"] != code || retries[i]["request_id"] == "" {
			t.Errorf("retry %d logged as %v, want debug with code %s and the request ID", i+1, retries[i], code)
		}
	}
}

func TestPersistentFailureCarriesRequestID(t *testing.T) {
	f := newFixture(t, asmfake.Options{})
	f.fake.InjectFault("DescribeServiceMeshDetail", asmfake.Fault{Code: asmfake.CodeServiceUnavailable})

	_, err := f.client.DescribeMesh(testContext(t), f.mesh.ID)
	e := asError(t, err)
	if IsNotFound(err) || !IsRetryable(err) {
		t.Errorf("a 503 must be retryable and never not-found: %v", err)
	}
	if e.Attempts != 4 || f.fake.CountRequests("DescribeServiceMeshDetail") != 4 {
		t.Errorf("attempts = %d, calls = %d; want 1 + max_retries = 4", e.Attempts,
			f.fake.CountRequests("DescribeServiceMeshDetail"))
	}
	if !requestIDPattern.MatchString(err.Error()) || !strings.Contains(err.Error(), "4 attempts") {
		t.Errorf("error lacks the request ID or the attempt count: %v", err)
	}
}

func TestRetriesStopAtDeadline(t *testing.T) {
	f := newFixture(t, asmfake.Options{})
	f.client.maxRetries = 50
	f.client.retry = backoff{initial: time.Second, max: time.Second, factor: 1}
	f.fake.InjectFault("DescribeServiceMeshDetail", asmfake.Fault{Code: asmfake.CodeThrottling})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()

	start := time.Now()
	_, err := f.client.DescribeMesh(ctx, f.mesh.ID)
	if !IsRetryable(err) || time.Since(start) > 2*time.Second {
		t.Errorf("got %v after %v; want the throttling error before the deadline", err, time.Since(start))
	}
}

func TestContextCancelsRequestInFlight(t *testing.T) {
	f := newFixture(t, asmfake.Options{})
	f.fake.InjectFault("DescribeServiceMeshDetail", asmfake.Fault{Latency: time.Minute})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()

	start := time.Now()
	_, err := f.client.DescribeMesh(ctx, f.mesh.ID)
	if err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("got %v after %v; want the call abandoned when its context ends", err, time.Since(start))
	}
}

func TestNetworkErrorIsRetryableAndRedacted(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := listener.Addr().String()
	_ = listener.Close() // nothing listens there now

	c := newTestClient(t, endpoint, testSecret, 2)
	_, err = c.DescribeMesh(testContext(t), "c00000000000000000000000000000000")
	e := asError(t, err)
	if !IsRetryable(err) || IsNotFound(err) || e.Attempts != 3 {
		t.Errorf("connection refused: got kind %v after %d attempts, want retryable after 3", e.Kind, e.Attempts)
	}
	if !strings.Contains(err.Error(), "request ID: none") {
		t.Errorf("error does not say there is no request ID: %v", err)
	}
	if strings.Contains(err.Error(), testAccessKey) || strings.Contains(err.Error(), "Signature=") {
		t.Errorf("error shows the request's query: %v", err)
	}
}

func TestHTTPSAgainstPlainHTTPIsExplained(t *testing.T) {
	f := newFixture(t, asmfake.Options{})
	c, err := NewClient(Config{Region: "cn-hangzhou", Credentials: credentials.NewStaticAKCredentialsProvider(testAccessKey, testSecret),
		Endpoint: f.fake.Endpoint(), MaxRetries: 3})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeMesh(testContext(t), f.mesh.ID)
	if IsRetryable(err) || !strings.Contains(err.Error(), `protocol = "HTTP"`) {
		t.Errorf("got %v; want a permanent error pointing at the protocol setting", err)
	}
}

func TestAttachAndDetach(t *testing.T) {
	f := newFixture(t, asmfake.Options{AttachDelay: 50 * time.Millisecond, DetachDelay: 50 * time.Millisecond})
	ctx := testContext(t)

	cl, err := f.client.AttachCluster(ctx, f.mesh.ID, f.cluster.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cl.State != ClusterRunning || cl.ID != f.cluster.ID || cl.Name != f.cluster.Name {
		t.Errorf("attached cluster = %+v", cl)
	}
	if got := f.fake.ClustersInMesh(f.mesh.ID); len(got) != 1 || got[0].State != asmfake.ClusterRunning {
		t.Errorf("fake has %+v", got)
	}

	if err := f.client.DetachCluster(ctx, f.mesh.ID, f.cluster.ID); err != nil {
		t.Fatal(err)
	}
	if got := f.fake.ClustersInMesh(f.mesh.ID); len(got) != 0 {
		t.Errorf("cluster still in the mesh after DetachCluster: %+v", got)
	}
	if err := f.client.DetachCluster(ctx, f.mesh.ID, f.cluster.ID); err != nil {
		t.Errorf("detaching a cluster already gone: %v", err)
	}
	if err := f.client.DetachCluster(ctx, "c00000000000000000000000000000000", f.cluster.ID); err != nil {
		t.Errorf("detaching from a mesh already gone: %v", err)
	}
}

func TestAttachFailedClusterIsRemoved(t *testing.T) {
	f := newFixture(t, asmfake.Options{AttachDelay: 20 * time.Millisecond})
	broken := f.fake.AddAvailableCluster(asmfake.Cluster{AttachError: "the cluster's API server is unreachable"})

	cl, err := f.client.AttachCluster(testContext(t), f.mesh.ID, broken.ID)
	var failed *ClusterFailedError
	if !errors.As(err, &failed) {
		t.Fatalf("got %v, want a ClusterFailedError", err)
	}
	if failed.ErrorMessage != "the cluster's API server is unreachable" || failed.RemoveErr != nil ||
		failed.RequestID == "" || cl.State != ClusterFailed {
		t.Errorf("failure = %+v, cluster = %+v", failed, cl)
	}
	if !strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), "removed from the mesh again") {
		t.Errorf("error does not give the service's words and the clean-up: %v", err)
	}
	if got := f.fake.ClustersInMesh(f.mesh.ID); len(got) != 0 {
		t.Errorf("the failed cluster was left in the mesh: %+v", got)
	}
}

func TestAttachClusterAlreadyInMesh(t *testing.T) {
	f := newFixture(t, asmfake.Options{})
	if err := f.fake.AttachClusterOutOfBand(f.mesh.ID, f.cluster.ID); err != nil {
		t.Fatal(err)
	}
	cl, err := f.client.AttachCluster(testContext(t), f.mesh.ID, f.cluster.ID)
	var inMesh *ClusterInMeshError
	if !errors.As(err, &inMesh) || inMesh.State != ClusterRunning || cl != nil {
		t.Errorf("got %+v, %v; want a ClusterInMeshError and no cluster of this call", cl, err)
	}
	if got := f.fake.CountRequests("AddClusterIntoServiceMesh"); got != 0 {
		t.Errorf("add calls = %d for a cluster already in the mesh, want 0", got)
	}
}

func TestAttachAfterLostAnswer(t *testing.T) {
	f := newFixture(t, asmfake.Options{AttachDelay: 20 * time.Millisecond})
	// Carried out, then the connection closes without an answer: the client sends the add again,
	// and the service refuses the repeat with a code nobody documented.
	f.fake.InjectFault("AddClusterIntoServiceMesh", asmfake.Fault{LoseAnswer: true, Times: 1})

	cl, err := f.client.AttachCluster(testContext(t), f.mesh.ID, f.cluster.ID)
	if err != nil || cl.State != ClusterRunning {
		t.Fatalf("the repeated add met its own earlier success: got %+v, %v", cl, err)
	}
	var adds []asmfake.Request
	for _, r := range f.fake.Requests() {
		if r.Action == "AddClusterIntoServiceMesh" {
			adds = append(adds, r)
		}
	}
	// Refused because the mesh is busy with the first add, or because the cluster is there: either way
	// with a code ASM does not document.
	if len(adds) != 2 || !adds[0].AnswerLost || adds[1].Code == "" {
		t.Errorf("adds = %+v; want one carried out with its answer lost, then a refused repeat", adds)
	}
}

func TestAttachWaitsForTheMeshToRunAgain(t *testing.T) {
	f := newFixture(t, asmfake.Options{AttachDelay: 20 * time.Millisecond, MeshUpdateDelay: 100 * time.Millisecond})
	if _, err := f.client.AttachCluster(testContext(t), f.mesh.ID, f.cluster.ID); err != nil {
		t.Fatal(err)
	}
	// The mesh stays updating after the cluster runs: returning earlier would leave the next
	// change (a second attachment, a destroy) to be refused.
	if m, _ := f.fake.Mesh(f.mesh.ID); m.State != asmfake.MeshRunning {
		t.Errorf("mesh is %s when AttachCluster returned, want running", m.State)
	}
}

func TestAttachWaitsForABusyMesh(t *testing.T) {
	f := newFixture(t, asmfake.Options{AttachDelay: 20 * time.Millisecond})
	if err := f.fake.BusyMesh(f.mesh.ID, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.AttachCluster(testContext(t), f.mesh.ID, f.cluster.ID); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.fake.Requests() {
		if r.Action == "AddClusterIntoServiceMesh" && r.Code != "" {
			t.Errorf("add sent to a busy mesh: %+v", r)
		}
	}
}

// busyOnFirst makes the mesh busy just as the first call to action reaches the fake, as another
// team's change would between this client's read of the mesh and its change.
type busyOnFirst struct {
	base   http.RoundTripper
	fake   *asmfake.Server
	meshID string
	action string
	once   sync.Once
}

func (b *busyOnFirst) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Query().Get("Action") == b.action {
		b.once.Do(func() {
			if err := b.fake.BusyMesh(b.meshID, 50*time.Millisecond); err != nil {
				panic(err)
			}
		})
	}
	return b.base.RoundTrip(r)
}

func TestChangeRefusedByABusyMeshIsAskedAgain(t *testing.T) {
	for _, action := range []string{"AddClusterIntoServiceMesh", "RemoveClusterFromServiceMesh"} {
		t.Run(action, func(t *testing.T) {
			f := newFixture(t, asmfake.Options{AttachDelay: 20 * time.Millisecond, DetachDelay: 20 * time.Millisecond})
			ctx := testContext(t)
			f.client.transport = &busyOnFirst{base: f.client.transport, fake: f.fake, meshID: f.mesh.ID, action: action}
			f.client.idle = nil // rebuild the SDK clients over the new transport

			if _, err := f.client.AttachCluster(ctx, f.mesh.ID, f.cluster.ID); err != nil {
				t.Fatal(err)
			}
			if err := f.client.DetachCluster(ctx, f.mesh.ID, f.cluster.ID); err != nil {
				t.Fatal(err)
			}
			var codes []string
			for _, r := range f.fake.Requests() {
				if r.Action == action {
					codes = append(codes, r.Code)
				}
			}
			if busy := f.fake.UndocumentedCode(asmfake.RefusalMeshBusy); len(codes) != 2 || codes[0] != busy || codes[1] != "" {
				t.Errorf("%s answered %q; want refused as busy (%s), then accepted", action, codes, busy)
			}
			if got := f.fake.ClustersInMesh(f.mesh.ID); len(got) != 0 {
				t.Errorf("cluster left in the mesh: %+v", got)
			}
		})
	}
}

func TestDetachRepeatedAfterLostAnswer(t *testing.T) {
	f := newFixture(t, asmfake.Options{AttachDelay: 20 * time.Millisecond, DetachDelay: 50 * time.Millisecond})
	ctx := testContext(t)
	if _, err := f.client.AttachCluster(ctx, f.mesh.ID, f.cluster.ID); err != nil {
		t.Fatal(err)
	}
	f.fake.InjectFault("RemoveClusterFromServiceMesh", asmfake.Fault{LoseAnswer: true, Times: 1})
	if err := f.client.DetachCluster(ctx, f.mesh.ID, f.cluster.ID); err != nil {
		t.Fatalf("the cluster left the mesh, so the removal succeeded whatever the repeat answered: %v", err)
	}
	var removes []asmfake.Request
	for _, r := range f.fake.Requests() {
		if r.Action == "RemoveClusterFromServiceMesh" {
			removes = append(removes, r)
		}
	}
	if len(removes) != 2 || !removes[0].AnswerLost || removes[1].Code == "" {
		t.Errorf("removes = %+v; want one carried out with its answer lost, then a refused repeat", removes)
	}
	if got := f.fake.ClustersInMesh(f.mesh.ID); len(got) != 0 {
		t.Errorf("cluster left in the mesh: %+v", got)
	}
	if m, _ := f.fake.Mesh(f.mesh.ID); m.State != asmfake.MeshRunning {
		t.Errorf("mesh is %s when DetachCluster returned, want running", m.State)
	}
}

func TestAttachStoppedCluster(t *testing.T) {
	f := newFixture(t, asmfake.Options{})
	stopped := f.fake.AddAvailableCluster(asmfake.Cluster{Stopped: true})
	cl, err := f.client.AttachCluster(testContext(t), f.mesh.ID, stopped.ID)
	var stoppedErr *ClusterStoppedError
	if !errors.As(err, &stoppedErr) || cl == nil || cl.State != ClusterStopped {
		t.Fatalf("got %+v, %v; want a ClusterStoppedError with the cluster", cl, err)
	}
	if got := f.fake.ClustersInMesh(f.mesh.ID); len(got) != 1 {
		t.Errorf("a stopped cluster that joined stays for the caller to track: %+v", got)
	}
}

func TestAttachRefusals(t *testing.T) {
	f := newFixture(t, asmfake.Options{})
	elsewhere := f.fake.AddAvailableCluster(asmfake.Cluster{VpcID: "vpc-other"})
	cl, err := f.client.AttachCluster(testContext(t), f.mesh.ID, elsewhere.ID)
	if cl != nil || !HasCode(err, f.fake.UndocumentedCode(asmfake.RefusalVpcMismatch)) {
		t.Errorf("got %+v, %v; want the service's refusal and no cluster", cl, err)
	}

	f.fake.InjectFault("AddClusterIntoServiceMesh", asmfake.Fault{Code: asmfake.CodeForbiddenRAM})
	cl, err = f.client.AttachCluster(testContext(t), f.mesh.ID, f.cluster.ID)
	if cl != nil || !IsPermissionDenied(err) || !strings.Contains(err.Error(), "RAM permission servicemesh:AddClusterIntoServiceMesh") {
		t.Errorf("got %+v, %v; want a permission error naming servicemesh:AddClusterIntoServiceMesh", cl, err)
	}
	if got := f.fake.ClustersInMesh(f.mesh.ID); len(got) != 0 {
		t.Errorf("refused adds changed the mesh: %+v", got)
	}

	broken := f.fake.AddMesh(asmfake.Mesh{})
	if err := f.fake.SetMeshState(broken.ID, asmfake.MeshUpdatingFailed, "pilot crashed"); err != nil {
		t.Fatal(err)
	}
	var notRunning *MeshNotRunningError
	if _, err := f.client.AttachCluster(testContext(t), broken.ID, f.cluster.ID); !errors.As(err, &notRunning) ||
		!strings.Contains(err.Error(), "pilot crashed") {
		t.Errorf("got %v; want the failed mesh's state and message", err)
	}
}

func TestAttachTimeoutLeavesCluster(t *testing.T) {
	f := newFixture(t, asmfake.Options{AttachDelay: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()

	cl, err := f.client.AttachCluster(ctx, f.mesh.ID, f.cluster.ID)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last state: starting") {
		t.Fatalf("got %v, want a timeout naming the last state", err)
	}
	if cl == nil || cl.State != ClusterStarting {
		t.Errorf("last seen cluster = %+v, want it starting", cl)
	}
	if got := f.fake.ClustersInMesh(f.mesh.ID); len(got) != 1 {
		t.Errorf("a timed-out attachment must stay for the caller to track: %+v", got)
	}
}

func TestAttachReadsPastTransientErrors(t *testing.T) {
	f := newFixture(t, asmfake.Options{AttachDelay: 50 * time.Millisecond})
	f.client.maxRetries = 1
	// More consecutive 503s than one call retries: the wait must read past them.
	f.fake.InjectFault("DescribeClustersInServiceMesh", asmfake.Fault{Code: asmfake.CodeServiceUnavailable, Times: 5})

	cl, err := f.client.AttachCluster(testContext(t), f.mesh.ID, f.cluster.ID)
	if err != nil || cl.State != ClusterRunning {
		t.Fatalf("got %+v, %v; want the cluster running despite 503s while waiting", cl, err)
	}
}

func TestChangesAreSerializedPerMesh(t *testing.T) {
	const delay = 300 * time.Millisecond
	f := newFixture(t, asmfake.Options{AttachDelay: delay})
	second := f.fake.AddAvailableCluster(asmfake.Cluster{})
	otherMesh := f.fake.AddMesh(asmfake.Mesh{})
	third := f.fake.AddAvailableCluster(asmfake.Cluster{})
	ctx := testContext(t)

	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for _, target := range []struct{ mesh, cluster string }{
		{f.mesh.ID, f.cluster.ID}, {f.mesh.ID, second.ID}, {otherMesh.ID, third.ID},
	} {
		wg.Go(func() {
			_, err := f.client.AttachCluster(ctx, target.mesh, target.cluster)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	adds := map[string][]time.Time{}
	for _, r := range f.fake.Requests() {
		if r.Action == "AddClusterIntoServiceMesh" {
			adds[r.Params["ServiceMeshId"]] = append(adds[r.Params["ServiceMeshId"]], r.Time)
		}
	}
	same := adds[f.mesh.ID]
	if len(same) != 2 || same[1].Sub(same[0]) < delay {
		t.Errorf("adds to one mesh at %v: the second must wait until the first cluster is running", same)
	}
	if other := adds[otherMesh.ID]; len(other) != 1 || !other[0].Before(same[1]) {
		t.Errorf("an add to another mesh at %v waited for mesh %s (adds at %v)", other, f.mesh.ID, same)
	}
}

func TestMeshLockHonorsContext(t *testing.T) {
	f := newFixture(t, asmfake.Options{})
	unlock, err := f.client.lockMesh(testContext(t), f.mesh.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := f.client.AttachCluster(ctx, f.mesh.ID, f.cluster.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want a timeout while another change holds the mesh", err)
	}
	if got := f.fake.CountRequests("AddClusterIntoServiceMesh"); got != 0 {
		t.Errorf("add was sent while another change held the mesh")
	}
}

func TestConcurrentCallsShareClientSafely(t *testing.T) {
	f := newFixture(t, asmfake.Options{})
	ctx := testContext(t)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := f.client.DescribeMesh(ctx, f.mesh.ID); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
