package acctest

import (
	"os"
	"path/filepath"
	"testing"
)

// TraceLog sends the TRACE logs of the provider served in this process (TF_LOG, TF_LOG_PATH) and
// of the CLI terraform-plugin-testing runs (TF_ACC_LOG, TF_ACC_LOG_PATH, which it passes on as the
// CLI's TF_LOG and TF_LOG_PATH) to one file for the rest of the test, and returns a function that
// reads the file. It sets the test's environment, so the test cannot be parallel.
func TraceLog(t *testing.T) (read func() string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "trace.log")
	t.Setenv("TF_LOG", "TRACE")
	t.Setenv("TF_LOG_PATH", path)
	t.Setenv("TF_ACC_LOG", "TRACE")
	t.Setenv("TF_ACC_LOG_PATH", path)
	return func() string {
		t.Helper()
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("reading the TRACE log: %v", err)
		}
		return string(raw)
	}
}
