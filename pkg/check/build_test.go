package check

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

// builtAs gives st the kernel build-id and loaded target modules a
// capture on the host would record.
func builtAs(st *deploy.State, id string, mods ...klp.TargetModule) *deploy.State {
	st.Kernel.BuildID = id
	st.Kernel.Modules = mods
	return st
}

func TestTargetBuild(t *testing.T) {
	const (
		built   = "46f129f6d4168327b666a02d6287bcd5ece77f9b"
		rebuilt = "dc9e5df3c94a0a844ce50eb9ef87b7d7efbf3d22"
	)
	multi := lp{name: "lp_multi", funcs: []string{"a", "klpack_target/t_fn"}}
	plain := lp{name: "lp_plain", funcs: []string{"b"}}
	tm := func(src, id string) klp.TargetModule {
		return klp.TargetModule{Name: "klpack_target", Srcversion: src, BuildID: id}
	}
	type want struct {
		Patches []string
		Message string
	}
	tests := []struct {
		name string
		st   *deploy.State
		pin  *klp.Target
		want []want
	}{
		{name: "same build", st: builtAs(state(""), built), pin: &klp.Target{BuildID: built}},
		{name: "kernel rebuilt", st: builtAs(state(""), rebuilt), pin: &klp.Target{BuildID: built}, want: []want{{
			[]string{"lp_multi", "lp_plain"},
			"the release is pinned to kernel build-id " + built + ", the deployed kernel 6.12.117+deb12-amd64 runs build-id " + rebuilt,
		}}},
		{name: "host build unknown", st: state(""), pin: &klp.Target{BuildID: built}},
		{name: "no pin", st: builtAs(state(""), rebuilt)},
		{name: "module srcversion differs", st: builtAs(state(""), built, tm("AAAA", "0102")), pin: &klp.Target{BuildID: built, Modules: []klp.TargetModule{tm("BBBB", "0102")}}, want: []want{{
			[]string{"lp_multi"},
			"the release is pinned to module klpack_target srcversion BBBB, the deployed kernel runs srcversion AAAA",
		}}},
		{name: "module build-id when no srcversion", st: builtAs(state(""), built, tm("", "0102")), pin: &klp.Target{BuildID: built, Modules: []klp.TargetModule{tm("BBBB", "0304")}}, want: []want{{
			[]string{"lp_multi"},
			"the release is pinned to module klpack_target build-id 0304, the deployed kernel runs build-id 0102",
		}}},
		{name: "module same", st: builtAs(state(""), built, tm("AAAA", "0102")), pin: &klp.Target{BuildID: built, Modules: []klp.TargetModule{tm("AAAA", "0102")}}},
		{name: "module not loaded", st: builtAs(state(""), built), pin: &klp.Target{BuildID: built, Modules: []klp.TargetModule{tm("AAAA", "0102")}}},
		{name: "both differ", st: builtAs(state(""), rebuilt, tm("AAAA", "")), pin: &klp.Target{BuildID: built, Modules: []klp.TargetModule{tm("BBBB", "")}}, want: []want{
			// Sorted by the patches named.
			{[]string{"lp_multi"}, "the release is pinned to module klpack_target srcversion BBBB, the deployed kernel runs srcversion AAAA"},
			{[]string{"lp_multi", "lp_plain"}, "the release is pinned to kernel build-id " + built + ", the deployed kernel 6.12.117+deb12-amd64 runs build-id " + rebuilt},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Check(&Input{Deployed: tt.st, DeployedPath: "state.json", Candidates: candidates(multi, plain), Target: tt.pin})
			if err != nil {
				t.Fatal(err)
			}
			var got []want
			for _, f := range rep.Findings {
				if f.Rule != RuleTargetBuildMismatch {
					continue
				}
				if f.Severity != Error || f.File != "state.json" {
					t.Errorf("finding %+v: want an error on state.json", f)
				}
				got = append(got, want{f.Patches, f.Message})
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("KLP023 findings (-want +got):\n%s", d)
			}
		})
	}
}
