package sim

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/pkg/deploy"
)

// TestSelftestFtrace replays the cases of the kernel's test-ftrace.sh
// (linux-source-7.2): test_klp_livepatch patches cmdline_proc_show.
func TestSelftestFtrace(t *testing.T) {
	lp := modSpec{name: "lp", funcs: []string{"cmdline_proc_show"}}
	off, on := FtraceEnabled+"=0", FtraceEnabled+"=1"
	for _, tt := range []struct {
		name  string
		steps []step
	}{
		{name: "livepatch interaction with ftrace_enabled sysctl", steps: []step{
			{kind: "sysctl", name: off},
			{kind: "load", mod: &lp, wantErrno: EBUSY, wantStack: []string{}},
			{kind: "sysctl", name: on},
			{kind: "load", mod: &lp, wantFuncs: map[string]string{fn("cmdline_proc_show"): "lp"}},
			{kind: "sysctl", name: off, wantErrno: EBUSY},
			{kind: "disable", name: "lp", wantFuncs: map[string]string{fn("cmdline_proc_show"): Original}},
			{kind: "unload", name: "lp"},
			// With no patch applied, ftrace may be turned off again.
			{kind: "sysctl", name: off},
			{kind: "sysctl", name: on},
		}},
		{name: "trace livepatched function and check that the live patch remains in effect", steps: []step{
			{kind: "load", mod: &lp, wantFuncs: map[string]string{fn("cmdline_proc_show"): "lp"}},
			{kind: "trace", name: "lp_cmdline_proc_show", wantStack: []string{"lp"}, wantFuncs: map[string]string{}},
			{kind: "disable", name: "lp"},
			{kind: "unload", name: "lp"},
		}},
		{name: "livepatch a traced function and check that the live patch remains in effect", steps: []step{
			{kind: "trace", name: "cmdline_proc_show"},
			{kind: "load", mod: &lp, wantFuncs: map[string]string{fn("cmdline_proc_show"): "lp"}},
			{kind: "disable", name: "lp"},
			{kind: "unload", name: "lp"},
		}},
		{name: "a sysctl the simulator does not model", steps: []step{
			{kind: "sysctl", name: "kernel.panic=1", wantErrno: EINVAL},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) { runSteps(t, deploy.ModelMainline, tt.steps) })
	}
}

// TestFtraceOffCallbacks: klp_patch_object fails after the object's
// pre_patch succeeded, so its post_unpatch runs on the way out; a module
// loading then is refused too.
func TestFtraceOffCallbacks(t *testing.T) {
	s, _ := New(deploy.ModelMainline)
	s.TrackModules()
	demo := cbPatch("demo", false, "vmlinux", "mod")
	late := cbPatch("late", false, "mod")
	for i, tt := range []struct {
		a         Action
		wantErrno string
		want      []string
	}{
		{a: Action{Kind: "load", Name: "late", Module: late}},
		{a: Action{Kind: "sysctl", Name: FtraceEnabled + "=0"}},
		{a: Action{Kind: "load", Name: "demo", Module: demo}, wantErrno: EBUSY, want: []string{"pre_patch demo vmlinux", "post_unpatch demo vmlinux"}},
		{a: Action{Kind: "load", Name: "mod", Module: plainModule("mod")}, wantErrno: EBUSY, want: []string{"pre_patch late mod", "post_unpatch late mod"}},
	} {
		got := s.Apply(tt.a)
		if got.Errno != tt.wantErrno {
			t.Errorf("step %d: errno %q (%s), want %q", i+1, got.Errno, got.Reason, tt.wantErrno)
		}
		if diff := cmp.Diff(tt.want, got.Callbacks); diff != "" {
			t.Errorf("step %d: callbacks (-want +got):\n%s", i+1, diff)
		}
	}
}
