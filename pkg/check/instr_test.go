package check

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/pkg/klp"
)

// TestInstrumentationLost: KLP019 compares each patched function's
// original with its new function as a multiset of sites by kind and name,
// picks the original by old_sympos, and stays quiet where it cannot tell.
// The messages are written by hand.
func TestInstrumentationLost(t *testing.T) {
	tp := func(n string) klp.Site { return klp.Site{Kind: klp.SiteTracepoint, Name: n} }
	key := klp.Site{Kind: klp.SiteStaticKey, Name: "k"}
	dbg := klp.Site{Kind: klp.SiteDyndbg, Name: "poke %d\n", Detail: "m.c:19"}
	target := map[string]*klp.ObjectSites{
		"vmlinux": {Object: "vmlinux", Funcs: map[string][][]klp.Site{
			"a":   {{key, tp("x"), tp("x")}},
			"dup": {{tp("y")}, {}},
		}},
		"mod": {Object: "mod", Funcs: map[string][][]klp.Site{"m_fn": {{dbg}}}},
	}
	own := func(fns map[string][]klp.Site) map[string]*klp.ObjectSites {
		o := &klp.ObjectSites{Object: "p", Funcs: map[string][][]klp.Site{}}
		for f, s := range fns {
			o.Funcs[f] = [][]klp.Site{s}
		}
		return map[string]*klp.ObjectSites{"p": o}
	}
	type want struct{ msg, fn string }
	tests := []struct {
		name  string
		funcs []string
		sites map[string]*klp.ObjectSites
		cand  map[string]*klp.ObjectSites
		want  []want
	}{
		{"keeps one of two tracepoint calls", []string{"a"}, target, own(map[string][]klp.Site{"p_a": {tp("x")}}),
			[]want{{"p: a of vmlinux loses static-key k, tracepoint x while p_a runs instead", "vmlinux/a,1"}}},
		{"keeps all", []string{"a"}, target, own(map[string][]klp.Site{"p_a": {tp("x"), key, tp("x"), tp("z")}}), nil},
		{"sympos 1 has the site", []string{"dup,1"}, target, own(nil),
			[]want{{"p: dup of vmlinux loses tracepoint y while p_dup runs instead", "vmlinux/dup,1"}}},
		{"sympos 2 has none", []string{"dup,2"}, target, own(nil), nil},
		{"sympos past the symbols", []string{"dup,3"}, target, own(nil), nil},
		{"ambiguous without sympos", []string{"dup"}, target, own(nil), nil},
		{"module object, dyndbg", []string{"mod/m_fn"}, target, own(nil),
			[]want{{`p: m_fn of mod loses dyndbg "poke %d\n" (m.c:19) while p_m_fn runs instead`, "mod/m_fn,1"}}},
		{"object not in the target", []string{"other/m_fn"}, target, own(nil), nil},
		{"candidate's sites unknown", []string{"a"}, target, nil, nil},
		{"no target", []string{"a"}, nil, own(nil), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Check(&Input{Candidates: candidates(lp{name: "p", funcs: tt.funcs}), Sites: tt.sites, CandidateSites: tt.cand})
			if err != nil {
				t.Fatal(err)
			}
			var got []want
			for _, f := range rep.Findings {
				if f.Rule != RuleInstrumentationLost {
					continue
				}
				if f.Severity != Warning || len(f.Patches) != 1 || f.Patches[0] != "p" || len(f.Functions) != 1 {
					t.Errorf("finding %+v: want a warning naming patch p and one function", f)
				}
				got = append(got, want{f.Message, f.Functions[0]})
			}
			if d := cmp.Diff(tt.want, got, cmp.AllowUnexported(want{})); d != "" {
				t.Errorf("KLP019 findings (-want +got):\n%s", d)
			}
		})
	}
}
