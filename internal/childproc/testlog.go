package childproc

import (
	"bytes"
	"io"
	"testing"
)

// TestLog is a writer for a child's output (exec.Cmd Stdout/Stderr) that logs each write to t, after
// prefix, so a failing test shows what its servers said.
func TestLog(t testing.TB, prefix string) io.Writer { return testLog{t, prefix} }

type testLog struct {
	t      testing.TB
	prefix string
}

func (w testLog) Write(p []byte) (int, error) {
	w.t.Logf("%s: %s", w.prefix, bytes.TrimRight(p, "\n"))
	return len(p), nil
}
