package asm

import (
	"context"
	"errors"
	"fmt"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/servicemesh"
	"github.com/hashicorp/terraform-plugin-log/tflog"
)

// ClusterInMeshError is a cluster that was already in the mesh before AttachCluster asked to add it.
type ClusterInMeshError struct {
	MeshID    string
	ClusterID string
	State     string
}

func (e *ClusterInMeshError) Error() string {
	return fmt.Sprintf("cluster %s is already in mesh %s (state: %s)", e.ClusterID, e.MeshID, e.State)
}

// ClusterFailedError is a cluster that ended in state "failed" while joining a mesh.
type ClusterFailedError struct {
	MeshID    string
	ClusterID string
	// ErrorMessage is the service's explanation.
	ErrorMessage string
	RequestID    string
	// RemoveErr is why taking the failed cluster out of the mesh again did not succeed; nil if it did.
	RemoveErr error
}

func (e *ClusterFailedError) Error() string {
	msg := fmt.Sprintf("cluster %s failed to join mesh %s: %s (request ID: %s)", e.ClusterID, e.MeshID,
		e.ErrorMessage, e.RequestID)
	if e.RemoveErr != nil {
		return msg + "\nRemoving the failed cluster from the mesh again did not succeed either: " + e.RemoveErr.Error()
	}
	return msg + "\nThe failed cluster was removed from the mesh again."
}

// ClusterStoppedError is a cluster that joined a mesh but is stopped there: its ACK cluster is not
// running, so the mesh cannot manage it.
type ClusterStoppedError struct {
	MeshID       string
	ClusterID    string
	ErrorMessage string
	RequestID    string
}

func (e *ClusterStoppedError) Error() string {
	msg := fmt.Sprintf("cluster %s joined mesh %s but is stopped", e.ClusterID, e.MeshID)
	if e.ErrorMessage != "" {
		msg += ": " + e.ErrorMessage
	}
	return msg + fmt.Sprintf(" (request ID: %s)", e.RequestID)
}

// MeshNotRunningError is a mesh that ended in a failure state instead of running.
type MeshNotRunningError struct {
	MeshID       string
	State        string
	ErrorMessage string
}

func (e *MeshNotRunningError) Error() string {
	msg := fmt.Sprintf("mesh %s is in state %q", e.MeshID, e.State)
	if e.ErrorMessage != "" {
		msg += ": " + e.ErrorMessage
	}
	return msg
}

// AttachCluster adds a cluster to a mesh and waits until the cluster has settled and the mesh is
// running again. It returns the cluster as last seen along with any error, and a nil cluster only
// when the mesh showed that nothing was added, so that a caller can tell what is left in it:
//   - a cluster that was in the mesh before gives a *ClusterInMeshError;
//   - a cluster that ends in "failed" is removed again, and a *ClusterFailedError says why it failed
//     and whether the removal succeeded;
//   - a cluster that joins but is "stopped" gives a *ClusterStoppedError and stays in the mesh;
//   - when ctx ends first, the error wraps ctx.Err() and the cluster stays in the mesh.
//
// AddClusterIntoServiceMesh is not idempotent and its refusals carry codes ASM does not document:
// after any error the mesh's cluster list decides. A cluster that was absent before and is present
// now was added by this call, whatever its answer said (a lost answer, a refused repeat of it).
//
// A mesh is "updating" while a cluster joins or leaves it and refuses other changes meanwhile, so
// changes to one mesh are made one at a time in this process, each waiting for the mesh to be
// running before and after; a change refused because someone else's made the mesh busy is asked
// again once it is running. All waiting counts against ctx.
func (c *Client) AttachCluster(ctx context.Context, meshID, clusterID string) (*Cluster, error) {
	unlock, err := c.lockMesh(ctx, meshID)
	if err != nil {
		return nil, err
	}
	defer unlock()

	if err := c.waitMeshRunning(ctx, meshID); err != nil {
		return nil, err
	}
	before, err := c.findCluster(ctx, meshID, clusterID)
	if err != nil {
		return nil, err
	}
	if before != nil {
		return nil, &ClusterInMeshError{MeshID: meshID, ClusterID: clusterID, State: before.State}
	}
	for {
		req := servicemesh.CreateAddClusterIntoServiceMeshRequest()
		req.ServiceMeshId, req.ClusterId = meshID, clusterID
		_, addErr := invoke(ctx, c, "AddClusterIntoServiceMesh", (*servicemesh.Client).AddClusterIntoServiceMesh, req)
		if addErr == nil {
			break
		}
		now, err := c.findCluster(ctx, meshID, clusterID)
		if IsNotFound(err) {
			return nil, addErr
		}
		if err != nil {
			return &Cluster{ID: clusterID, State: "unknown"}, fmt.Errorf("%w\nWhether the cluster joined the mesh "+
				"anyway could not be read: %w", addErr, err)
		}
		if now != nil {
			tflog.Debug(ctx, "the cluster is in the mesh although adding it failed: the add was carried out",
				map[string]any{"mesh_id": meshID, "cluster_id": clusterID, "error": addErr.Error()})
			break
		}
		if retry, err := c.busyMeshRefused(ctx, meshID, addErr); !retry {
			return nil, err
		}
	}

	cluster, requestID, err := c.waitCluster(ctx, meshID, clusterID, "running", func(cl *Cluster, err error) bool {
		return err == nil && (cl.State == ClusterRunning || cl.State == ClusterFailed || cl.State == ClusterStopped)
	})
	if cluster == nil {
		// Never read back, but added: it is joining.
		cluster = &Cluster{ID: clusterID, State: ClusterStarting}
	}
	if err != nil {
		return cluster, err
	}
	if cluster.State == ClusterFailed {
		return cluster, &ClusterFailedError{
			MeshID: meshID, ClusterID: clusterID, ErrorMessage: cluster.ErrorMessage, RequestID: requestID,
			RemoveErr: c.detach(ctx, meshID, clusterID),
		}
	}
	// The mesh goes on updating after the cluster itself has settled.
	if err := c.waitMeshRunning(ctx, meshID); err != nil {
		return cluster, err
	}
	if cluster.State == ClusterStopped {
		return cluster, &ClusterStoppedError{MeshID: meshID, ClusterID: clusterID, ErrorMessage: cluster.ErrorMessage,
			RequestID: requestID}
	}
	return cluster, nil
}

