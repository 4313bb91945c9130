package check

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/klpack/klpack/pkg/deploy"
)

// sarifSchemaFile is the OASIS SARIF 2.1.0 schema, vendored as data.
var sarifSchemaFile = filepath.Join("..", "..", "testdata", "sarif", "sarif-schema-2.1.0.json")

// validSARIF validates a log against the vendored SARIF 2.1.0 schema with
// a real JSON Schema validator.
func validSARIF(t *testing.T, log []byte) error {
	t.Helper()
	b, err := os.ReadFile(sarifSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	const id = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(id)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(log))
	if err != nil {
		return err
	}
	return s.Validate(v)
}

// stateDoc is a deployed state as a person might write it: lp1 on lines
// 5-9, lp2 on lines 10-15.
const stateDoc = `{
  "schema": "klpack.deployed/v1",
  "kernel": {"release": "6.1.0-56-amd64"},
  "patches": [
    {
      "name": "lp1",
      "enabled": true,
      "load_order": 1
    },
    {
      "name": "lp2",
      "enabled": true,
      "load_order": 2,
      "layer": "off-band"
    }
  ]
}
`

// TestSARIFLocations pins, by hand, where each result points: the URI
// relative to the base (forward slashes, percent-encoded), absolute only
// outside it, the region only in a text document that holds the patch's
// record, functions as logical locations, and nothing at all when the
// finding names no file and no function.
func TestSARIFLocations(t *testing.T) {
	base := t.TempDir()
	if err := os.MkdirAll(filepath.Join(base, "states"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "states", "deployed.json"), []byte(stateDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	elf := append([]byte("\x7fELF"), bytes.Repeat([]byte{0}, 60)...)
	if err := os.WriteFile(filepath.Join(base, "lp2.ko"), elf, 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(filepath.Dir(base), "elsewhere", "lp.ko")
	read := func(p string) ([]byte, error) {
		if !filepath.IsAbs(p) {
			p = filepath.Join(base, p)
		}
		return os.ReadFile(p)
	}
	for _, tt := range []struct {
		name      string
		file      string
		patches   []string
		functions []string
		read      func(string) ([]byte, error)
		dir       string // the working directory; "": the base
		want      []sarifLocation
	}{
		{name: "relative to a working directory below the base", file: "lp.ko", dir: filepath.Join(base, "ko"),
			want: []sarifLocation{{PhysicalLocation: &sarifPhysical{ArtifactLocation: sarifArtifact{URI: "ko/lp.ko", URIBaseID: "SRCROOT"}}}}},
		{name: "relative to a working directory above the base", file: filepath.Join(filepath.Base(base), "lp2.ko"), dir: filepath.Dir(base),
			want: []sarifLocation{{PhysicalLocation: &sarifPhysical{ArtifactLocation: sarifArtifact{URI: "lp2.ko", URIBaseID: "SRCROOT"}}}}},
		{name: "state file, record of the second patch", file: "states/deployed.json", patches: []string{"lp2", "lp1"}, read: read,
			want: []sarifLocation{{PhysicalLocation: &sarifPhysical{ArtifactLocation: sarifArtifact{URI: "states/deployed.json", URIBaseID: "SRCROOT"},
				Region: &sarifRegion{StartLine: 10, EndLine: 15}}}}},
		{name: "state file, first patch named in the file wins", file: "states/deployed.json", patches: []string{"lp9", "lp1"}, read: read,
			want: []sarifLocation{{PhysicalLocation: &sarifPhysical{ArtifactLocation: sarifArtifact{URI: "states/deployed.json", URIBaseID: "SRCROOT"},
				Region: &sarifRegion{StartLine: 5, EndLine: 9}}}}},
		{name: "state file, patch not in it", file: "states/deployed.json", patches: []string{"lp9"}, read: read,
			want: []sarifLocation{{PhysicalLocation: &sarifPhysical{ArtifactLocation: sarifArtifact{URI: "states/deployed.json", URIBaseID: "SRCROOT"}}}}},
		{name: "state file, no reader", file: "states/deployed.json", patches: []string{"lp1"},
			want: []sarifLocation{{PhysicalLocation: &sarifPhysical{ArtifactLocation: sarifArtifact{URI: "states/deployed.json", URIBaseID: "SRCROOT"}}}}},
		{name: "module file: no region, functions logical", file: "lp2.ko", patches: []string{"lp2"}, functions: []string{"vmlinux/funcA,1", "ext4/ext4_fill_super,2"}, read: read,
			want: []sarifLocation{{PhysicalLocation: &sarifPhysical{ArtifactLocation: sarifArtifact{URI: "lp2.ko", URIBaseID: "SRCROOT"}},
				LogicalLocations: []sarifLogicalLoc{{Name: "vmlinux/funcA,1", Kind: "function"}, {Name: "ext4/ext4_fill_super,2", Kind: "function"}}}}},
		{name: "absolute path inside the base", file: filepath.Join(base, "ko", "6.12.117+deb12-amd64", "lp.ko"),
			want: []sarifLocation{{PhysicalLocation: &sarifPhysical{ArtifactLocation: sarifArtifact{URI: "ko/6.12.117+deb12-amd64/lp.ko", URIBaseID: "SRCROOT"}}}}},
		{name: "percent-encoded segments", file: "my ko/a:b%.ko",
			want: []sarifLocation{{PhysicalLocation: &sarifPhysical{ArtifactLocation: sarifArtifact{URI: "my%20ko/a%3Ab%25.ko", URIBaseID: "SRCROOT"}}}}},
		{name: "dot segments cleaned", file: "./states/../lp2.ko",
			want: []sarifLocation{{PhysicalLocation: &sarifPhysical{ArtifactLocation: sarifArtifact{URI: "lp2.ko", URIBaseID: "SRCROOT"}}}}},
		{name: "outside the base: absolute file URI, no base", file: outside,
			want: []sarifLocation{{PhysicalLocation: &sarifPhysical{ArtifactLocation: sarifArtifact{URI: "file://" + filepath.ToSlash(outside)}}}}},
		{name: "no file, functions only", functions: []string{"vmlinux/funcA,1"},
			want: []sarifLocation{{LogicalLocations: []sarifLogicalLoc{{Name: "vmlinux/funcA,1", Kind: "function"}}}}},
		{name: "no file, no function: no locations", want: nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep := &Report{Schema: ReportSchema, KernelModel: deploy.ModelMainline, Findings: []Finding{{
				Rule: RuleNameDeployed, Name: "name-deployed", Severity: Error, Message: "m", Why: "w",
				Patches: tt.patches, Functions: tt.functions, File: tt.file}}}
			log := SARIF(rep, SARIFOptions{Version: "test", BaseDir: base, Dir: tt.dir, ReadFile: tt.read})
			if diff := cmp.Diff(tt.want, log.Runs[0].Results[0].Locations); diff != "" {
				t.Errorf("locations (-want +got):\n%s", diff)
			}
			if got, want := log.Runs[0].OriginalURIBaseIDs["SRCROOT"].URI, "file://"+filepath.ToSlash(base)+"/"; got != want {
				t.Errorf("SRCROOT = %q, want %q", got, want)
			}
			var b bytes.Buffer
			if err := log.Write(&b); err != nil {
				t.Fatal(err)
			}
			if err := validSARIF(t, b.Bytes()); err != nil {
				t.Errorf("log does not validate against SARIF 2.1.0: %v\n%s", err, b.Bytes())
			}
		})
	}
}

// TestSARIFNoPadding: a log carries no empty array and no empty object,
// except results, whose emptiness the spec reads as "ran, found
// nothing"; without a base there are no base ids and URIs stay relative.
func TestSARIFNoPadding(t *testing.T) {
	for _, tt := range []struct {
		name     string
		findings []Finding
		base     string
	}{
		{name: "no findings", findings: []Finding{}},
		{name: "a finding without file or functions", findings: []Finding{{Rule: RuleKernelRefuses, Name: "kernel-refuses", Severity: Warning, Message: "m", Why: "w"}}},
		{name: "an acknowledged finding", base: "/src", findings: []Finding{{Rule: RuleShadowsOffBand, Name: "shadows-off-band", Severity: Warning, Message: "m", Why: "w",
			Patches: []string{"lp1"}, File: "/src/lp1.ko", Acknowledged: true, AckReason: "fixed upstream"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			rep := &Report{Schema: ReportSchema, KernelModel: deploy.ModelMainline, Findings: tt.findings}
			if err := SARIF(rep, SARIFOptions{BaseDir: tt.base}).Write(&b); err != nil {
				t.Fatal(err)
			}
			var doc any
			if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			for _, p := range emptyValues(doc, "") {
				if p != "/runs/0/results" {
					t.Errorf("%s is empty: padding", p)
				}
			}
			run := doc.(map[string]any)["runs"].([]any)[0].(map[string]any)
			if _, ok := run["results"]; !ok {
				t.Errorf("results missing: SARIF reads that as a run that did not happen")
			}
			if _, ok := run["originalUriBaseIds"]; ok != (tt.base != "") {
				t.Errorf("originalUriBaseIds present = %v, want %v", ok, tt.base != "")
			}
			if strings.Contains(b.String(), `"version": ""`) {
				t.Errorf("an empty driver version is written")
			}
			if err := validSARIF(t, b.Bytes()); err != nil {
				t.Errorf("log does not validate against SARIF 2.1.0: %v", err)
			}
		})
	}
}

// emptyValues lists the JSON pointers of empty arrays and objects in v.
func emptyValues(v any, at string) []string {
	var out []string
	switch n := v.(type) {
	case map[string]any:
		if len(n) == 0 {
			return []string{at}
		}
		for k, c := range n {
			out = append(out, emptyValues(c, at+"/"+k)...)
		}
	case []any:
		if len(n) == 0 {
			return []string{at}
		}
		for i, c := range n {
			out = append(out, emptyValues(c, at+"/"+strconv.Itoa(i))...)
		}
	}
	return out
}

// TestSARIFDeclarations: with the klpack.yaml a check read, a result
// about a module it declares (by path or glob) gets that entry's line and
// column as its related location; a module it does not declare gets none.
func TestSARIFDeclarations(t *testing.T) {
	base := t.TempDir()
	config := "version: 1.0-1\nkernel: 6.1.0-56-amd64\nmodules:\n  - path: ko/lp_replace.ko\n    layer: cumulative\n  - layer: off-band\n    path: ko/off/*.ko\npackage:\n  maintainer: m\n"
	if err := os.MkdirAll(filepath.Join(base, "rel"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "rel", "klpack.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	read := func(p string) ([]byte, error) { return os.ReadFile(filepath.Join(base, p)) }
	for _, tt := range []struct {
		file string
		want *sarifRegion
	}{
		{"rel/ko/lp_replace.ko", &sarifRegion{StartLine: 4, StartColumn: 5}},
		{"rel/ko/off/lp_fix.ko", &sarifRegion{StartLine: 6, StartColumn: 5}},
		{"rel/ko/other.ko", nil},
		{"", nil},
	} {
		t.Run(tt.file, func(t *testing.T) {
			rep := &Report{Schema: ReportSchema, KernelModel: deploy.ModelMainline, Findings: []Finding{{
				Rule: RuleNameDeployed, Name: "name-deployed", Severity: Error, Message: "m", Why: "w", Patches: []string{"lp"}, File: tt.file}}}
			log := SARIF(rep, SARIFOptions{BaseDir: base, ReadFile: read, Release: "rel/klpack.yaml"})
			res := log.Runs[0].Results[0]
			var want []sarifLocation
			if tt.want != nil {
				want = []sarifLocation{{ID: 1, Message: &sarifMessage{"declared in klpack.yaml"},
					PhysicalLocation: &sarifPhysical{ArtifactLocation: sarifArtifact{URI: "rel/klpack.yaml", URIBaseID: "SRCROOT"}, Region: tt.want}}}
			}
			if diff := cmp.Diff(want, res.RelatedLocations); diff != "" {
				t.Errorf("related locations (-want +got):\n%s", diff)
			}
			var b bytes.Buffer
			if err := log.Write(&b); err != nil {
				t.Fatal(err)
			}
			if err := validSARIF(t, b.Bytes()); err != nil {
				t.Errorf("log does not validate against SARIF 2.1.0: %v", err)
			}
		})
	}
}
