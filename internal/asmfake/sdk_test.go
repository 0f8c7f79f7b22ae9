package asmfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/servicemesh"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
)

const (
	region    = "cn-hangzhou"
	accessKey = "LTAI5tAsmFakeTestKey01"
	secret    = "asmfake-test-secret"
)

func startFake(t *testing.T, opts asmfake.Options) *asmfake.Server {
	t.Helper()
	srv := asmfake.New(opts)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	srv.AddCredential(asmfake.Credential{AccessKeyID: accessKey, AccessKeySecret: secret})
	return srv
}

func newClient(t *testing.T, srv *asmfake.Server, credential auth.Credential) *servicemesh.Client {
	t.Helper()
	return newClientWithConfig(t, srv, credential, sdk.NewConfig().WithScheme("HTTP").WithAutoRetry(false))
}

func newClientWithConfig(t *testing.T, srv *asmfake.Server, credential auth.Credential, config *sdk.Config) *servicemesh.Client {
	t.Helper()
	client, err := servicemesh.NewClientWithOptions(region, config, credential)
	if err != nil {
		t.Fatal(err)
	}
	// client.Domain takes precedence over every endpoint lookup (sdk/client.go buildRequestWithSigner).
	client.Domain = srv.Endpoint()
	return client
}

func goodClient(t *testing.T, srv *asmfake.Server) *servicemesh.Client {
	return newClient(t, srv, credentials.NewAccessKeyCredential(accessKey, secret))
}

func describeMesh(client *servicemesh.Client, meshID string) (*servicemesh.DescribeServiceMeshDetailResponse, error) {
	request := servicemesh.CreateDescribeServiceMeshDetailRequest()
	request.ServiceMeshId = meshID
	return client.DescribeServiceMeshDetail(request)
}

func describeClusters(t *testing.T, client *servicemesh.Client, meshID string) []servicemesh.Cluster {
	t.Helper()
	request := servicemesh.CreateDescribeClustersInServiceMeshRequest()
	request.ServiceMeshId = meshID
	response, err := client.DescribeClustersInServiceMesh(request)
	if err != nil {
		t.Fatal(err)
	}
	return response.Clusters
}

func addCluster(client *servicemesh.Client, meshID, clusterID string) error {
	request := servicemesh.CreateAddClusterIntoServiceMeshRequest()
	request.ServiceMeshId, request.ClusterId = meshID, clusterID
	_, err := client.AddClusterIntoServiceMesh(request)
	return err
}

func removeCluster(client *servicemesh.Client, meshID, clusterID string) error {
	request := servicemesh.CreateRemoveClusterFromServiceMeshRequest()
	request.ServiceMeshId, request.ClusterId = meshID, clusterID
	_, err := client.RemoveClusterFromServiceMesh(request)
	return err
}

// wantServerError fails unless err is the SDK's ServerError with this code and status.
func wantServerError(t *testing.T, err error, code string, status int) {
	t.Helper()
	_ = serverError(t, err, code, status) // checked by serverError; only callers that inspect it need it
}

// serverError is wantServerError returning the ServerError, for callers that check more of it.
func serverError(t *testing.T, err error, code string, status int) *sdkerrors.ServerError {
	t.Helper()
	serverErr, ok := err.(*sdkerrors.ServerError)
	if !ok {
		t.Fatalf("want ServerError %s, got %T: %v", code, err, err)
	}
	if serverErr.ErrorCode() != code || serverErr.HttpStatus() != status {
		t.Fatalf("want %d %s, got %d %s: %s", status, code, serverErr.HttpStatus(), serverErr.ErrorCode(), serverErr.Message())
	}
	if serverErr.RequestId() == "" {
		t.Errorf("error has no RequestId")
	}
	return serverErr
}

// waitFor polls until cond holds. Its bound is far beyond the delays these tests configure, so a
// busy machine cannot fail it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 30*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil }); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func clusterState(t *testing.T, client *servicemesh.Client, meshID, clusterID string) (servicemesh.Cluster, bool) {
	t.Helper()
	for _, c := range describeClusters(t, client, meshID) {
		if c.ClusterId == clusterID {
			return c, true
		}
	}
	return servicemesh.Cluster{}, false
}

var requestIDPattern = regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)

