package fleet

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/deploy"
)

// spellingManifests is a manifests directory holding the testdata
// lp_replace package at two versions, each spelt three ways as pkg/pack
// spells them: 1.2_1 (klpack), 1.2_1-1 (rpm), 1.2.1 (dpkg); and 1.3,
// 1.3-1, 1.3.
func spellingManifests(t *testing.T) *Manifests {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.Root(), "testdata/fleet/manifests/1.0-1/klp-patch-6.1.0-56-amd64_1.0-1.manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, v := range [][3]string{{"1.2_1", "1.2_1-1", "1.2.1"}, {"1.3", "1.3-1", "1.3"}} {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		m["package"] = map[string]any{"name": "klp-patch-6.1.0-56-amd64", "version": v[0], "rpm_version": v[1], "deb_version": v[2]}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "klp-patch-6.1.0-56-amd64_"+v[2]+".manifest.json"), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := LoadManifests(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestMergeSpellings: hosts running one package version under its
// klpack, rpm and dpkg spellings are one combination, counted once with
// every host; what makes another deployed set (another version, enabled,
// transition known or not, build ID, load order) stays apart, and so do
// versions no manifest describes.
func TestMergeSpellings(t *testing.T) {
	// ln is an inventory line of lp_replace's package at version v;
	// extra is appended to the patch, head to the line.
	ln := func(who, v, extra, head string) string {
		return fmt.Sprintf(`{%s,"kernel":"6.1.0-56-amd64"%s,"patches":[{"module":"lp_replace","package":"klp-patch-6.1.0-56-amd64","version":%q,"enabled":true,"load_order":1%s}]}`, who, head, v, extra)
	}
	host := func(h string) string { return `"host":"` + h + `"` }
	const tf = `,"transition":false`
	type want struct {
		Version  string
		Hosts    int64
		Examples []string
		Verdict  string
	}
	for _, tt := range []struct {
		name  string
		lines []string
		want  []want // in the report's order: most hosts first, then by line
	}{
		{"three spellings", []string{
			ln(host("a"), "1.2_1", tf, ""), ln(host("b"), "1.2_1-1", tf, ""), ln(`"hosts":5`, "1.2.1", tf, ""),
			ln(host("c"), "1.2.1", tf, ""), ln(host("d"), "1.2_1-1", tf, ""),
		}, []want{{"1.2_1", 9, []string{"a", "b", "c"}, "error"}}},
		// The rpm spelling first: the report still names the manifest's.
		{"another version apart", []string{
			ln(host("e"), "1.3-1", tf, ""), ln(host("a"), "1.2.1", tf, ""), ln(host("f"), "1.3", tf, ""), ln(host("b"), "1.2_1-1", tf, ""), ln(host("g"), "1.3.0", tf, ""),
		}, []want{{"1.3", 2, []string{"e", "f"}, "error"}, {"1.2_1", 2, []string{"a", "b"}, "error"}, {"1.3.0", 1, []string{"g"}, VerdictUnresolved}}},
		{"enabled differs", []string{
			ln(host("a"), "1.2_1", tf, ""), strings.Replace(ln(host("b"), "1.2_1-1", tf, ""), `"enabled":true`, `"enabled":false`, 1),
		}, []want{{"1.2_1", 1, []string{"a"}, "error"}, {"1.2_1", 1, []string{"b"}, "error"}}},
		{"transition unknown", []string{
			ln(host("a"), "1.2_1", tf, ""), ln(host("b"), "1.2_1-1", "", ""), ln(host("c"), "1.2.1", "", ""),
		}, []want{{"1.2_1", 2, []string{"b", "c"}, "error"}, {"1.2_1", 1, []string{"a"}, "error"}}},
		{"build id differs", []string{
			ln(host("a"), "1.2_1", tf, `,"build_id":"aa"`), ln(host("b"), "1.2_1-1", tf, `,"build_id":"bb"`), ln(host("c"), "1.2.1", tf, `,"build_id":"AA"`),
		}, []want{{"1.2_1", 2, []string{"a", "c"}, "error"}, {"1.2_1", 1, []string{"b"}, "error"}}},
		{"load order differs", []string{
			ln(host("a"), "1.2_1", tf, ""), strings.Replace(ln(host("b"), "1.2_1-1", tf, ""), `"load_order":1`, `"load_order":2`, 1),
		}, []want{{"1.2_1", 1, []string{"a"}, "error"}, {"1.2_1", 1, []string{"b"}, "error"}}},
		// No manifest says 9.9 and 9.9-1 are one version: two, unresolved.
		{"unresolved apart", []string{
			ln(host("a"), "9.9", tf, ""), ln(host("b"), "9.9-1", tf, ""),
		}, []want{{"9.9", 1, []string{"a"}, VerdictUnresolved}, {"9.9-1", 1, []string{"b"}, VerdictUnresolved}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := ParseInventory(t.Context(), strings.NewReader(strings.Join(tt.lines, "\n")), "inv", ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			before := len(inv.Combinations)
			firstHosts := inv.Combinations[0].Hosts
			firstVersion := inv.Combinations[0].Patches[0].Version
			checked := 0
			rep, err := Check(t.Context(), inv, spellingManifests(t), CheckOptions{Input: release(t), FailOn: check.Error, Progress: func() { checked++ }})
			if err != nil {
				t.Fatal(err)
			}
			var got []want
			for _, g := range rep.Groups {
				w := want{Version: g.Patches[0].Version, Hosts: g.Hosts, Verdict: g.Verdict}
				for _, e := range g.Examples {
					w.Examples = append(w.Examples, e.Host)
				}
				got = append(got, w)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("combinations (-want +got):\n%s", diff)
			}
			if rep.Totals.Combinations != len(tt.want) || rep.Totals.Hosts != inv.Hosts {
				t.Errorf("totals: %d combinations of %d hosts, want %d of %d", rep.Totals.Combinations, rep.Totals.Hosts, len(tt.want), inv.Hosts)
			}
			var sum int64
			for _, g := range rep.Groups {
				sum += g.Hosts
			}
			if sum != inv.Hosts || rep.Totals.FailHosts+rep.Totals.UnresolvedHosts != inv.Hosts {
				t.Errorf("combinations hold %d hosts, fail %d + unresolved %d; the inventory %d", sum, rep.Totals.FailHosts, rep.Totals.UnresolvedHosts, inv.Hosts)
			}
			// The progress bar counts the inventory's combinations; the
			// inventory itself is left as it was read.
			if checked != before {
				t.Errorf("progress told %d times, want %d", checked, before)
			}
			if inv.Combinations[0].Hosts != firstHosts || inv.Combinations[0].Patches[0].Version != firstVersion {
				t.Errorf("the inventory's first combination changed: %d hosts, version %q; want %d, %q",
					inv.Combinations[0].Hosts, inv.Combinations[0].Patches[0].Version, firstHosts, firstVersion)
			}
		})
	}
}

// TestMergeExamples: merged combinations keep the first MaxExamples
// hosts by line, whichever combination named them, and a capture (the
// state form) is kept as it is.
func TestMergeExamples(t *testing.T) {
	ms := spellingManifests(t)
	p := func(v string) []Patch {
		return []Patch{{Module: "lp_replace", Package: "klp-patch-6.1.0-56-amd64", Version: v, Enabled: true, LoadOrder: 1}}
	}
	ex := func(lines ...int64) []Example {
		var out []Example
		for _, l := range lines {
			out = append(out, Example{Host: fmt.Sprint("h", l), Line: l})
		}
		return out
	}
	const k = "6.1.0-56-amd64"
	in := []*Combination{
		{Kernel: k, Patches: p("1.2_1"), Hosts: 4, FirstLine: 1, Examples: ex(1, 5, 9)},
		{Kernel: k, Patches: p("1.2_1-1"), Hosts: 3, FirstLine: 2, Examples: ex(2, 3, 4)},
		{Kernel: k, Patches: p("1.2.1"), Hosts: 7, FirstLine: 6, Examples: nil},
		{Kernel: k, State: &deploy.State{Schema: deploy.StateSchema, Kernel: deploy.Kernel{Release: k}, Patches: []*deploy.Patch{}}, Hosts: 1, FirstLine: 7, Examples: ex(7)},
	}
	out := Merge(in, ms)
	if len(out) != 2 || out[1] != in[3] {
		t.Fatalf("Merge = %d combinations, the capture kept: %v; want 2, true", len(out), len(out) == 2 && out[1] == in[3])
	}
	if out[0].Hosts != 14 || out[0].FirstLine != 1 {
		t.Errorf("merged: %d hosts from line %d, want 14 from line 1", out[0].Hosts, out[0].FirstLine)
	}
	if diff := cmp.Diff(ex(1, 2, 3), out[0].Examples); diff != "" {
		t.Errorf("examples (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(ex(1, 5, 9), in[0].Examples); diff != "" {
		t.Errorf("the input's examples changed (-want +got):\n%s", diff)
	}
}
