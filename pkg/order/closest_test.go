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
