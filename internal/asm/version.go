package asm

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// Version is the four numbers of an ASM version: 1.22.6.71 for "v1.22.6.71-g7d67a80b-aliyun".
type Version [4]int

// ParseVersion reads an ASM version as the service reports it ("v1.22.6.71-g7d67a80b-aliyun") or as
// a user writes it ("1.18.0.134"): an optional "v", four dot-separated numbers, and an optional build
// suffix after "-" or "+". Anything else is an error quoting the raw string.
func ParseVersion(raw string) (Version, error) {
	var v Version
	fail := func(why string) (Version, error) {
		return Version{}, fmt.Errorf("version %q is not an ASM version (%s): expected four numbers, "+
			"e.g. 1.18.0.134 or v1.22.6.71-g7d67a80b-aliyun", raw, why)
	}
	numbers := strings.TrimPrefix(raw, "v")
	if i := strings.IndexAny(numbers, "-+"); i >= 0 {
		if i == len(numbers)-1 {
			return fail("empty build suffix")
		}
		numbers = numbers[:i]
	}
	parts := strings.Split(numbers, ".")
	if len(parts) != len(v) {
		return fail(fmt.Sprintf("%d dot-separated parts", len(parts)))
	}
	for i, part := range parts {
		// Digits only, and few enough to fit: Atoi alone would take "+1" and "-0".
		if part == "" || len(part) > 9 || strings.Trim(part, "0123456789") != "" {
			return fail(fmt.Sprintf("part %d is %q, not a number", i+1, part))
		}
		v[i], _ = strconv.Atoi(part)
	}
	return v, nil
}

// Compare returns -1, 0 or +1 as v is older than, the same as, or newer than w.
func (v Version) Compare(w Version) int {
	for i := range v {
		if c := cmp.Compare(v[i], w[i]); c != 0 {
			return c
		}
	}
	return 0
}

// String gives the four numbers, e.g. "1.22.6.71".
func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d.%d", v[0], v[1], v[2], v[3])
}
