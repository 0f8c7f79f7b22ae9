package testcluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
)

// loopbackNet is the /16 of 127.0.0.0/8 that one cluster owns: its fake Nodes' pod CIDRs, so its
// Pods' IPs, and the addresses its own processes listen on. Pod IPs are where model-mesh's stand-in
// serves; clusters of several test binaries on one machine must not share them. Holding a listener
// on 127.<second>.0.1:claimPort claims the /16 machine-wide for the cluster's lifetime.
type loopbackNet struct {
	second int
	claim  net.Listener
}

// claimPort is an arbitrary port that only marks a claim; nothing connects to it.
const claimPort = 47011

func claimLoopbackNet() (*loopbackNet, error) {
	// 127.0.x.x and 127.1.x.x stay free for everything else that uses loopback (the apiserver, etcd).
	for _, i := range rand.Perm(250) {
		second := 2 + i
		l, err := net.Listen("tcp", fmt.Sprintf("127.%d.0.1:%d", second, claimPort))
		if err == nil {
			return &loopbackNet{second: second, claim: l}, nil
		}
	}
	return nil, errors.New("no free /16 in 127.0.0.0/8 for the cluster's pods")
}

// host is the address the cluster's own processes listen on (the controller's webhook and probes).
func (n *loopbackNet) host() string { return fmt.Sprintf("127.%d.0.1", n.second) }

// podCIDR is the pod CIDR of fake node i.
func (n *loopbackNet) podCIDR(node int) string {
	return fmt.Sprintf("127.%d.%d.0/24", n.second, node+1)
}

func (n *loopbackNet) release() error { return n.claim.Close() }
