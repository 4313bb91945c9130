package order

import (
	"slices"
	"strings"
	"testing"

	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

// TestWayBack: what going back to the deployed release costs, as the
// simulator answers it, for each way a plan removes a deployed patch.
func TestWayBack(t *testing.T) {
	mods := scan61(t, "lp_shadow", "lp_noreplace", "lp_replace", "lp_replacefn")
	shadow, noreplace, replace := mods[0], mods[1], mods[2]
	// lp_replacefn sets replace in code the scan does not follow: declared
	// here as a release would.
	replacefn := *mods[3]
	rp := *replacefn.Patches[0]
	rp.Replace, rp.ReplaceSource = true, klp.ReplaceManifest
	replacefn.Patches = []*klp.Patch{&rp}
	tests := []struct {
		name string
		in   *check.Input
		want []string // substrings, one per note, in order
	}{
		{
			// lp_noreplace comes back by the plan itself; lp_shadow is
			// freed and loads again over lp_replace.
			"a replace frees a cumulative patch",
			&check.Input{Deployed: deployed61(deploy.ModelMainline, []*klp.Module{shadow, noreplace}, klp.LayerCumulative, klp.LayerOffBand), Candidates: []*klp.Module{replace}},
			[]string{"the plan frees lp_shadow: going back loads it again, from a copy of its module file"},
		},
		{
			// lp_replacefn carries none of lp_replace's klp_states, and
			// a replace must: the kernel refuses it over lp_replace.
			"klp_state makes the way back unpatched",
			&check.Input{Deployed: deployed61(deploy.ModelMainline, []*klp.Module{&replacefn}, klp.LayerCumulative), Candidates: []*klp.Module{replace}},
			[]string{"the kernel refuses lp_replacefn over the new release", "going back means disabling the new release first, leaving"},
		},
		{
			"same-name upgrade",
			&check.Input{Deployed: deployed61(deploy.ModelMainline, []*klp.Module{replace}, klp.LayerCumulative), Candidates: []*klp.Module{replace}},
			[]string{"lp_replace is replaced by a module of the same name"},
		},
		{
			"nothing removed",
			&check.Input{Deployed: deployed61(deploy.ModelHybrid, []*klp.Module{noreplace}, klp.LayerOffBand), Candidates: []*klp.Module{replace}},
			nil,
		},
		{"no deployed state", &check.Input{Candidates: []*klp.Module{replace}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Make(tt.in, check.Error)
			if err != nil || !p.OK {
				t.Fatalf("Make = %+v, %v", p, err)
			}
			notes, err := WayBack(tt.in, p)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(notes, "\n")
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("notes:\n%s\nwant %q", got, w)
				}
			}
			if tt.want == nil && len(notes) > 0 || tt.want != nil && len(notes) != 1 {
				t.Errorf("got %d notes, want %d:\n%s", len(notes), min(len(tt.want), 1), got)
			}
			if slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, "lp_noreplace") }) {
				t.Errorf("a note about lp_noreplace, which the plan keeps: %q", notes)
			}
		})
	}
}
