package asm

import (
	"context"
	"errors"
	"fmt"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/servicemesh"
	"github.com/hashicorp/terraform-plugin-log/tflog"
)

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

// AttachCluster adds a cluster to a mesh and waits until it is running. It returns the cluster as
// last seen along with any error, and a nil cluster only when nothing was added, so that a caller
// can tell what is left in the mesh:
//   - a cluster already in a mesh gives an *Error with code CodeClusterAlreadyAdded;
//   - a cluster that ends in "failed" is removed again, and a *ClusterFailedError says why it failed
//     and whether the removal succeeded;
//   - when ctx ends first, the error wraps ctx.Err() and the cluster stays in the mesh.
//
// Changes to one mesh are made one at a time, each until its cluster has settled: ASM changes a
// mesh's control plane for every cluster added or removed, and it is not documented to accept a
// second change while one is under way. Waiting for the mesh counts against ctx.
func (c *Client) AttachCluster(ctx context.Context, meshID, clusterID string) (*Cluster, error) {
	unlock, err := c.lockMesh(ctx, meshID)
	if err != nil {
		return nil, err
	}
	defer unlock()

	req := servicemesh.CreateAddClusterIntoServiceMeshRequest()
	req.ServiceMeshId, req.ClusterId = meshID, clusterID
	_, err = invoke(ctx, c, "AddClusterIntoServiceMesh", (*servicemesh.Client).AddClusterIntoServiceMesh, req)
	var apiErr *Error
	if errors.As(err, &apiErr) && apiErr.Code == CodeClusterAlreadyAdded && apiErr.Attempts > 1 {
		// An earlier attempt whose answer was lost may have added it: then this is our own change.
		if _, getErr := c.GetCluster(ctx, meshID, clusterID); getErr == nil {
			err = nil
		}
	}
	if err != nil {
		return nil, err
	}

	cluster, requestID, err := c.waitCluster(ctx, meshID, clusterID, "running", func(cl *Cluster, err error) bool {
		return err == nil && (cl.State == ClusterRunning || cl.State == ClusterFailed)
	})
	if cluster == nil {
		// Never read back, but accepted: it is joining.
		cluster = &Cluster{ID: clusterID, State: ClusterStarting}
	}
	if err == nil && cluster.State == ClusterFailed {
		return cluster, &ClusterFailedError{
			MeshID: meshID, ClusterID: clusterID, ErrorMessage: cluster.ErrorMessage, RequestID: requestID,
			RemoveErr: c.detach(ctx, meshID, clusterID),
		}
	}
	return cluster, err
}

// DetachCluster removes a cluster from a mesh and waits until it is gone. A cluster or mesh that is
// already gone is success.
func (c *Client) DetachCluster(ctx context.Context, meshID, clusterID string) error {
	unlock, err := c.lockMesh(ctx, meshID)
	if err != nil {
		return err
	}
	defer unlock()
	return c.detach(ctx, meshID, clusterID)
}

func (c *Client) detach(ctx context.Context, meshID, clusterID string) error {
	req := servicemesh.CreateRemoveClusterFromServiceMeshRequest()
	req.ServiceMeshId, req.ClusterId = meshID, clusterID
	_, err := invoke(ctx, c, "RemoveClusterFromServiceMesh", (*servicemesh.Client).RemoveClusterFromServiceMesh, req)
	if IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	_, _, err = c.waitCluster(ctx, meshID, clusterID, "removed", func(_ *Cluster, err error) bool {
		return IsNotFound(err)
	})
	return err
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
