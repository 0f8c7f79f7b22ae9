// Package podnet gives a local test cluster's Pods addresses that reach this machine and that
// Kubernetes accepts in Endpoints.
package podnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
)

// Range holds every cluster's block: RFC 2544's benchmarking range, which no real network uses.
// One route makes all of it local, as 127.0.0.0/8 is: `ip route add local 198.18.0.0/15 dev lo`
// (ip-route(8), route type local), after which any address in it can be bound and dialled.
// 127.0.0.0/8 itself cannot serve: the apiserver refuses loopback addresses in Endpoints and
// EndpointSlices ("may not be in the loopback range", kubernetes pkg/apis/core/validation
// ValidateNonSpecialIP), and the ModelMesh controller dials runtime pods through their Service's
// Endpoints.
const Range = "198.18.0.0/15"

// routeCommand is what makes Range local; Claim runs it when the range is not local yet.
var routeCommand = []string{"ip", "route", "replace", "local", Range, "dev", "lo"}

const (
	// blockBits: each cluster owns a /20 (16 /24s: its own address, then one pod CIDR per Node).
	blockBits = 20
	blocks    = 1 << (blockBits - 15)
	// claimPort only marks a claim (a listener on the block's first address); nothing connects.
	claimPort = 47011
	// MaxNodes is how many Nodes' pod CIDRs a block holds.
	MaxNodes = 15
)

// Block is the /20 of Range that one cluster owns for as long as it holds the claim: test binaries
// that run side by side on one machine each get their own.
type Block struct {
	base  netip.Addr
	claim net.Listener
}

// Claim takes a free block, first making Range local when it is not (which needs root, or
// CAP_NET_ADMIN; the error says what to run otherwise).
func Claim() (*Block, error) {
	routed := false
	for _, i := range rand.Perm(blocks) {
		b := &Block{base: blockBase(i)}
		l, err := net.Listen("tcp", net.JoinHostPort(b.Host(), fmt.Sprint(claimPort)))
		if errors.Is(err, syscall.EADDRNOTAVAIL) && !routed {
			if err := routeRange(); err != nil {
				return nil, err
			}
			routed = true
			l, err = net.Listen("tcp", net.JoinHostPort(b.Host(), fmt.Sprint(claimPort)))
		}
		if err == nil {
			b.claim = l
			return b, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("claim pod addresses %s: %w", b.Host(), err)
		}
	}
	return nil, fmt.Errorf("every block of %s is taken by another local cluster", Range)
}

func blockBase(i int) netip.Addr {
	first := netip.MustParsePrefix(Range).Addr().As4()
	n := uint32(first[0])<<24 | uint32(first[1])<<16 | uint32(i)<<(32-blockBits)
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

func routeRange() error {
	out, err := exec.Command(routeCommand[0], routeCommand[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("the local cluster's Pods need addresses in %s, which this machine does not route to itself yet, "+
			"and `%s` failed (%v: %s): run it once as root, then run the tests again",
			Range, strings.Join(routeCommand, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Host is the block's own address, for the cluster's processes that Pods or the apiserver reach.
func (b *Block) Host() string { return b.base.Next().String() }

// PodCIDR is the pod CIDR of Node n (0 <= n < MaxNodes).
func (b *Block) PodCIDR(n int) string {
	a := b.base.As4()
	a[2] += byte(1 + n)
	return netip.PrefixFrom(netip.AddrFrom4(a), 24).String()
}

// Release gives the block back.
func (b *Block) Release() error { return b.claim.Close() }
