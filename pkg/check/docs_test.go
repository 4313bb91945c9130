package check

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/klpack/klpack/internal/docscheck"
	"github.com/klpack/klpack/internal/testutil"
)

// TestAcksDocs checks docs/acks.md against the acknowledgements file's
// form: every key documented, none the file lacks.
func TestAcksDocs(t *testing.T) {
	docscheck.Check(t, filepath.Join(testutil.Root(), "docs", "acks.md"), "Keys",
		docscheck.Keys(reflect.TypeFor[ackFile](), "yaml"))
}

// TestAcksExample reads the page's example with ParseAcks.
func TestAcksExample(t *testing.T) {
	path := filepath.Join(testutil.Root(), "docs", "acks.md")
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks := docscheck.Blocks(page, "Example", "yaml")
	if len(blocks) != 1 {
		t.Fatalf("%s: %d yaml blocks under ## Example, want 1", path, len(blocks))
	}
	acks, err := ParseAcks([]byte(blocks[0]), path+" example")
	if err != nil {
		t.Fatalf("the example: %v", err)
	}
	want := []Ack{
		{Rule: "KLP009", Patch: "lp1", Reason: "lp1 is folded into lp3 next release"},
		{Rule: "KLP004", Function: "vmlinux/funcA,1", Reason: "funcA's fix moves to lp1"},
	}
	if !reflect.DeepEqual(acks, want) {
		t.Errorf("the example = %+v, want %+v", acks, want)
	}
}
