package deploy

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/klpack/klpack/internal/docscheck"
	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/klp"
)

// TestDeployedStateDocs checks docs/deployed-state.md against State: the
// keys of the state itself under "Keys", those of the module record every
// patch carries (klp.Module, inlined in Patch) under "Module record
// keys". Every key documented, none the types lack.
func TestDeployedStateDocs(t *testing.T) {
	page := filepath.Join(testutil.Root(), "docs", "deployed-state.md")
	module := docscheck.Keys(reflect.TypeFor[klp.Module](), "json")
	var own []string
	for _, k := range docscheck.Keys(reflect.TypeFor[State](), "json") {
		rest, ok := strings.CutPrefix(k, "patches[].")
		if ok && slices.Contains(module, rest) {
			continue
		}
		own = append(own, k)
	}
	docscheck.Check(t, page, "Keys", own)
	docscheck.Check(t, page, "Module record keys", module)
}

// TestDeployedStateExample reads the page's example as klpack reads a
// state file: it must be valid, with no unknown key.
func TestDeployedStateExample(t *testing.T) {
	path := filepath.Join(testutil.Root(), "docs", "deployed-state.md")
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks := docscheck.Blocks(page, "Example", "json")
	if len(blocks) != 1 {
		t.Fatalf("%s: %d json blocks under ## Example, want 1", path, len(blocks))
	}
	s, err := DecodeState([]byte(blocks[0]), path+" example")
	if err != nil {
		t.Fatalf("the example: %v", err)
	}
	if len(s.Ignored) > 0 {
		t.Errorf("the example has keys a reader does not know: %q", s.Ignored)
	}
	if s.Kernel.Release != "6.1.0-56-amd64" || len(s.Patches) != 2 || s.Patches[1].Layer != klp.LayerOffBand || !s.Patches[0].Patches[0].Replace {
		t.Errorf("the example decoded as %+v", s)
	}
}
