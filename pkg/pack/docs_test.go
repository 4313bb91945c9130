package pack

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/klpack/klpack/internal/docscheck"
	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/order"
)

// TestReleaseManifestDocs checks docs/release-manifest.md against the
// release manifest's form and the package manifest: every key documented,
// none documented that the document lacks. The package manifest's module
// and plan are documented as wholes, their keys on the pages of those
// documents.
func TestReleaseManifestDocs(t *testing.T) {
	page := filepath.Join(testutil.Root(), "docs", "release-manifest.md")
	docscheck.Check(t, page, "Release manifest keys", docscheck.Keys(reflect.TypeFor[releaseFile](), "yaml"))
	docscheck.Check(t, page, "Package manifest keys",
		docscheck.Keys(reflect.TypeFor[Manifest](), "json", reflect.TypeFor[klp.Module](), reflect.TypeFor[order.Plan]()))
}

// TestReleaseManifestExamples parses the page's examples as klpack reads
// them: the release manifest with parseRelease, the package manifest with
// no key unknown.
func TestReleaseManifestExamples(t *testing.T) {
	path := filepath.Join(testutil.Root(), "docs", "release-manifest.md")
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rel := docscheck.Blocks(page, "Release manifest keys", "yaml")
	if len(rel) != 1 {
		t.Fatalf("%s: %d yaml blocks under ## Release manifest keys, want 1", path, len(rel))
	}
	rf, err := parseRelease([]byte(rel[0]))
	if err != nil {
		t.Fatalf("release manifest example: %v", err)
	}
	if rf.Kernel != "6.1.0-56-amd64" || len(rf.Modules) != 2 || rf.Modules[1].Layer != klp.LayerOffBand {
		t.Errorf("release manifest example parsed as %+v", rf)
	}
	pm := docscheck.Blocks(page, "Package manifest keys", "json")
	if len(pm) != 1 {
		t.Fatalf("%s: %d json blocks under ## Package manifest keys, want 1", path, len(pm))
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(pm[0])))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("package manifest example: %v", err)
	}
	if m.Schema != ManifestSchema || m.LoadOrder != 2 || len(m.Release) != 2 || len(m.Files) != 1 {
		t.Errorf("package manifest example decoded as %+v", m)
	}
}
