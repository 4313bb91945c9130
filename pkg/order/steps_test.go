package order

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

// ko61 is the path of one of the testdata modules Kbuild built for
// 6.1.0-56-amd64.
func ko61(name string) string {
	return filepath.Join("..", "..", "testdata", "ko", "6.1.0-56-amd64", name+".ko")
}

// scan61 scans testdata modules built for 6.1.0-56-amd64.
func scan61(t *testing.T, names ...string) []*klp.Module {
	t.Helper()
	var out []*klp.Module
	for _, n := range names {
		m, err := elfscan.Open(ko61(n), nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// deployed61 is a state of 6.1.0-56-amd64 running the modules, in load
// order, each enabled in the layer given beside it.
func deployed61(model string, mods []*klp.Module, layers ...string) *deploy.State {
	st := &deploy.State{Schema: deploy.StateSchema, Kernel: deploy.Kernel{Release: "6.1.0-56-amd64", Model: model}}
	for i, m := range mods {
		st.Patches = append(st.Patches, &deploy.Patch{Module: *m, Enabled: true, LoadOrder: i + 1, Layer: layers[i]})
	}
	return st
}

// on is the expected state: the enabled patches in stack order, then
// after "|" the modules loaded.
func on(names ...string) Expect {
	e := Expect{Patches: []ExpectPatch{}, Modules: []string{}}
	mods := false
	for _, n := range names {
		switch {
		case n == "|":
			mods = true
		case mods:
			e.Modules = append(e.Modules, n)
		default:
			e.Patches = append(e.Patches, ExpectPatch{Name: n, Enabled: true})
		}
	}
	return e
}

// TestSteps: the kernel steps of a plan on real modules, each with the
// sysfs state after it, written out by hand. lp_replace is a cumulative
// replace patch (cmdline_proc_show), lp_shadow a cumulative plain patch
// (show_softirqs) and lp_noreplace, deployed in the off-band layer, a fix
// of version_proc_show and two more functions.
func TestSteps(t *testing.T) {
	mods := scan61(t, "lp_shadow", "lp_noreplace", "lp_replace")
	shadow, noreplace, replace := mods[0], mods[1], mods[2]
	tests := []struct {
		name  string
		in    *check.Input
		start Expect // the deployed state, before the first step
		steps []Step
		// rules are those of the findings left, below the failing
		// severity.
		rules []string
	}{
		{
			// The replace frees lp_shadow and lp_noreplace; the plan
			// unloads both modules, then loads lp_noreplace again from
			// the file it was deployed from.
			name:  "mainline re-loads the off-band patch a replace removes",
			in:    &check.Input{Deployed: deployed61(deploy.ModelMainline, []*klp.Module{shadow, noreplace}, klp.LayerCumulative, klp.LayerOffBand), Candidates: []*klp.Module{replace}},
			start: on("lp_shadow", "lp_noreplace", "|", "lp_noreplace", "lp_shadow"),
			steps: []Step{
				{Action: "load", Name: "lp_replace", Path: ko61("lp_replace"), Expect: on("lp_replace", "|", "lp_noreplace", "lp_replace", "lp_shadow")},
				{Action: "unload", Name: "lp_shadow", Expect: on("lp_replace", "|", "lp_noreplace", "lp_replace")},
				{Action: "unload", Name: "lp_noreplace", Expect: on("lp_replace", "|", "lp_replace")},
				{Action: "load", Name: "lp_noreplace", Path: ko61("lp_noreplace"), Expect: on("lp_replace", "lp_noreplace", "|", "lp_noreplace", "lp_replace")},
			},
			rules: []string{check.RuleDropsFunctions},
		},
		{
			// The hybrid kernel keeps the non-replaceable lp_noreplace:
			// no unload, no re-load.
			name:  "hybrid keeps the off-band patch",
			in:    &check.Input{Deployed: deployed61(deploy.ModelHybrid, []*klp.Module{shadow, noreplace}, klp.LayerCumulative, klp.LayerOffBand), Candidates: []*klp.Module{replace}},
			start: on("lp_shadow", "lp_noreplace", "|", "lp_noreplace", "lp_shadow"),
			steps: []Step{
				{Action: "load", Name: "lp_replace", Path: ko61("lp_replace"), Expect: on("lp_noreplace", "lp_replace", "|", "lp_noreplace", "lp_replace", "lp_shadow")},
				{Action: "unload", Name: "lp_shadow", Expect: on("lp_noreplace", "lp_replace", "|", "lp_noreplace", "lp_replace")},
			},
			rules: []string{check.RuleDropsFunctions},
		},
		{
			// Candidates labelled off-band in klpack.yaml (Layers),
			// not in the module: on hybrid the replace patch keeps
			// lp_noreplace, so the given order needs no unload.
			name: "hybrid keeps a candidate off-band by its layer",
			in: &check.Input{Deployed: deployed61(deploy.ModelHybrid, nil), Candidates: []*klp.Module{noreplace, replace},
				Layers: map[string]string{"lp_noreplace": klp.LayerOffBand, "lp_replace": klp.LayerCumulative}},
			start: on("|"),
			steps: []Step{
				{Action: "load", Name: "lp_noreplace", Path: ko61("lp_noreplace"), Expect: on("lp_noreplace", "|", "lp_noreplace")},
				{Action: "load", Name: "lp_replace", Path: ko61("lp_replace"), Expect: on("lp_noreplace", "lp_replace", "|", "lp_noreplace", "lp_replace")},
			},
		},
		{
			// A module name is loaded once: the old lp_replace goes
			// before the new one of the same name loads.
			name:  "same-name upgrade",
			in:    &check.Input{Deployed: deployed61(deploy.ModelMainline, []*klp.Module{replace}, klp.LayerCumulative), Candidates: []*klp.Module{replace}},
			start: on("lp_replace", "|", "lp_replace"),
			steps: []Step{
				{Action: "disable", Name: "lp_replace", Expect: on("|", "lp_replace")},
				{Action: "unload", Name: "lp_replace", Expect: on("|")},
				{Action: "load", Name: "lp_replace", Path: ko61("lp_replace"), Expect: on("lp_replace", "|", "lp_replace")},
			},
		},
		{
			// The same release next to an off-band patch on mainline:
			// the upgrade needs no re-load, the disable removes only
			// the old lp_replace, and the new one replaces lp_noreplace.
			name:  "same-name upgrade over an off-band patch on mainline",
			in:    &check.Input{Deployed: deployed61(deploy.ModelMainline, []*klp.Module{noreplace, replace}, klp.LayerOffBand, klp.LayerCumulative), Candidates: []*klp.Module{replace}},
			start: on("lp_noreplace", "lp_replace", "|", "lp_noreplace", "lp_replace"),
			steps: []Step{
				{Action: "disable", Name: "lp_replace", Expect: on("lp_noreplace", "|", "lp_noreplace", "lp_replace")},
				{Action: "unload", Name: "lp_replace", Expect: on("lp_noreplace", "|", "lp_noreplace")},
				{Action: "load", Name: "lp_replace", Path: ko61("lp_replace"), Expect: on("lp_replace", "|", "lp_noreplace", "lp_replace")},
				{Action: "unload", Name: "lp_noreplace", Expect: on("lp_replace", "|", "lp_replace")},
				{Action: "load", Name: "lp_noreplace", Path: ko61("lp_noreplace"), Expect: on("lp_replace", "lp_noreplace", "|", "lp_noreplace", "lp_replace")},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Make(tt.in, check.Error)
			if err != nil {
				t.Fatal(err)
			}
			if !p.OK {
				t.Fatalf("no plan: %+v", p.Findings)
			}
			if diff := cmp.Diff(tt.steps, p.Steps); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
			if p.Start == nil {
				t.Fatal("plan has no start state")
			}
			if diff := cmp.Diff(tt.start, *p.Start); diff != "" {
				t.Errorf("start (-want +got):\n%s", diff)
			}
			var rules []string
			for _, f := range p.Findings {
				rules = append(rules, f.Rule)
			}
			if diff := cmp.Diff(tt.rules, rules); diff != "" {
				t.Errorf("findings left (-want +got):\n%s", diff)
			}
			// Every off-band patch deployed enabled still runs at the end.
			last := p.Steps[len(p.Steps)-1].Expect
			for _, d := range tt.in.Deployed.Patches {
				runs := slices.ContainsFunc(last.Patches, func(p ExpectPatch) bool { return p.Name == d.Name && p.Enabled && !p.Transition })
				if d.Layer == klp.LayerOffBand && !runs {
					t.Errorf("final state %+v lost the off-band %s", last, d.Name)
				}
			}
		})
	}
}

// TestMakeBest: the plan is the best acceptable attempt, not the first.
// Given lp_shadow before the replace patch lp_replace, the given order is
// acceptable at --fail-on error but lp_replace replaces lp_shadow and
// drops show_softirqs (a KLP004 warning); loading lp_replace first leaves
// nothing to warn about.
func TestMakeBest(t *testing.T) {
	mods := scan61(t, "lp_shadow", "lp_replace")
	shadow, replace := mods[0], mods[1]
	given := &check.Input{Candidates: []*klp.Module{shadow, replace}}
	rep, err := check.Check(given)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Rule != check.RuleDropsFunctions || rep.Findings[0].Severity != check.Warning || rep.Failed(check.Error) {
		t.Fatalf("given order: findings %+v, want one KLP004 warning, acceptable at error", rep.Findings)
	}
	tests := []struct {
		name   string
		in     *check.Input
		failOn check.Severity
		steps  []Step
		rules  []string
	}{
		{
			name: "an order without the warning wins", in: given, failOn: check.Error,
			steps: []Step{
				{Action: "load", Name: "lp_replace", Path: ko61("lp_replace"), Expect: on("lp_replace", "|", "lp_replace")},
				{Action: "load", Name: "lp_shadow", Path: ko61("lp_shadow"), Expect: on("lp_replace", "lp_shadow", "|", "lp_replace", "lp_shadow")},
			},
		},
		{
			// Disabling the deployed lp_shadow first would take
			// show_softirqs away too, with no finding: the plan keeps
			// the warning rather than hide it.
			name: "a disable does not hide a warning", failOn: check.Error,
			in: &check.Input{Deployed: deployed61(deploy.ModelHybrid, []*klp.Module{shadow}, klp.LayerCumulative), Candidates: []*klp.Module{replace}},
			steps: []Step{
				{Action: "load", Name: "lp_replace", Path: ko61("lp_replace"), Expect: on("lp_replace", "|", "lp_replace", "lp_shadow")},
				{Action: "unload", Name: "lp_shadow", Expect: on("lp_replace", "|", "lp_replace")},
			},
			rules: []string{check.RuleDropsFunctions},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Make(tt.in, tt.failOn)
			if err != nil {
				t.Fatal(err)
			}
			if !p.OK {
				t.Fatalf("no plan: %+v", p.Findings)
			}
			if diff := cmp.Diff(tt.steps, p.Steps); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
			var rules []string
			for _, f := range p.Findings {
				rules = append(rules, f.Rule)
			}
			if diff := cmp.Diff(tt.rules, rules); diff != "" {
				t.Errorf("findings left (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBetter: findings by severity, worst first, then transitions; a tie
// keeps the attempt tried first.
func TestBetter(t *testing.T) {
	att := func(sevs string, steps ...string) *attempt {
		a := &attempt{rep: &check.Report{}}
		// e, w, i: an error, warning, info; W an acknowledged warning.
		for _, c := range sevs {
			sev := map[rune]check.Severity{'e': check.Error, 'w': check.Warning, 'W': check.Warning, 'i': check.Info}[c]
			a.rep.Findings = append(a.rep.Findings, check.Finding{Severity: sev, Acknowledged: c == 'W'})
		}
		for _, s := range steps {
			a.steps = append(a.steps, Step{Action: s})
		}
		return a
	}
	tests := []struct {
		name string
		a, b *attempt
		want bool
	}{
		{"fewer warnings", att("i", "load"), att("w", "load"), true},
		{"more warnings", att("w", "load"), att("i", "load"), false},
		{"an error outweighs warnings", att("www", "load"), att("e", "load"), true},
		{"warnings before infos", att("wiiii"), att("ww"), true},
		{"infos count last", att("wi"), att("wii"), true},
		{"acknowledged is not counted", att("W", "load"), att("i", "load"), true},
		{"fewer transitions", att("w", "load", "unload", "unload"), att("w", "disable", "load"), true},
		{"a tie keeps the earlier", att("w", "load"), att("w", "load"), false},
		{"unloads are no transition", att("", "load", "unload"), att("", "load"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.better(tt.b); got != tt.want {
				t.Errorf("better = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestReloadKeepsLayer: an off-band patch loaded again is checked as the
// off-band patch it is, though only its deployed layer says so: lp_param,
// declared non-replaceable in the release, overlaps lp_noreplace on
// version_proc_show in every order, re-load or not.
func TestReloadKeepsLayer(t *testing.T) {
	mods := scan61(t, "lp_noreplace", "lp_replace", "lp_param")
	noreplace, replace, param := mods[0], mods[1], mods[2]
	declared := *param.Patches[0]
	declared.Replaceable = new(false)
	param.Patches = []*klp.Patch{&declared}
	in := &check.Input{Deployed: deployed61(deploy.ModelMainline, []*klp.Module{noreplace}, klp.LayerOffBand), Candidates: []*klp.Module{replace, param}}
	p, err := Make(in, check.Error)
	if err != nil {
		t.Fatal(err)
	}
	if p.OK || len(p.Findings) != 1 || p.Findings[0].Rule != check.RuleOffBandOverlap || !slices.Contains(p.Findings[0].Patches, "lp_noreplace") {
		t.Errorf("Make = OK %v, findings %+v; want no plan, KLP001 of lp_noreplace and lp_param", p.OK, p.Findings)
	}
}
