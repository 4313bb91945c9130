package elfscan

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRecordsFIFO: a FIFO where a module or a scan document is expected
// is refused at once, naming the file, instead of waiting for a writer.
func TestRecordsFIFO(t *testing.T) {
	for _, name := range []string{"m.ko", "scan.json"} {
		p := filepath.Join(t.TempDir(), name)
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
		ms, err := Records([]string{p}, nil)
		if err == nil || ms != nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Records(%s) = %v, %v; want a not-a-regular-file error naming it", name, ms, err)
		}
	}
}
