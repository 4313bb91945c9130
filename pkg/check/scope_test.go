package check

import (
	"slices"
	"testing"

	"github.com/klpack/klpack/pkg/deploy"
)

// TestAckScope: an acknowledgement covers only the findings its patch and
// function narrow it to.
func TestAckScope(t *testing.T) {
	tests := []struct {
		name string
		ack  Ack
		want bool // the KLP004 finding of cum_2 is acknowledged
	}{
		{"rule", Ack{Rule: RuleDropsFunctions, Reason: "r"}, true},
		{"its patch", Ack{Rule: RuleDropsFunctions, Patch: "cum_2", Reason: "r"}, true},
		{"another patch", Ack{Rule: RuleDropsFunctions, Patch: "cum_9", Reason: "r"}, false},
		{"its function", Ack{Rule: RuleDropsFunctions, Function: "vmlinux/b,1", Reason: "r"}, true},
		{"another function", Ack{Rule: RuleDropsFunctions, Function: "vmlinux/a,1", Reason: "r"}, false},
		{"another rule", Ack{Rule: RuleOffBandOverlap, Reason: "r"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &Input{
				Deployed:   state("", lp{name: "cum_1", replace: true, funcs: []string{"a", "b"}}),
				Candidates: candidates(lp{name: "cum_2", replace: true, funcs: []string{"a"}}),
				Acks:       []Ack{tt.ack},
			}
			rep, err := Check(in)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Findings) != 1 || rep.Findings[0].Rule != RuleDropsFunctions {
				t.Fatalf("findings = %+v, want one %s", rep.Findings, RuleDropsFunctions)
			}
			if got := rep.Findings[0].Acknowledged; got != tt.want {
				t.Errorf("ack %+v: Acknowledged = %v, want %v", tt.ack, got, tt.want)
			}
		})
	}
}

// TestTraceableScope: the traceable list speaks only for the objects it
// names; a function of another object (a module not loaded when the list
// was taken) is not reported as untraceable.
func TestTraceableScope(t *testing.T) {
	tr := traceableFrom(t, "a\nm_fn [mod]\n")
	tests := []struct {
		name string
		fn   string
		want bool // KLP013 fires
	}{
		{"listed vmlinux", "a", false},
		{"unlisted vmlinux", "b", true},
		{"listed module", "mod/m_fn", false},
		{"unlisted in a listed module", "mod/other", true},
		{"object the list does not name", "other/m_fn", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Check(&Input{Candidates: candidates(lp{name: "p", funcs: []string{tt.fn}}), Traceable: tr})
			if err != nil {
				t.Fatal(err)
			}
			got := slices.ContainsFunc(rep.Findings, func(f Finding) bool { return f.Rule == RuleNotTraceable })
			if got != tt.want {
				t.Errorf("%s: KLP013 fired = %v, want %v; findings %+v", tt.fn, got, tt.want, rep.Findings)
			}
		})
	}
}

// TestDisabledOffBand: a deployed off-band patch that is disabled runs
// no code, so it owns no function: a candidate patching the same one is
// neither an overlap (KLP001) nor a shadow (KLP003).
func TestDisabledOffBand(t *testing.T) {
	off1 := lp{name: "off_1", offBand: true, set: 1, funcs: []string{"x"}}
	tests := []struct {
		name    string
		enabled bool
		cand    lp
		rule    string
	}{
		{"overlap", true, lp{name: "off_2", offBand: true, set: 1, funcs: []string{"x"}}, RuleOffBandOverlap},
		{"overlap, disabled", false, lp{name: "off_2", offBand: true, set: 1, funcs: []string{"x"}}, RuleOffBandOverlap},
		{"shadow", true, lp{name: "cum_1", replace: true, funcs: []string{"x"}}, RuleShadowsOffBand},
		{"shadow, disabled", false, lp{name: "cum_1", replace: true, funcs: []string{"x"}}, RuleShadowsOffBand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := state(deploy.ModelHybrid, off1)
			st.Patches[0].Enabled = tt.enabled
			rep, err := Check(&Input{Deployed: st, Candidates: candidates(tt.cand)})
			if err != nil {
				t.Fatal(err)
			}
			got := slices.ContainsFunc(rep.Findings, func(f Finding) bool { return f.Rule == tt.rule })
			if got != tt.enabled {
				t.Errorf("%s fired = %v with off_1 enabled=%v, want %v; findings %+v", tt.rule, got, tt.enabled, tt.enabled, rep.Findings)
			}
		})
	}
}

// TestFindingsOrder: the most severe findings come first.
func TestFindingsOrder(t *testing.T) {
	in := &Input{
		Deployed: state(deploy.ModelHybrid, lp{name: "off_1", offBand: true, set: 1, funcs: []string{"x"}}),
		Candidates: candidates(lp{name: "cum_1", replace: true, funcs: []string{"x"}},
			lp{name: "off_2", offBand: true, set: 1, funcs: []string{"x"}}),
	}
	rep, err := Check(in)
	if err != nil {
		t.Fatal(err)
	}
	var sevs []Severity
	for _, f := range rep.Findings {
		sevs = append(sevs, f.Severity)
	}
	if !slices.Contains(sevs, Error) || !slices.Contains(sevs, Warning) {
		t.Fatalf("severities %v, want an error and a warning", sevs)
	}
	if !slices.IsSortedFunc(sevs, func(a, b Severity) int { return int(b - a) }) {
		t.Errorf("severities in order %v, want the most severe first", sevs)
	}
}

// TestSARIFResults: each result points at its own rule in the driver's
// list, and an acknowledged finding carries its reason as an external
// suppression, which is how code-scanning tools hide it.
func TestSARIFResults(t *testing.T) {
	in := &Input{
		Deployed: state(deploy.ModelHybrid, lp{name: "off_1", offBand: true, set: 1, funcs: []string{"x"}}),
		Candidates: candidates(lp{name: "cum_1", replace: true, funcs: []string{"x"}},
			lp{name: "off_2", offBand: true, set: 1, funcs: []string{"x"}}),
		Acks: []Ack{{Rule: RuleShadowsOffBand, Reason: "x is fixed upstream"}},
	}
	rep, err := Check(in)
	if err != nil {
		t.Fatal(err)
	}
	log := SARIF(rep, SARIFOptions{Version: "test"})
	run := log.Runs[0]
	if len(run.Results) != len(rep.Findings) || len(run.Results) < 2 {
		t.Fatalf("%d results for %d findings, want one each and at least 2", len(run.Results), len(rep.Findings))
	}
	for i, res := range run.Results {
		f := rep.Findings[i]
		if res.RuleIndex < 0 || res.RuleIndex >= len(run.Tool.Driver.Rules) || run.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID || res.RuleID != f.Rule {
			t.Errorf("result %d: ruleId %s, ruleIndex %d: want the index of %s in the driver's rules", i, res.RuleID, res.RuleIndex, f.Rule)
		}
		var want []sarifSuppression
		if f.Rule == RuleShadowsOffBand {
			want = []sarifSuppression{{Kind: "external", Justification: "x is fixed upstream"}}
		}
		if !slices.Equal(res.Suppressions, want) {
			t.Errorf("result %d (%s): suppressions %+v, want %+v", i, res.RuleID, res.Suppressions, want)
		}
	}
}