// DetachCluster removes a cluster from a mesh and waits until it is gone and the mesh has settled.
// A cluster or mesh that is already gone is success.
func (c *Client) DetachCluster(ctx context.Context, meshID, clusterID string) error {
	unlock, err := c.lockMesh(ctx, meshID)
	if err != nil {
		return err
	}
	defer unlock()
	return c.detach(ctx, meshID, clusterID)
}

// detach has succeeded when the cluster is no longer in the mesh, whatever a call answered: a
// repeat of a removal whose answer was lost is refused while the mesh is busy with it, and a
// cluster that is gone answers ERR404 or, undocumented, something else.
func (c *Client) detach(ctx context.Context, meshID, clusterID string) error {
	if _, err := c.waitMeshSettled(ctx, meshID); err != nil {
		if IsNotFound(err) {
			return nil
		}
		return err
	}
	for {
		req := servicemesh.CreateRemoveClusterFromServiceMeshRequest()
		req.ServiceMeshId, req.ClusterId = meshID, clusterID
		_, removeErr := invoke(ctx, c, "RemoveClusterFromServiceMesh", (*servicemesh.Client).RemoveClusterFromServiceMesh, req)
		if removeErr == nil {
			break
		}
		cl, err := c.findCluster(ctx, meshID, clusterID)
		if IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w\nWhether the cluster left the mesh anyway could not be read: %w", removeErr, err)
		}
		if cl == nil || cl.State == ClusterStopping {
			// Gone, or leaving: an earlier call was carried out.
			break
		}
		if retry, err := c.busyMeshRefused(ctx, meshID, removeErr); !retry {
			return err
		}
	}
	_, _, err := c.waitCluster(ctx, meshID, clusterID, "removed", func(_ *Cluster, err error) bool {
		return IsNotFound(err)
	})
	if err != nil {
		return err
	}
	mesh, err := c.waitMeshSettled(ctx, meshID)
	switch {
	case IsNotFound(err):
		return nil
	case err != nil:
		return err
	case mesh.State != MeshRunning:
		// The cluster is gone, which is what was asked; the mesh needs repair, but not by this change.
		tflog.Warn(ctx, "the mesh did not return to running after a cluster left it", map[string]any{
			"mesh_id": meshID, "cluster_id": clusterID, "state": mesh.State, "error_message": mesh.ErrorMessage,
		})
	}
	return nil
}

// busyMeshRefused decides what to do after a change the mesh shows was not made: ask again once a
// mesh that is busy (someone else's change, or an upgrade) is running again, or give up with the
// refusal, adding the mesh's state when that is why.
func (c *Client) busyMeshRefused(ctx context.Context, meshID string, refusal error) (retry bool, err error) {
	mesh, err := c.DescribeMesh(ctx, meshID)
	if err != nil {
		return false, refusal
	}
	if MeshStateTransitional(mesh.State) {
		tflog.Debug(ctx, "the mesh is busy with another change; asking again once it is running", map[string]any{
			"mesh_id": meshID, "state": mesh.State, "error": refusal.Error(),
		})
		if err := c.waitMeshRunning(ctx, meshID); err != nil {
			return false, fmt.Errorf("%w\n%w", refusal, err)
		}
		return true, nil
	}
	if mesh.State != MeshRunning {
		return false, fmt.Errorf("%w\n%w", refusal, &MeshNotRunningError{MeshID: meshID, State: mesh.State, ErrorMessage: mesh.ErrorMessage})
	}
	return false, refusal
}

