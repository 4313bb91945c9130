package order

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/klp"
)

// TestClosestAttempt: with no safe plan, the findings reported are those
// of the first attempt with the fewest blocking ones, so the given order
// wins a tie. Two overlapping off-band candidates overlap in every order;
// the finding names them in load order, which tells the attempts apart.
func TestClosestAttempt(t *testing.T) {
	in := &check.Input{Candidates: []*klp.Module{mod("off_b", false, true, nil, "x"), mod("off_a", false, true, nil, "x")}}
	p, err := Make(in, check.Error)
	if err != nil {
		t.Fatal(err)
	}
	if p.OK || len(p.Findings) != 1 {
		t.Fatalf("Make = OK %v, findings %+v: want no plan and one finding", p.OK, p.Findings)
	}
	f := p.Findings[0]
	if diff := cmp.Diff([]string{"off_b", "off_a"}, f.Patches); f.Rule != check.RuleOffBandOverlap || diff != "" {
		t.Errorf("finding %s of patches (-want +got):\n%s\nwant %s of the given order", f.Rule, diff, check.RuleOffBandOverlap)
	}
}

// TestDisableable: a plan may disable only enabled, replaceable patches;
// one deployed in the off-band layer stays even when its scan record
// does not say it is non-replaceable, and one in transition is left to
// settle.
func TestDisableable(t *testing.T) {
	st := stateOf("", mod("cum", true, false, nil, "a"), mod("off", false, true, nil, "b"),
		mod("layered", false, false, nil, "c"), mod("gone", false, false, nil, "d"), mod("forced", false, false, nil, "e"),
		mod("moving", false, false, nil, "f"))
	st.Patches[2].Layer = klp.LayerOffBand
	st.Patches[3].Enabled = false
	st.Patches[5].Transition = new(true)
	if diff := cmp.Diff([]string{"cum"}, disableable(st, []string{"forced"})); diff != "" {
		t.Errorf("disableable (-want +got):\n%s", diff)
	}
}
