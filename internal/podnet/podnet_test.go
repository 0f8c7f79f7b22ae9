package podnet

import (
	"net"
	"net/netip"
	"testing"
)

func TestBlocksAreDisjointAndInsideRange(t *testing.T) {
	r := netip.MustParsePrefix(Range)
	seen := map[string]bool{}
	for i := range blocks {
		b := &Block{base: blockBase(i)}
		for n := range MaxNodes {
			cidr := netip.MustParsePrefix(b.PodCIDR(n))
			if !r.Contains(cidr.Addr()) || seen[cidr.String()] {
				t.Fatalf("block %d node %d: pod CIDR %s outside %s or taken twice", i, n, cidr, Range)
			}
			seen[cidr.String()] = true
		}
		if host := netip.MustParseAddr(b.Host()); !r.Contains(host) || seen[netip.PrefixFrom(host, 24).Masked().String()] {
			t.Fatalf("block %d: host %s outside %s or inside a pod CIDR", i, host, Range)
		}
	}
}

// TestClaimedBlockIsLocalAndExclusive binds and dials a pod address, as the ModelMesh stand-in and
// the controller do, and checks that a second claim gets another block.
func TestClaimedBlockIsLocalAndExclusive(t *testing.T) {
	a, err := Claim()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Release() }()
	b, err := Claim()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Release() }()
	if a.Host() == b.Host() {
		t.Fatalf("two claims got the same block %s", a.Host())
	}
	pod := netip.MustParsePrefix(a.PodCIDR(MaxNodes - 1)).Addr().Next().String()
	l, err := net.Listen("tcp", net.JoinHostPort(pod, "0"))
	if err != nil {
		t.Fatalf("bind pod address %s: %v", pod, err)
	}
	defer func() { _ = l.Close() }()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("dial pod address %s: %v", l.Addr(), err)
	}
	_ = conn.Close()
}
