package testcluster

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TestAPIServerRestart proves that a restarted apiserver keeps its address, certificates and data,
// so a client built before the stop works after the start, and that it really is down in between.
func TestAPIServerRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cluster, err := Start(ctx, Options{AssetsDir: sharedAssets})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.Stop(); err != nil {
			t.Error(err)
		}
	})
	clientset := kubernetes.NewForConfigOrDie(cluster.RESTConfig())
	namespaces := clientset.CoreV1().Namespaces()
	if _, err := namespaces.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kept"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := cluster.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	if _, err := namespaces.Get(ctx, "kept", metav1.GetOptions{}); !utilnet.IsConnectionRefused(err) {
		t.Errorf("while stopped: got %v, want connection refused", err)
	}
	if err := cluster.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	if _, err := namespaces.Get(ctx, "kept", metav1.GetOptions{}); err != nil {
		t.Errorf("after the restart: %v", err)
	}
}

func TestProxyInjectsAPIServerErrors(t *testing.T) {
	ctx := t.Context()
	var (
		mu        sync.Mutex // the proxy observes on its own goroutines
		forwarded []string
	)
	proxy, err := StartProxy(local.Cluster.RESTConfig(), func(r *http.Request, _ time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		forwarded = append(forwarded, r.Method+" "+r.URL.Path)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := proxy.Close(); err != nil {
			t.Error(err)
		}
	})
	cfg := &rest.Config{Host: proxy.URL}
	cfg.ContentType = "application/json"
	namespaces := kubernetes.NewForConfigOrDie(cfg).CoreV1().Namespaces()

	gets := func(r *http.Request) bool { return r.Method == http.MethodGet }
	for _, tc := range []struct {
		code int
		is   func(error) bool
	}{
		{http.StatusInternalServerError, apierrors.IsInternalError},
		{http.StatusServiceUnavailable, apierrors.IsServiceUnavailable},
		{http.StatusGatewayTimeout, apierrors.IsTimeout},
	} {
		fault := &Fault{Match: gets, Code: tc.code, Times: 1}
		proxy.Inject(fault)
		if _, err := namespaces.Get(ctx, ServingNamespace, metav1.GetOptions{}); !tc.is(err) {
			t.Errorf("fault %d: client-go got %v", tc.code, err)
		}
		if proxy.Served(fault) != 1 {
			t.Errorf("fault %d served %d times, want 1", tc.code, proxy.Served(fault))
		}
		if _, err := namespaces.Get(ctx, ServingNamespace, metav1.GetOptions{}); err != nil {
			t.Errorf("after the spent fault %d: %v", tc.code, err)
		}
	}

	// A 429 carries Retry-After, which client-go honours by itself: the caller sees only success.
	throttled := &Fault{Match: gets, Code: http.StatusTooManyRequests, Times: 2}
	proxy.Inject(throttled)
	if _, err := namespaces.Get(ctx, ServingNamespace, metav1.GetOptions{}); err != nil {
		t.Errorf("after two 429s: %v", err)
	}
	if proxy.Served(throttled) != 2 {
		t.Errorf("429 served %d times, want 2", proxy.Served(throttled))
	}
	// No wait: the proxy observes a request before the client gets its answer.
	mu.Lock()
	defer mu.Unlock()
	if len(forwarded) != 4 || !strings.HasSuffix(forwarded[0], "/namespaces/"+ServingNamespace) {
		t.Errorf("forwarded requests = %q, want the 4 GETs that were not failed", forwarded)
	}
}

// TestServiceAccountToken proves the minted tokens are real: the apiserver authenticates a current
// one as the service account and rejects the same token once expired, and nothing else differs.
func TestServiceAccountToken(t *testing.T) {
	ctx := t.Context()
	admin := kubernetes.NewForConfigOrDie(local.Cluster.RESTConfig())
	sa, err := admin.CoreV1().ServiceAccounts(ServingNamespace).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "token-test"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	whoAmI := func(expiry time.Time) (string, error) {
		token, err := local.Cluster.ServiceAccountToken(ServingNamespace, sa.Name, string(sa.UID), expiry)
		if err != nil {
			t.Fatal(err)
		}
		cfg := rest.AnonymousClientConfig(local.Cluster.RESTConfig())
		cfg.BearerToken = token
		review, err := kubernetes.NewForConfigOrDie(cfg).AuthenticationV1().SelfSubjectReviews().Create(ctx,
			&authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			return "", err
		}
		return review.Status.UserInfo.Username, nil
	}
	if user, err := whoAmI(time.Now().Add(time.Hour)); err != nil || user != "system:serviceaccount:"+ServingNamespace+":token-test" {
		t.Errorf("current token: user %q, err %v", user, err)
	}
	if _, err := whoAmI(time.Now().Add(-time.Minute)); !apierrors.IsUnauthorized(err) {
		t.Errorf("expired token: got %v, want 401 Unauthorized", err)
	}
}