// waitMeshRunning waits until the mesh is running, and fails when it ends in a failure state.
func (c *Client) waitMeshRunning(ctx context.Context, meshID string) error {
	mesh, err := c.waitMeshSettled(ctx, meshID)
	if err != nil {
		return err
	}
	if mesh.State != MeshRunning {
		return &MeshNotRunningError{MeshID: meshID, State: mesh.State, ErrorMessage: mesh.ErrorMessage}
	}
	return nil
}

// waitMeshSettled reads the mesh, with growing pauses, until it is running or in a failure state,
// and returns it. Transient read errors are read past: the wait is bounded by ctx. Any other error
// ends the wait.
func (c *Client) waitMeshSettled(ctx context.Context, meshID string) (*Mesh, error) {
	state := "unknown"
	for n := 0; ; n++ {
		mesh, err := c.DescribeMesh(ctx, meshID)
		switch {
		case err == nil && (mesh.State == MeshRunning || MeshStateFailed(mesh.State)):
			return mesh, nil
		case err == nil:
			state = mesh.State
		case ctx.Err() == nil && !IsRetryable(err):
			return nil, err
		}
		tflog.Debug(ctx, "waiting for the mesh to be running", map[string]any{"mesh_id": meshID, "state": state})
		if err := sleep(ctx, c.poll.delay(n)); err != nil {
			return nil, fmt.Errorf("timed out waiting for mesh %s to be running (last state: %s): %w", meshID, state, err)
		}
	}
}

// findCluster reads the cluster in the mesh, or nil when it is not there. Transient read errors are
// read past until ctx ends, since the answer decides what a failed change did.
func (c *Client) findCluster(ctx context.Context, meshID, clusterID string) (*Cluster, error) {
	for n := 0; ; n++ {
		clusters, _, err := c.listClusters(ctx, meshID)
		if err == nil {
			for i := range clusters {
				if clusters[i].ID == clusterID {
					return &clusters[i], nil
				}
			}
			return nil, nil
		}
		if !IsRetryable(err) || ctx.Err() != nil {
			return nil, err
		}
		if sleep(ctx, c.poll.delay(n)) != nil {
			return nil, fmt.Errorf("timed out reading the clusters of mesh %s: %w", meshID, errors.Join(err, ctx.Err()))
		}
	}
}

// waitCluster reads the cluster, with growing pauses, until done accepts a read, and returns the
// cluster last seen with the request ID of the last read. Transient read errors are logged and read
// past: the wait is bounded by ctx, not by one call's retries. Any other error that done does not
// accept ends the wait.
func (c *Client) waitCluster(ctx context.Context, meshID, clusterID, goal string,
	done func(*Cluster, error) bool,
) (last *Cluster, requestID string, err error) {
	for n := 0; ; n++ {
		var cl *Cluster
		cl, requestID, err = c.getCluster(ctx, meshID, clusterID)
		if cl != nil {
			last = cl
		}
		switch {
		case done(cl, err):
			return last, requestID, nil
		case ctx.Err() != nil:
			// The read was cut short by the deadline: report the timeout below.
		case IsRetryable(err):
			tflog.Debug(ctx, "reading the cluster failed while waiting; reading again", map[string]any{
				"mesh_id": meshID, "cluster_id": clusterID, "request_id": RequestID(err), "error": err.Error(),
			})
		case err != nil:
			return last, requestID, err
		}
		state := "unknown"
		if last != nil {
			state = last.State
		}
		tflog.Debug(ctx, "waiting for cluster", map[string]any{
			"mesh_id": meshID, "cluster_id": clusterID, "goal": goal, "state": state, "request_id": requestID,
		})
		if err := sleep(ctx, c.poll.delay(n)); err != nil {
			return last, requestID, fmt.Errorf("timed out waiting for cluster %s to be %s in mesh %s "+
				"(last state: %s, last request ID: %s): %w", clusterID, goal, meshID, state, requestID, err)
		}
	}
}

// lockMesh waits, within ctx, until no other change to the mesh is under way in this process.
func (c *Client) lockMesh(ctx context.Context, meshID string) (unlock func(), err error) {
	c.mu.Lock()
	lock, ok := c.meshLocks[meshID]
	if !ok {
		lock = make(chan struct{}, 1)
		c.meshLocks[meshID] = lock
	}
	c.mu.Unlock()

	select {
	case lock <- struct{}{}:
		return func() { <-lock }, nil
	default:
	}
	tflog.Debug(ctx, "waiting for another cluster change to the same mesh to finish", map[string]any{"mesh_id": meshID})
	select {
	case lock <- struct{}{}:
		return func() { <-lock }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("timed out waiting for another cluster change to mesh %s to finish: %w", meshID, ctx.Err())
	}
}
