package schemas_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/internal/testutil"
)

// TestCheckSARIFLocations runs klpack check --sarif from the repository
// root and pins where its results point, by hand: the deployed-state
// finding at the lines of lp1's record in testdata/states/seed-mainline.json
// (lines 7-52), the module finding at the module file with no region, both
// relative to SRCROOT, the root.
func TestCheckSARIFLocations(t *testing.T) {
	root := testutil.Root()
	out := filepath.Join(t.TempDir(), "check.sarif")
	_, stderr, code := run(t, root, nil, "check", "--deployed", "testdata/states/seed-mainline.json", "--sarif", out, "testdata/scenarios/seed/lp1.json")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (KLP001 is an error)\n%s", code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(t, sarifSchema, b); err != nil {
		t.Fatalf("log does not validate: %v", err)
	}
	type region struct{ StartLine, EndLine int }
	var log struct {
		Runs []struct {
			OriginalURIBaseIDs map[string]struct{ URI string } `json:"originalUriBaseIds"`
			Results            []struct {
				RuleID    string `json:"ruleId"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI, URIBaseID string } `json:"artifactLocation"`
						Region           *region                         `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &log); err != nil {
		t.Fatal(err)
	}
	type where struct {
		URI, Base string
		Region    *region
	}
	got := map[string]where{}
	for _, r := range log.Runs[0].Results {
		l := r.Locations[0].PhysicalLocation
		got[r.RuleID] = where{l.ArtifactLocation.URI, l.ArtifactLocation.URIBaseID, l.Region}
	}
	want := map[string]where{
		"KLP001": {"testdata/states/seed-mainline.json", "SRCROOT", &region{7, 52}},
		"KLP007": {"lp1.ko", "SRCROOT", nil},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("result locations (-want +got):\n%s", diff)
	}
	if got, want := log.Runs[0].OriginalURIBaseIDs["SRCROOT"].URI, "file://"+filepath.ToSlash(root)+"/"; got != want {
		t.Errorf("SRCROOT = %q, want %q", got, want)
	}
}
