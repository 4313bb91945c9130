package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// childGolden names the golden file TestUpdateRefusedUnderCI's child run
// writes or compares: set, the test is that child.
const childGolden = "KLPACK_TESTUTIL_CHILD_GOLDEN"

// TestUpdateRefusedUnderCI runs this test binary again as a child that
// calls GoldenFile, with and without CI and -update: the refusal is a
// t.Fatal, which only a separate process can watch happen.
func TestUpdateRefusedUnderCI(t *testing.T) {
	if path := os.Getenv(childGolden); path != "" {
		GoldenFile(t, path, []byte("new\n"))
		return
	}
	tests := []struct {
		name     string
		ci       string
		update   bool
		wantFail string // in the child's output; "" for success
		wantFile string // the golden's content after the run
	}{
		{"CI refuses -update", "true", true, "-update refused: CI=\"true\" is set", "old\n"},
		{"CI=1 refuses -update", "1", true, "-update refused", "old\n"},
		{"-update outside CI rewrites", "", true, "", "new\n"},
		{"CI still compares", "true", false, "differs from the golden file", "old\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.golden")
			if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"-test.run=^TestUpdateRefusedUnderCI$", "-test.count=1"}
			if tt.update {
				args = append(args, "-update")
			}
			cmd := exec.Command(os.Args[0], args...)
			// The last value of a variable wins, so CI= unsets an
			// inherited CI for the child.
			cmd.Env = append(os.Environ(), childGolden+"="+path, "CI="+tt.ci)
			out, err := cmd.CombinedOutput()
			switch {
			case tt.wantFail == "" && err != nil:
				t.Errorf("child (CI=%q, update %v) failed: %v\n%s", tt.ci, tt.update, err, out)
			case tt.wantFail != "" && err == nil:
				t.Errorf("child (CI=%q, update %v) passed, want it to fail with %q\n%s", tt.ci, tt.update, tt.wantFail, out)
			case tt.wantFail != "" && !strings.Contains(string(out), tt.wantFail):
				t.Errorf("child (CI=%q, update %v) output:\n%s\nwant it to contain %q", tt.ci, tt.update, out, tt.wantFail)
			}
			if got, _ := os.ReadFile(path); string(got) != tt.wantFile {
				t.Errorf("golden after the child = %q, want %q", got, tt.wantFile)
			}
		})
	}
}
