package asm

import (
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		raw     string
		want    Version
		wantErr string
	}{
		{raw: "v1.22.6.71-g7d67a80b-aliyun", want: Version{1, 22, 6, 71}},
		{raw: "v1.17.2.42-gf7619883-aliyun", want: Version{1, 17, 2, 42}},
		{raw: "1.18.0.134", want: Version{1, 18, 0, 134}},
		{raw: "v1.18.0.134", want: Version{1, 18, 0, 134}},
		{raw: "1.18.0.134+build.5", want: Version{1, 18, 0, 134}},
		{raw: "01.018.0.0", want: Version{1, 18, 0, 0}},
		{raw: "", wantErr: `version "" is not an ASM version`},
		{raw: "v", wantErr: "1 dot-separated parts"},
		{raw: "1.18.0", wantErr: "3 dot-separated parts"},
		{raw: "1.18.0.134.5", wantErr: "5 dot-separated parts"},
		{raw: "1.18..134", wantErr: `part 3 is ""`},
		{raw: "1.18.x.134", wantErr: `part 3 is "x"`},
		{raw: "1.18.0.+1", wantErr: `part 4 is ""`},
		{raw: "1.18.0.134 ", wantErr: `part 4 is "134 "`},
		{raw: " 1.18.0.134", wantErr: `part 1 is " 1"`},
		{raw: "V1.18.0.134", wantErr: `part 1 is "V1"`},
		{raw: "1.18.0.134-", wantErr: "empty build suffix"},
		{raw: "-g7d67a80b-aliyun", wantErr: "1 dot-separated parts"},
		{raw: "1.18.0.1234567890", wantErr: `part 4 is "1234567890"`},
		{raw: "unknown", wantErr: `version "unknown" is not an ASM version`},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			got, err := ParseVersion(tc.raw)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseVersion(%q) = %v, %v; want an error containing %q", tc.raw, got, err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), "e.g. 1.18.0.134") {
					t.Errorf("error %q does not show the expected form", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseVersion(%q) = %v, %v; want %v", tc.raw, got, err, tc.want)
			}
		})
	}
}

func TestVersionCompare(t *testing.T) {
	minimum := Version{1, 18, 0, 134}
	for _, tc := range []struct {
		raw  string
		want int
	}{
		{"v1.17.2.42-gf7619883-aliyun", -1},
		{"v1.18.0.133-gabc-aliyun", -1},
		{"v1.18.0.134-gabc-aliyun", 0},
		{"1.18.0.134", 0},
		{"v1.18.0.135-gabc-aliyun", 1},
		{"v1.18.1.0-gabc-aliyun", 1},
		{"v1.22.6.71-g7d67a80b-aliyun", 1},
		{"v2.0.0.0-gabc-aliyun", 1},
		{"v1.9.9.999-gabc-aliyun", -1}, // numeric, not lexical: 9 < 18
	} {
		v, err := ParseVersion(tc.raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.Compare(minimum); got != tc.want {
			t.Errorf("%s compared with %s = %d, want %d", tc.raw, minimum, got, tc.want)
		}
		if got := minimum.Compare(v); got != -tc.want {
			t.Errorf("%s compared with %s = %d, want %d", minimum, tc.raw, got, -tc.want)
		}
	}
	if got := (Version{1, 22, 6, 71}).String(); got != "1.22.6.71" {
		t.Errorf("String() = %q", got)
	}
}

// FuzzParseVersion checks that no input panics, and that whatever parses prints back to itself
// and compares consistently.
func FuzzParseVersion(f *testing.F) {
	for _, seed := range []string{"v1.22.6.71-g7d67a80b-aliyun", "1.18.0.134", "v1.17.2.42-gf7619883-aliyun",
		"", "v", "1.2.3", "1.2.3.4.5", "1.2.3.4-", "-1.2.3.4", "1.2.3.+4", "9999999999.0.0.0", "v1.2.3.4+x-y"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := ParseVersion(raw)
		if err != nil {
			if !strings.Contains(err.Error(), "is not an ASM version") {
				t.Fatalf("error %q does not say what is wrong", err)
			}
			return
		}
		for i, n := range v {
			if n < 0 {
				t.Fatalf("part %d of %q is negative: %d", i, raw, n)
			}
		}
		again, err := ParseVersion(v.String())
		if err != nil || again != v {
			t.Fatalf("%q parsed as %v, whose String %q parses as %v, %v", raw, v, v.String(), again, err)
		}
		suffixed, err := ParseVersion("v" + v.String() + "-g0000000-aliyun")
		if err != nil || suffixed.Compare(v) != 0 {
			t.Fatalf("a build suffix changed %v into %v, %v", v, suffixed, err)
		}
		if v.Compare(v) != 0 {
			t.Fatalf("%v does not equal itself", v)
		}
	})
}
