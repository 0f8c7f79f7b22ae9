package kube

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestProblems(t *testing.T) {
	waiting := func(name, reason, message string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}}
	}
	cases := map[string]struct {
		status corev1.PodStatus
		want   []PodProblem
	}{
		"creating is progress": {
			status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{waiting("mlserver", "ContainerCreating", "")}},
		},
		"running and ready": {
			status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
		},
		// The kubelet's texts (pkg/kubelet/images/image_manager.go, kuberuntime_manager.go).
		"image pull back-off": {
			status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
				waiting("mm", "ContainerCreating", ""), waiting("mlserver", "ImagePullBackOff", `Back-off pulling image "x:1"`),
			}},
			want: []PodProblem{{Pod: "p", Container: "mlserver", Reason: "ImagePullBackOff", Message: `Back-off pulling image "x:1"`}},
		},
		"crash loop with the last exit": {
			status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
				Name: "mlserver", RestartCount: 3,
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}},
			}}},
			want: []PodProblem{{Pod: "p", Container: "mlserver", Reason: "CrashLoopBackOff",
				Message: "back-off 40s restarting failed container (last exit code 1, Error; 3 restarts)"}},
		},
		"missing Secret in an init container": {
			status: corev1.PodStatus{InitContainerStatuses: []corev1.ContainerStatus{waiting("init", "CreateContainerConfigError", `secret "s" not found`)}},
			want:   []PodProblem{{Pod: "p", Container: "init", Reason: "CreateContainerConfigError", Message: `secret "s" not found`}},
		},
		"unschedulable": {
			status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
				Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/2 nodes are available",
			}}},
			want: []PodProblem{{Pod: "p", Reason: "Unschedulable", Message: "0/2 nodes are available"}},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: c.status}
			if got := Problems(pod); !reflect.DeepEqual(got, c.want) {
				t.Errorf("Problems = %+v, want %+v", got, c.want)
			}
		})
	}
}

// The kubelet reports every container of a Pod whose volumes are not mounted yet as waiting in
// ContainerCreating (PodInitializing behind init containers); only then do its events decide.
func TestContainersCreating(t *testing.T) {
	waiting := func(reason string) corev1.ContainerStatus {
		return corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
	}
	cases := map[string]struct {
		pod  corev1.Pod
		want bool
	}{
		"not scheduled": {pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}},
		"all creating": {want: true, pod: corev1.Pod{Spec: corev1.PodSpec{NodeName: "n"}, Status: corev1.PodStatus{
			Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{waiting("ContainerCreating"), waiting("ContainerCreating")},
		}}},
		"behind init containers": {want: true, pod: corev1.Pod{Spec: corev1.PodSpec{NodeName: "n"}, Status: corev1.PodStatus{
			Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{waiting("PodInitializing")},
			ContainerStatuses: []corev1.ContainerStatus{waiting("PodInitializing")},
		}}},
		"one container pulling": {pod: corev1.Pod{Spec: corev1.PodSpec{NodeName: "n"}, Status: corev1.PodStatus{
			Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{waiting("ContainerCreating"), waiting("ErrImagePull")},
		}}},
		"running": {pod: corev1.Pod{Spec: corev1.PodSpec{NodeName: "n"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}},
	}
	for name, c := range cases {
		if got := containersCreating(&c.pod); got != c.want {
			t.Errorf("%s: containersCreating = %v, want %v", name, got, c.want)
		}
	}
}