func TestDescribeServiceMeshDetailWithRightSecret(t *testing.T) {
	srv := startFake(t, asmfake.Options{})
	mesh := srv.AddMesh(asmfake.Mesh{
		Name:      "modelmesh",
		Version:   "v1.17.2.42-gf7619883-aliyun",
		VSwitches: []string{"vsw-a", "vsw-b"},
		Endpoints: asmfake.Endpoints{PublicAPIServer: "https://47.1.2.3:6443"},
	})
	cluster := srv.AddAvailableCluster(asmfake.Cluster{})
	if err := srv.AttachClusterOutOfBand(mesh.ID, cluster.ID); err != nil {
		t.Fatal(err)
	}
	client := goodClient(t, srv)

	first, err := describeMesh(client, mesh.ID)
	if err != nil {
		t.Fatal(err)
	}
	info := first.ServiceMesh.ServiceMeshInfo
	if info.ServiceMeshId != mesh.ID || info.Name != "modelmesh" || info.State != asmfake.MeshRunning ||
		info.Version != "v1.17.2.42-gf7619883-aliyun" || info.RegionId != asmfake.DefaultRegionID {
		t.Errorf("ServiceMeshInfo = %+v", info)
	}
	if _, err := time.Parse(time.RFC3339, info.CreationTime); err != nil {
		t.Errorf("CreationTime %q: %v", info.CreationTime, err)
	}
	network := first.ServiceMesh.Spec.Network
	if network.VpcId != asmfake.DefaultVpcID || strings.Join(network.VSwitches, ",") != "vsw-a,vsw-b" || network.SecurityGroupId == "" {
		t.Errorf("Network = %+v", network)
	}
	if got := first.ServiceMesh.Clusters; len(got) != 1 || got[0] != cluster.ID {
		t.Errorf("Clusters = %v, want [%s]", got, cluster.ID)
	}
	endpoints := first.ServiceMesh.Endpoints
	if endpoints.PublicApiServerEndpoint != "https://47.1.2.3:6443" || endpoints.IntranetApiServerEndpoint == "" {
		t.Errorf("Endpoints = %+v", endpoints)
	}
	if !first.ServiceMesh.Spec.LoadBalancer.ApiServerPublicEip {
		t.Errorf("a mesh with a public API server endpoint should report ApiServerPublicEip")
	}

	second, err := describeMesh(client, mesh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !requestIDPattern.MatchString(first.RequestId) || first.RequestId == second.RequestId {
		t.Errorf("RequestIds %q, %q: want distinct upper-case UUIDs", first.RequestId, second.RequestId)
	}
	requests := srv.Requests()
	if len(requests) != 2 || requests[0].Method != http.MethodPost || requests[0].Status != http.StatusOK ||
		requests[0].Params["ServiceMeshId"] != mesh.ID {
		t.Errorf("recorded %+v", requests)
	}
}

func TestDescribeServiceMeshesListsEveryMeshOverGET(t *testing.T) {
	srv := startFake(t, asmfake.Options{})
	older := srv.AddMesh(asmfake.Mesh{Name: "older", CreationTime: time.Now().Add(-time.Hour)})
	newer := srv.AddMesh(asmfake.Mesh{Name: "newer"})

	response, err := goodClient(t, srv).DescribeServiceMeshes(servicemesh.CreateDescribeServiceMeshesRequest())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range response.ServiceMeshes {
		ids = append(ids, m.ServiceMeshInfo.ServiceMeshId)
	}
	if strings.Join(ids, ",") != older.ID+","+newer.ID {
		t.Errorf("listed %v, want [%s %s]", ids, older.ID, newer.ID)
	}
	if got := srv.Requests()[0].Method; got != http.MethodGet {
		t.Errorf("DescribeServiceMeshes came as %s, want GET", got)
	}
}

func TestWrongSecretIsSignatureDoesNotMatch(t *testing.T) {
	srv := startFake(t, asmfake.Options{})
	mesh := srv.AddMesh(asmfake.Mesh{})
	client := newClient(t, srv, credentials.NewAccessKeyCredential(accessKey, "not-the-secret"))

	_, err := describeMesh(client, mesh.ID)
	serverErr := serverError(t, err, asmfake.CodeSignatureDoesNotMatch, http.StatusBadRequest)
	if !strings.Contains(serverErr.Message(), "server string to sign is:POST&%2F&") {
		t.Errorf("Message = %q, want the server's string to sign", serverErr.Message())
	}
	// The SDK recognises a wrong secret only when the server's string to sign equals its own.
	if !strings.Contains(serverErr.Recommend(), "InvalidAccessKeySecret") {
		t.Errorf("Recommend = %q, want the SDK's wrong-secret explanation", serverErr.Recommend())
	}
}

func TestUnknownAccessKeyIsNotFound(t *testing.T) {
	srv := startFake(t, asmfake.Options{})
	mesh := srv.AddMesh(asmfake.Mesh{})
	client := newClient(t, srv, credentials.NewAccessKeyCredential("LTAI5tUnknown", secret))

	_, err := describeMesh(client, mesh.ID)
	wantServerError(t, err, asmfake.CodeAccessKeyNotFound, http.StatusNotFound)
}

func TestSTSCredential(t *testing.T) {
	srv := startFake(t, asmfake.Options{})
	mesh := srv.AddMesh(asmfake.Mesh{})
	srv.AddCredential(asmfake.Credential{AccessKeyID: "STS.live", AccessKeySecret: "sts-secret", SecurityToken: "token-1"})
	srv.AddCredential(asmfake.Credential{AccessKeyID: "STS.old", AccessKeySecret: "sts-secret", SecurityToken: "token-2",
		Expiration: time.Now().Add(-time.Minute)})

	t.Run("right token", func(t *testing.T) {
		client := newClient(t, srv, credentials.NewStsTokenCredential("STS.live", "sts-secret", "token-1"))
		if _, err := describeMesh(client, mesh.ID); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		client := newClient(t, srv, credentials.NewStsTokenCredential("STS.live", "sts-secret", "token-x"))
		_, err := describeMesh(client, mesh.ID)
		wantServerError(t, err, asmfake.CodeSecurityTokenMismatch, http.StatusBadRequest)
	})
	t.Run("no token", func(t *testing.T) {
		client := newClient(t, srv, credentials.NewAccessKeyCredential("STS.live", "sts-secret"))
		_, err := describeMesh(client, mesh.ID)
		wantServerError(t, err, asmfake.CodeMissingSecurityToken, http.StatusBadRequest)
	})
	t.Run("expired token", func(t *testing.T) {
		client := newClient(t, srv, credentials.NewStsTokenCredential("STS.old", "sts-secret", "token-2"))
		_, err := describeMesh(client, mesh.ID)
		wantServerError(t, err, asmfake.CodeSecurityTokenExpired, http.StatusBadRequest)
	})
}

func TestUnknownMeshIsNotFound(t *testing.T) {
	srv := startFake(t, asmfake.Options{})
	_, err := describeMesh(goodClient(t, srv), "c0000000000000000000000000000dead")
	serverErr := serverError(t, err, asmfake.CodeServiceMeshNotFound, http.StatusNotFound)
	if !strings.Contains(serverErr.Message(), "c0000000000000000000000000000dead") {
		t.Errorf("Message = %q, want the mesh ID", serverErr.Message())
	}
}

func TestMissingServiceMeshIdIsMissingParameter(t *testing.T) {
	srv := startFake(t, asmfake.Options{})
	_, err := describeMesh(goodClient(t, srv), "")
	serverErr := serverError(t, err, asmfake.CodeMissingParameter, http.StatusBadRequest)
	if !strings.Contains(serverErr.Message(), `"ServiceMeshId"`) {
		t.Errorf("Message = %q, want the parameter's name", serverErr.Message())
	}
}

func TestUnknownActionAndVersion(t *testing.T) {
	srv := startFake(t, asmfake.Options{})
	client := goodClient(t, srv)
	common := func(action, version string) error {
		request := requests.NewCommonRequest()
		request.Product, request.Domain, request.Scheme = "servicemesh", srv.Endpoint(), "HTTP"
		request.ApiName, request.Version = action, version
		_, err := client.ProcessCommonRequest(request)
		return err
	}
	wantServerError(t, common("CreateServiceMesh", "2020-01-11"), asmfake.CodeInvalidAction, http.StatusNotFound)
	wantServerError(t, common("DescribeServiceMeshes", "2019-01-01"), asmfake.CodeInvalidVersion, http.StatusBadRequest)
}

func TestInjectedThrottlingThenSuccess(t *testing.T) {
	srv := startFake(t, asmfake.Options{})
	mesh := srv.AddMesh(asmfake.Mesh{})
	client := goodClient(t, srv)
	srv.InjectFault("DescribeServiceMeshDetail", asmfake.Fault{Code: asmfake.CodeThrottlingUser, Times: 2})

	for i := 0; i < 2; i++ {
		_, err := describeMesh(client, mesh.ID)
		serverErr := serverError(t, err, asmfake.CodeThrottlingUser, http.StatusBadRequest)
		if serverErr.Message() != "Request was denied due to user flow control." {
			t.Errorf("Message = %q", serverErr.Message())
		}
	}
	if _, err := describeMesh(client, mesh.ID); err != nil {
		t.Fatalf("third call after two injected throttles: %v", err)
	}
	if n := srv.CountRequests("DescribeServiceMeshDetail"); n != 3 {
		t.Errorf("CountRequests = %d, want 3", n)
	}
	var codes []string
	for _, r := range srv.Requests() {
		codes = append(codes, r.Code)
	}
	if strings.Join(codes, ",") != "Throttling.User,Throttling.User," {
		t.Errorf("recorded codes %q", codes)
	}
}

// The SDK's AutoRetry resends only on 5xx, which is why throttling (400) is the caller's to retry.
func TestServiceUnavailableIsRetriedBySDKAutoRetry(t *testing.T) {
	srv := startFake(t, asmfake.Options{})
	mesh := srv.AddMesh(asmfake.Mesh{})
	client := newClientWithConfig(t, srv, credentials.NewAccessKeyCredential(accessKey, secret),
		sdk.NewConfig().WithScheme("HTTP").WithAutoRetry(true).WithMaxRetryTime(3))
	srv.InjectFault("DescribeServiceMeshDetail", asmfake.Fault{Code: asmfake.CodeServiceUnavailable, Times: 2})

	if _, err := describeMesh(client, mesh.ID); err != nil {
		t.Fatalf("AutoRetry should outlast two 503s: %v", err)
	}
	requests := srv.Requests()
	if len(requests) != 3 || requests[0].Status != http.StatusServiceUnavailable || requests[2].Status != http.StatusOK {
		t.Errorf("recorded %+v", requests)
	}
}

func TestInjectedFaultWithCustomStatusAndLatency(t *testing.T) {
	srv := startFake(t, asmfake.Options{})
	mesh := srv.AddMesh(asmfake.Mesh{})
	client := goodClient(t, srv)
	srv.InjectFault("DescribeServiceMeshDetail", asmfake.Fault{Latency: 150 * time.Millisecond, Times: 1})
	srv.InjectFault("DescribeServiceMeshDetail", asmfake.Fault{Code: asmfake.CodeRejectedThrottling, HTTPStatus: http.StatusServiceUnavailable})

	start := time.Now()
	if _, err := describeMesh(client, mesh.ID); err != nil {
		t.Fatalf("a latency-only fault should still serve the call: %v", err)
	}
	if elapsed := time.Since(start); elapsed < 150*time.Millisecond {
		t.Errorf("answered after %v, want at least the injected 150ms", elapsed)
	}
	for i := 0; i < 3; i++ {
		_, err := describeMesh(client, mesh.ID)
		wantServerError(t, err, asmfake.CodeRejectedThrottling, http.StatusServiceUnavailable)
	}
	srv.ClearFaults()
	if _, err := describeMesh(client, mesh.ID); err != nil {
		t.Fatalf("after ClearFaults: %v", err)
	}
}

func TestClientGivingUpDuringLatencyChangesNothing(t *testing.T) {
	srv := startFake(t, asmfake.Options{})
	mesh := srv.AddMesh(asmfake.Mesh{})
	cluster := srv.AddAvailableCluster(asmfake.Cluster{})
	client := newClientWithConfig(t, srv, credentials.NewAccessKeyCredential(accessKey, secret),
		// The request must reach the fake before the client gives up, even on a busy machine.
		sdk.NewConfig().WithScheme("HTTP").WithAutoRetry(false).WithTimeout(time.Second))
	srv.InjectFault("AddClusterIntoServiceMesh", asmfake.Fault{Latency: 4 * time.Second})

	if err := addCluster(client, mesh.ID, cluster.ID); err == nil {
		t.Fatal("the client should have timed out")
	}
	waitFor(t, "the abandoned call to be recorded", func() bool { return srv.CountRequests("AddClusterIntoServiceMesh") == 1 })
	if got := srv.Requests()[0].Status; got != 499 {
		t.Errorf("abandoned call recorded with status %d, want 499", got)
	}
	if members := srv.ClustersInMesh(mesh.ID); len(members) != 0 {
		t.Errorf("abandoned add changed the mesh: %+v", members)
	}
}

// transitionDelay is how long the fake keeps a transitional state in tests that look at it right
// after the call that started it: long enough that a busy machine cannot skip past it.
const transitionDelay = 3 * time.Second

func TestAddClusterStartsThenRuns(t *testing.T) {
	const delay = transitionDelay
	srv := startFake(t, asmfake.Options{AttachDelay: delay})
	mesh := srv.AddMesh(asmfake.Mesh{})
	cluster := srv.AddAvailableCluster(asmfake.Cluster{Name: "workload", KubernetesVersion: "1.31.1-aliyun.1"})
	client := goodClient(t, srv)

	added := time.Now()
	if err := addCluster(client, mesh.ID, cluster.ID); err != nil {
		t.Fatal(err)
	}
	got, ok := clusterState(t, client, mesh.ID, cluster.ID)
	if !ok || got.State != asmfake.ClusterStarting {
		t.Fatalf("right after adding: %+v (found %v), want starting", got, ok)
	}
	if got.Name != "workload" || got.ClusterType != "ManagedKubernetes" || got.Version != "1.31.1-aliyun.1" ||
		got.VpcId != asmfake.DefaultVpcID || got.SgId == "" || got.ClusterDomain != "cluster.local" {
		t.Errorf("cluster = %+v", got)
	}
	detail, err := describeMesh(client, mesh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(detail.ServiceMesh.Clusters) != 1 || detail.ServiceMesh.Clusters[0] != cluster.ID {
		t.Errorf("mesh Clusters = %v while starting", detail.ServiceMesh.Clusters)
	}

	waitFor(t, "cluster running", func() bool {
		got, _ = clusterState(t, client, mesh.ID, cluster.ID)
		return got.State == asmfake.ClusterRunning
	})
	if elapsed := time.Since(added); elapsed < delay {
		t.Errorf("running after %v, before the %v attach delay", elapsed, delay)
	}
	if members := srv.ClustersInMesh(mesh.ID); len(members) != 1 || members[0].State != asmfake.ClusterRunning {
		t.Errorf("ClustersInMesh = %+v", members)
	}
}

func TestAddClusterConfiguredToFailEndsFailed(t *testing.T) {
	srv := startFake(t, asmfake.Options{AttachDelay: 50 * time.Millisecond})
	mesh := srv.AddMesh(asmfake.Mesh{})
	cluster := srv.AddAvailableCluster(asmfake.Cluster{AttachError: "install istio-cni: timeout"})
	client := goodClient(t, srv)

	if err := addCluster(client, mesh.ID, cluster.ID); err != nil {
		t.Fatal(err)
	}
	var got servicemesh.Cluster
	waitFor(t, "cluster to leave starting", func() bool {
		got, _ = clusterState(t, client, mesh.ID, cluster.ID)
		return got.State != asmfake.ClusterStarting
	})
	if got.State != asmfake.ClusterFailed || got.ErrorMessage != "install istio-cni: timeout" {
		t.Errorf("cluster = %+v, want failed with the configured ErrorMessage", got)
	}
}

func TestAddClusterRefusals(t *testing.T) {
	srv := startFake(t, asmfake.Options{})
	mesh := srv.AddMesh(asmfake.Mesh{})
	otherMesh := srv.AddMesh(asmfake.Mesh{})
	initialMesh := srv.AddMesh(asmfake.Mesh{State: asmfake.MeshInitial})
	upgradingMesh := srv.AddMesh(asmfake.Mesh{State: asmfake.MeshUpgrading})
	member := srv.AddAvailableCluster(asmfake.Cluster{})
	free := srv.AddAvailableCluster(asmfake.Cluster{})
	elsewhere := srv.AddAvailableCluster(asmfake.Cluster{VpcID: "vpc-other"})
	if err := srv.AttachClusterOutOfBand(mesh.ID, member.ID); err != nil {
		t.Fatal(err)
	}
	client := goodClient(t, srv)

	for _, tc := range []struct {
		name, meshID, clusterID, code string
		status                        int
	}{
		{"unknown cluster", mesh.ID, "cdoesnotexist", asmfake.CodeNotFound, http.StatusNotFound},
		{"already in this mesh", mesh.ID, member.ID, srv.UndocumentedCode(asmfake.RefusalClusterInMesh), http.StatusBadRequest},
		{"already in another mesh", otherMesh.ID, member.ID, srv.UndocumentedCode(asmfake.RefusalClusterInMesh), http.StatusBadRequest},
		{"other VPC", mesh.ID, elsewhere.ID, srv.UndocumentedCode(asmfake.RefusalVpcMismatch), http.StatusBadRequest},
		{"unknown mesh", "cnomesh", free.ID, asmfake.CodeServiceMeshNotFound, http.StatusNotFound},
		{"mesh initializing", initialMesh.ID, free.ID, asmfake.CodeStillInitializing, http.StatusBadRequest},
		{"mesh upgrading", upgradingMesh.ID, free.ID, srv.UndocumentedCode(asmfake.RefusalMeshBusy), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantServerError(t, addCluster(client, tc.meshID, tc.clusterID), tc.code, tc.status)
		})
	}
	if n := len(srv.ClustersInMesh(mesh.ID)) + len(srv.ClustersInMesh(otherMesh.ID)); n != 1 {
		t.Errorf("refused adds changed membership: %d members in all", n)
	}
}

func TestRemoveClusterStopsThenLeaves(t *testing.T) {
	const delay = transitionDelay
	srv := startFake(t, asmfake.Options{DetachDelay: delay})
	mesh := srv.AddMesh(asmfake.Mesh{})
	cluster := srv.AddAvailableCluster(asmfake.Cluster{})
	if err := srv.AttachClusterOutOfBand(mesh.ID, cluster.ID); err != nil {
		t.Fatal(err)
	}
	client := goodClient(t, srv)

	removed := time.Now()
	if err := removeCluster(client, mesh.ID, cluster.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := clusterState(t, client, mesh.ID, cluster.ID); got.State != asmfake.ClusterStopping {
		t.Fatalf("right after removing: %+v, want stopping", got)
	}
	// The mesh is busy with the removal: asking again is refused, with a code ASM does not document.
	wantServerError(t, removeCluster(client, mesh.ID, cluster.ID), srv.UndocumentedCode(asmfake.RefusalMeshBusy), http.StatusBadRequest)
	waitFor(t, "cluster to leave the mesh", func() bool {
		_, present := clusterState(t, client, mesh.ID, cluster.ID)
		return !present
	})
	if elapsed := time.Since(removed); elapsed < delay {
		t.Errorf("gone after %v, before the %v detach delay", elapsed, delay)
	}
	detail, err := describeMesh(client, mesh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(detail.ServiceMesh.Clusters) != 0 {
		t.Errorf("mesh Clusters = %v after removal", detail.ServiceMesh.Clusters)
	}
	wantServerError(t, removeCluster(client, mesh.ID, cluster.ID), asmfake.CodeNotFound, http.StatusNotFound)
	// Once gone, the cluster can join again.
	if err := addCluster(client, mesh.ID, cluster.ID); err != nil {
		t.Errorf("re-adding a removed cluster: %v", err)
	}
}

func meshState(t *testing.T, client *servicemesh.Client, meshID string) string {
	t.Helper()
	detail, err := describeMesh(client, meshID)
	if err != nil {
		t.Fatal(err)
	}
	return detail.ServiceMesh.ServiceMeshInfo.State
}

// TestMeshIsUpdatingWhileClusterJoins: the mesh stays busy past its cluster's own transition and
// refuses other changes meanwhile.
func TestMeshIsUpdatingWhileClusterJoins(t *testing.T) {
	srv := startFake(t, asmfake.Options{AttachDelay: 20 * time.Millisecond, MeshUpdateDelay: time.Hour})
	mesh := srv.AddMesh(asmfake.Mesh{})
	cluster := srv.AddAvailableCluster(asmfake.Cluster{})
	other := srv.AddAvailableCluster(asmfake.Cluster{})
	member := srv.AddAvailableCluster(asmfake.Cluster{})
	if err := srv.AttachClusterOutOfBand(mesh.ID, member.ID); err != nil {
		t.Fatal(err)
	}
	client := goodClient(t, srv)

	if err := addCluster(client, mesh.ID, cluster.ID); err != nil {
		t.Fatal(err)
	}
	if got := meshState(t, client, mesh.ID); got != asmfake.MeshUpdating {
		t.Fatalf("mesh right after adding a cluster is %q, want updating", got)
	}
	waitFor(t, "cluster running", func() bool {
		got, _ := clusterState(t, client, mesh.ID, cluster.ID)
		return got.State == asmfake.ClusterRunning
	})
	if got := meshState(t, client, mesh.ID); got != asmfake.MeshUpdating {
		t.Errorf("mesh once its new cluster runs is %q, want still updating", got)
	}
	busy := srv.UndocumentedCode(asmfake.RefusalMeshBusy)
	wantServerError(t, addCluster(client, mesh.ID, other.ID), busy, http.StatusBadRequest)
	wantServerError(t, removeCluster(client, mesh.ID, member.ID), busy, http.StatusBadRequest)
	if got := srv.ClustersInMesh(mesh.ID); len(got) != 2 || got[0].State != asmfake.ClusterRunning {
		t.Errorf("refused changes changed the mesh: %+v", got)
	}
}

func TestMeshIsRunningAgainAfterClusterChanges(t *testing.T) {
	// The mesh stays updating for 2 s, so a busy machine cannot skip past the read that looks for it
	// (failed with 20 ms under -race on a loaded machine).
	srv := startFake(t, asmfake.Options{AttachDelay: 20 * time.Millisecond, DetachDelay: 20 * time.Millisecond,
		MeshUpdateDelay: 2 * time.Second})
	mesh := srv.AddMesh(asmfake.Mesh{})
	cluster := srv.AddAvailableCluster(asmfake.Cluster{})
	client := goodClient(t, srv)
	for _, change := range []func(*servicemesh.Client, string, string) error{addCluster, removeCluster} {
		if err := change(client, mesh.ID, cluster.ID); err != nil {
			t.Fatal(err)
		}
		if got := meshState(t, client, mesh.ID); got != asmfake.MeshUpdating {
			t.Errorf("mesh right after a change is %q, want updating", got)
		}
		waitFor(t, "mesh running again", func() bool { return meshState(t, client, mesh.ID) == asmfake.MeshRunning })
	}
	if got := srv.ClustersInMesh(mesh.ID); len(got) != 0 {
		t.Errorf("cluster still in the mesh after add and remove: %+v", got)
	}

	if err := srv.BusyMesh(mesh.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	wantServerError(t, addCluster(client, mesh.ID, cluster.ID), srv.UndocumentedCode(asmfake.RefusalMeshBusy), http.StatusBadRequest)
}

func TestLostAnswerCarriesTheActionOut(t *testing.T) {
	srv := startFake(t, asmfake.Options{})
	mesh := srv.AddMesh(asmfake.Mesh{})
	cluster := srv.AddAvailableCluster(asmfake.Cluster{})
	second := srv.AddAvailableCluster(asmfake.Cluster{})
	client := goodClient(t, srv)

	srv.InjectFault("AddClusterIntoServiceMesh", asmfake.Fault{LoseAnswer: true, Times: 1})
	err := addCluster(client, mesh.ID, cluster.ID)
	if err == nil {
		t.Fatal("an add whose answer is lost returned no error")
	}
	if _, isServerError := err.(*sdkerrors.ServerError); isServerError {
		t.Errorf("a lost answer came back as a server answer: %v", err)
	}
	if got := srv.ClustersInMesh(mesh.ID); len(got) != 1 || got[0].ID != cluster.ID {
		t.Fatalf("the add was not carried out: %+v", got)
	}
	if r := srv.Requests()[0]; r.Status != 0 || !r.AnswerLost {
		t.Errorf("recorded %+v, want status 0 and AnswerLost", r)
	}
	// Repeating it is refused with a code nobody documented: the cluster is already there.
	waitFor(t, "mesh running", func() bool { return meshState(t, client, mesh.ID) == asmfake.MeshRunning })
	wantServerError(t, addCluster(client, mesh.ID, cluster.ID), srv.UndocumentedCode(asmfake.RefusalClusterInMesh), http.StatusBadRequest)

	// With a code, the gateway's answer replaces the lost one.
	srv.InjectFault("AddClusterIntoServiceMesh", asmfake.Fault{LoseAnswer: true, Code: asmfake.CodeServiceUnavailable, Times: 1})
	wantServerError(t, addCluster(client, mesh.ID, second.ID), asmfake.CodeServiceUnavailable, http.StatusServiceUnavailable)
	if got := srv.ClustersInMesh(mesh.ID); len(got) != 2 {
		t.Errorf("the add answered 503 was not carried out: %+v", got)
	}
}

func TestUndocumentedCodesDifferBetweenServers(t *testing.T) {
	a, b := asmfake.New(asmfake.Options{}), asmfake.New(asmfake.Options{})
	for _, r := range []asmfake.Refusal{asmfake.RefusalClusterInMesh, asmfake.RefusalMeshBusy, asmfake.RefusalVpcMismatch} {
		if a.UndocumentedCode(r) == "" || a.UndocumentedCode(r) == b.UndocumentedCode(r) {
			t.Errorf("%s: codes %q and %q, want a fresh code per server", r, a.UndocumentedCode(r), b.UndocumentedCode(r))
		}
	}
	if a.UndocumentedCode(asmfake.RefusalMeshBusy) == a.UndocumentedCode(asmfake.RefusalClusterInMesh) {
		t.Errorf("two refusals share a code")
	}
}

func TestStoppedCluster(t *testing.T) {
	srv := startFake(t, asmfake.Options{})
	mesh := srv.AddMesh(asmfake.Mesh{})
	cluster := srv.AddAvailableCluster(asmfake.Cluster{Stopped: true})
	client := goodClient(t, srv)
	if err := addCluster(client, mesh.ID, cluster.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := clusterState(t, client, mesh.ID, cluster.ID); got.State != asmfake.ClusterStopped {
		t.Errorf("a stopped cluster that joined shows %q, want stopped", got.State)
	}
	if err := srv.SetClusterStopped(cluster.ID, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := clusterState(t, client, mesh.ID, cluster.ID); got.State != asmfake.ClusterRunning {
		t.Errorf("a started cluster shows %q, want running", got.State)
	}
}

func TestOutOfBandChangesAreVisible(t *testing.T) {
	srv := startFake(t, asmfake.Options{})
	mesh := srv.AddMesh(asmfake.Mesh{})
	cluster := srv.AddAvailableCluster(asmfake.Cluster{})
	client := goodClient(t, srv)

	if err := srv.AttachClusterOutOfBand(mesh.ID, cluster.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := clusterState(t, client, mesh.ID, cluster.ID); got.State != asmfake.ClusterRunning {
		t.Errorf("attached out of band: %+v", got)
	}
	if err := srv.RemoveClusterOutOfBand(mesh.ID, cluster.ID); err != nil {
		t.Fatal(err)
	}
	if _, present := clusterState(t, client, mesh.ID, cluster.ID); present {
		t.Errorf("cluster still listed after RemoveClusterOutOfBand")
	}
	if err := srv.RemoveClusterOutOfBand(mesh.ID, cluster.ID); err == nil {
		t.Errorf("removing a cluster that is not in the mesh should fail")
	}
	if err := srv.SetMeshVersion(mesh.ID, "v1.23.0.1-gabcdef01-aliyun"); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetMeshState(mesh.ID, asmfake.MeshUpgradingFailed, "boom"); err != nil {
		t.Fatal(err)
	}
	detail, err := describeMesh(client, mesh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if info := detail.ServiceMesh.ServiceMeshInfo; info.Version != "v1.23.0.1-gabcdef01-aliyun" ||
		info.State != asmfake.MeshUpgradingFailed || info.ErrorMessage != "boom" {
		t.Errorf("ServiceMeshInfo = %+v", info)
	}
	if err := srv.DeleteMesh(mesh.ID); err != nil {
		t.Fatal(err)
	}
	_, err = describeMesh(client, mesh.ID)
	wantServerError(t, err, asmfake.CodeServiceMeshNotFound, http.StatusNotFound)
}

// capturingTransport keeps the last request the SDK sent, so a test can send it again verbatim.
type capturingTransport struct {
	mu     sync.Mutex
	method string
	url    string
	header http.Header
	body   []byte
}

func (c *capturingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.method, c.url, c.header, c.body = r.Method, r.URL.String(), r.Header.Clone(), body
	c.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	return http.DefaultTransport.RoundTrip(r)
}

func TestReusedNonceIsRefused(t *testing.T) {
	srv := startFake(t, asmfake.Options{})
	mesh := srv.AddMesh(asmfake.Mesh{})
	client := goodClient(t, srv)
	capture := &capturingTransport{}
	client.SetTransport(capture)

	if _, err := describeMesh(client, mesh.ID); err != nil {
		t.Fatal(err)
	}
	replay, err := http.NewRequest(capture.method, capture.url, bytes.NewReader(capture.body))
	if err != nil {
		t.Fatal(err)
	}
	replay.Header = capture.header
	response, err := http.DefaultClient.Do(replay)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = response.Body.Close() }() // the body is read in full; a close error cannot change the result
	var body struct{ RequestId, HostId, Code, Message, Recommend string }
	if err := json.NewDecoder(response.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if response.StatusCode != http.StatusBadRequest || body.Code != asmfake.CodeSignatureNonceUsed {
		t.Errorf("replayed request: %d %+v", response.StatusCode, body)
	}
	if body.RequestId == "" || body.HostId == "" || body.Message == "" || body.Recommend == "" {
		t.Errorf("error body lacks fields: %+v", body)
	}
}

func TestRecorder(t *testing.T) {
	srv := startFake(t, asmfake.Options{})
	mesh := srv.AddMesh(asmfake.Mesh{})
	cluster := srv.AddAvailableCluster(asmfake.Cluster{})
	client := goodClient(t, srv)

	if err := addCluster(client, mesh.ID, cluster.ID); err != nil {
		t.Fatal(err)
	}
	_, _ = describeMesh(client, "cmissing")
	_ = describeClusters(t, client, mesh.ID)

	if n := srv.CountRequests("AddClusterIntoServiceMesh"); n != 1 {
		t.Errorf("CountRequests(AddClusterIntoServiceMesh) = %d", n)
	}
	requests := srv.Requests()
	if len(requests) != 3 {
		t.Fatalf("recorded %d requests, want 3", len(requests))
	}
	add := requests[0]
	// ServiceMeshId and ClusterId travel in the form body for this action.
	if add.Params["ServiceMeshId"] != mesh.ID || add.Params["ClusterId"] != cluster.ID || add.Params["AccessKeyId"] != accessKey {
		t.Errorf("recorded params %v", add.Params)
	}
	if requests[1].Status != http.StatusNotFound || requests[1].Code != asmfake.CodeServiceMeshNotFound {
		t.Errorf("recorded failure %+v", requests[1])
	}
	requests[0].Params["ServiceMeshId"] = "changed"
	if srv.Requests()[0].Params["ServiceMeshId"] != mesh.ID {
		t.Errorf("Requests must return copies")
	}
	srv.ResetRequests()
	if len(srv.Requests()) != 0 || srv.CountRequests("DescribeClustersInServiceMesh") != 0 {
		t.Errorf("ResetRequests left requests behind")
	}
}

func TestConcurrentCalls(t *testing.T) {
	srv := startFake(t, asmfake.Options{AttachDelay: 20 * time.Millisecond})

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	meshes := make([]string, 8)
	for i := range meshes {
		// A mesh each: a mesh refuses a second change while it is updating.
		mesh := srv.AddMesh(asmfake.Mesh{})
		meshes[i] = mesh.ID
		cluster := srv.AddAvailableCluster(asmfake.Cluster{})
		// One SDK client per goroutine: sdk.Client rewrites its http.Client's timeout and dialer on
		// every call, so sharing one across goroutines is a data race in the SDK itself.
		client := goodClient(t, srv)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := addCluster(client, mesh.ID, cluster.ID); err != nil {
				errs <- err
			}
			for j := 0; j < 5; j++ {
				if _, err := describeMesh(client, mesh.ID); err != nil {
					errs <- err
				}
				_ = srv.ClustersInMesh(mesh.ID)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, id := range meshes {
		if n := len(srv.ClustersInMesh(id)); n != 1 {
			t.Errorf("%d clusters in mesh %s, want 1", n, id)
		}
	}
	if n := srv.CountRequests("DescribeServiceMeshDetail"); n != 40 {
		t.Errorf("CountRequests = %d, want 40", n)
	}
}
