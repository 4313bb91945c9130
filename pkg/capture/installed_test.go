package capture

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/klpack/klpack/pkg/klp"
)

// TestJoinInstalled: an installed package manifest gives its patch the
// layer; one that disagrees with the module file, two for one module,
// and unreadable ones are reported and not joined.
func TestJoinInstalled(t *testing.T) {
	dir := modules(t, k612, "lp_noreplace.strip-debug.ko")
	sys := tree(fake{"lp_noreplace", map[string]string{"enabled": "1", "transition": "0", "replace": "0"},
		vmlinux("1", "version_proc_show,1", "loadavg_proc_show,1", "c_next,2")})
	st0, _, err := Capture(context.Background(), sys, []string{dir}, &CaptureOptions{KernelRelease: k612})
	if err != nil {
		t.Fatal(err)
	}
	sum := st0.Patches[0].SHA256
	manifest := func(layer, sha, kernel string) *fstest.MapFile {
		b, _ := json.Marshal(map[string]any{"schema": manifestSchema, "kernel": kernel, "layer": layer,
			"package": map[string]string{"name": "p", "version": "1"},
			"module":  map[string]any{"name": "lp_noreplace", "sha256": sha}})
		return &fstest.MapFile{Data: b}
	}
	const d = InstalledDir + "/" + k612 + "/"
	tests := []struct {
		name      string
		root      fstest.MapFS
		wantLayer string
		wantKind  string // a report entry of this kind
		wantMsg   string
	}{
		{"joined", fstest.MapFS{d + "klp-p/manifest.json": manifest(klp.LayerOffBand, sum, k612)}, klp.LayerOffBand, EntryInfo, "layer off-band from the installed package p 1"},
		{"another sha256", fstest.MapFS{d + "klp-p/manifest.json": manifest(klp.LayerOffBand, strings.Repeat("0", 64), k612)}, "", EntryMismatch, "records sha256 0000"},
		{"two manifests", fstest.MapFS{d + "klp-p/manifest.json": manifest(klp.LayerOffBand, sum, k612), d + "klp-q/manifest.json": manifest(klp.LayerCumulative, sum, k612)}, "", EntryMismatch, "2 installed manifests describe lp_noreplace"},
		{"another kernel", fstest.MapFS{d + "klp-p/manifest.json": manifest(klp.LayerOffBand, sum, "6.1.0-56-amd64")}, "", EntrySkipped, `for kernel "6.1.0-56-amd64"`},
		{"bad layer", fstest.MapFS{d + "klp-p/manifest.json": manifest("sideways", sum, k612)}, "", EntrySkipped, `layer "sideways"`},
		{"not JSON", fstest.MapFS{d + "klp-p/manifest.json": {Data: []byte("{")}}, "", EntrySkipped, "unexpected end of document"},
		{"too large", fstest.MapFS{d + "klp-p/manifest.json": {Data: bytes.Repeat([]byte(" "), maxManifest+1)}}, "", EntrySkipped, "limit"},
		{"bad package name", fstest.MapFS{d + "Evil\x1b/manifest.json": manifest(klp.LayerOffBand, sum, k612)}, "", EntrySkipped, "not a package name"},
		// Worded as the file is, never as encoding/json's Go types.
		{"an array", fstest.MapFS{d + "klp-p/manifest.json": {Data: []byte("[1, 2]")}}, "", EntrySkipped, "want object, got array"},
		{"an ELF file", fstest.MapFS{d + "klp-p/manifest.json": {Data: []byte("\x7fELF\x02\x01\x01")}}, "", EntrySkipped, "an ELF file, not a JSON document"},
		{"empty", fstest.MapFS{d + "klp-p/manifest.json": {Data: nil}}, "", EntrySkipped, "empty document"},
		{"layer a number", fstest.MapFS{d + "klp-p/manifest.json": {Data: []byte(`{"layer": 3}`)}}, "", EntrySkipped, "layer: want string, got number"},
		{"manifest a directory", fstest.MapFS{d + "klp-p/manifest.json/x": {}}, "", EntrySkipped, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, rep, err := Capture(context.Background(), sys, []string{dir}, &CaptureOptions{KernelRelease: k612, Root: tt.root})
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Patches[0].Layer; got != tt.wantLayer {
				t.Errorf("layer %q, want %q", got, tt.wantLayer)
			}
			found := false
			for _, e := range rep.Entries {
				found = found || (e.Kind == tt.wantKind && strings.Contains(e.Msg, tt.wantMsg))
			}
			for _, e := range rep.Entries {
				if strings.Contains(e.Msg, "Go value") || strings.Contains(e.Msg, "capture.") {
					t.Errorf("report entry speaks Go: %s", e.Msg)
				}
			}
			if !found {
				t.Errorf("report:\n%s\nwant a %s entry saying %q", strings.Join(rep.Lines(), "\n"), tt.wantKind, tt.wantMsg)
			}
		})
	}
}
