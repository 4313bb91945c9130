package sim

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

// cbPatch is a livepatch module whose objects each patch one function and
// have all four callbacks, as the kernel's test_klp_callbacks_demo.
func cbPatch(name string, replace bool, objects ...string) *klp.Module {
	f := "static"
	p := &klp.Patch{Replace: replace}
	for _, o := range objects {
		var n *string
		if o != klp.VmlinuxName {
			n = ptr(o)
		}
		p.Objects = append(p.Objects, klp.Object{Name: n, Funcs: []klp.Func{{OldName: o + "_func", NewFunc: name + "_" + o + "_func"}},
			Callbacks: klp.Callbacks{PrePatch: "pre", PostPatch: "post", PreUnpatch: "pre_un", PostUnpatch: "post_un"}})
	}
	return &klp.Module{Name: name, Livepatch: true, Format: &f, Patches: []*klp.Patch{p}}
}

func plainModule(name string) *klp.Module {
	f := "static"
	return &klp.Module{Name: name, Format: &f}
}

type cbStep struct {
	a         Action
	wantErrno string
	want      []string // callbacks, "<callback> <patch> <object>"
	pending   string
}

// TestSelftestCallbacks replays the cases of the kernel's
// tools/testing/selftests/livepatch/test-callbacks.sh (linux-source-7.2)
// with the callbacks each case's expected log shows, in its order. demo is
// test_klp_callbacks_demo (objects vmlinux, mod, busy), demo2
// test_klp_callbacks_demo2 (vmlinux); mod and busy are the target modules.
func TestSelftestCallbacks(t *testing.T) {
	demo := cbPatch("demo", false, "vmlinux", "mod", "busy")
	demo2 := cbPatch("demo2", false, "vmlinux")
	demo2r := cbPatch("demo2", true, "vmlinux")
	// busy's work function sleeps in busy_func: a held task here.
	demoBusy := cbPatch("demo", false, "vmlinux", "mod", "busy")
	demoBusy.Patches[0].Objects[2].Funcs[0].OldName = "busy_func"
	load := func(m *klp.Module) Action { return Action{Kind: "load", Name: m.Name, Module: m} }
	failing := func(m *klp.Module) Action { return Action{Kind: "load", Name: m.Name, Module: m, Failing: true} }
	plain := func(n string) Action { return Action{Kind: "load", Name: n, Module: plainModule(n)} }
	act := func(kind, n string) Action { return Action{Kind: kind, Name: n} }
	for _, tt := range []struct {
		name  string
		steps []cbStep
	}{
		{"target module before livepatch", []cbStep{
			{a: plain("mod")},
			{a: load(demo), want: []string{"pre_patch demo vmlinux", "pre_patch demo mod", "post_patch demo vmlinux", "post_patch demo mod"}},
			{a: act("disable", "demo"), want: []string{"pre_unpatch demo vmlinux", "pre_unpatch demo mod", "post_unpatch demo vmlinux", "post_unpatch demo mod"}},
			{a: act("unload", "demo")},
			{a: act("unload", "mod")},
		}},
		{"module_coming notifier", []cbStep{
			{a: load(demo), want: []string{"pre_patch demo vmlinux", "post_patch demo vmlinux"}},
			{a: plain("mod"), want: []string{"pre_patch demo mod", "post_patch demo mod"}},
			{a: act("disable", "demo"), want: []string{"pre_unpatch demo vmlinux", "pre_unpatch demo mod", "post_unpatch demo vmlinux", "post_unpatch demo mod"}},
			{a: act("unload", "demo")},
			{a: act("unload", "mod")},
		}},
		{"module_going notifier", []cbStep{
			{a: plain("mod")},
			{a: load(demo), want: []string{"pre_patch demo vmlinux", "pre_patch demo mod", "post_patch demo vmlinux", "post_patch demo mod"}},
			{a: act("unload", "mod"), want: []string{"pre_unpatch demo mod", "post_unpatch demo mod"}},
			{a: act("disable", "demo"), want: []string{"pre_unpatch demo vmlinux", "post_unpatch demo vmlinux"}},
			{a: act("unload", "demo")},
		}},
		{"module_coming and module_going notifiers", []cbStep{
			{a: load(demo), want: []string{"pre_patch demo vmlinux", "post_patch demo vmlinux"}},
			{a: plain("mod"), want: []string{"pre_patch demo mod", "post_patch demo mod"}},
			{a: act("unload", "mod"), want: []string{"pre_unpatch demo mod", "post_unpatch demo mod"}},
			{a: act("disable", "demo"), want: []string{"pre_unpatch demo vmlinux", "post_unpatch demo vmlinux"}},
			{a: act("unload", "demo")},
		}},
		{"target module not present", []cbStep{
			{a: load(demo), want: []string{"pre_patch demo vmlinux", "post_patch demo vmlinux"}},
			{a: act("disable", "demo"), want: []string{"pre_unpatch demo vmlinux", "post_unpatch demo vmlinux"}},
			{a: act("unload", "demo")},
		}},
		{"pre-patch callback -ENODEV", []cbStep{
			{a: plain("mod")},
			{a: failing(demo), wantErrno: ENODEV, want: []string{"pre_patch demo vmlinux"}},
			{a: act("unload", "mod")},
		}},
		{"module_coming + pre-patch callback -ENODEV", []cbStep{
			{a: load(demo), want: []string{"pre_patch demo vmlinux", "post_patch demo vmlinux"}},
			{a: act("fail", "demo")},
			{a: plain("mod"), wantErrno: ENODEV, want: []string{"pre_patch demo mod"}},
			{a: act("disable", "demo"), want: []string{"pre_unpatch demo vmlinux", "post_unpatch demo vmlinux"}},
			{a: act("unload", "demo")},
		}},
		{"multiple target modules", []cbStep{
			{a: plain("busy")},
			{a: load(demo), want: []string{"pre_patch demo vmlinux", "pre_patch demo busy", "post_patch demo vmlinux", "post_patch demo busy"}},
			{a: plain("mod"), want: []string{"pre_patch demo mod", "post_patch demo mod"}},
			{a: act("unload", "mod"), want: []string{"pre_unpatch demo mod", "post_unpatch demo mod"}},
			{a: act("disable", "demo"), want: []string{"pre_unpatch demo vmlinux", "pre_unpatch demo busy", "post_unpatch demo vmlinux", "post_unpatch demo busy"}},
			{a: act("unload", "demo")},
			{a: act("unload", "busy")},
		}},
		{"busy target module", []cbStep{
			{a: plain("busy")},
			{a: Action{Kind: "hold", Name: "busy", Func: klp.FuncKey{Object: "busy", Name: "busy_func", Sympos: 1}}},
			{a: load(demoBusy), pending: "demo", want: []string{"pre_patch demo vmlinux", "pre_patch demo busy"}},
			{a: plain("mod"), pending: "demo", want: []string{"pre_patch demo mod"}},
			{a: act("unload", "mod"), pending: "demo", want: []string{"post_unpatch demo mod"}},
			{a: act("disable", "demo"), want: []string{"post_unpatch demo vmlinux", "post_unpatch demo busy"}},
			{a: act("unload", "demo")},
			{a: act("unload", "busy")},
		}},
		{"multiple livepatches", []cbStep{
			{a: load(demo), want: []string{"pre_patch demo vmlinux", "post_patch demo vmlinux"}},
			{a: load(demo2), want: []string{"pre_patch demo2 vmlinux", "post_patch demo2 vmlinux"}},
			{a: act("disable", "demo2"), want: []string{"pre_unpatch demo2 vmlinux", "post_unpatch demo2 vmlinux"}},
			{a: act("disable", "demo"), want: []string{"pre_unpatch demo vmlinux", "post_unpatch demo vmlinux"}},
			{a: act("unload", "demo2")},
			{a: act("unload", "demo")},
		}},
		{"atomic replace", []cbStep{
			{a: load(demo), want: []string{"pre_patch demo vmlinux", "post_patch demo vmlinux"}},
			{a: load(demo2r), want: []string{"pre_patch demo2 vmlinux", "post_patch demo2 vmlinux"}},
			{a: act("disable", "demo2"), want: []string{"pre_unpatch demo2 vmlinux", "post_unpatch demo2 vmlinux"}},
			{a: act("unload", "demo2")},
			{a: act("unload", "demo")},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := New(deploy.ModelMainline)
			s.TrackModules()
			for i, st := range tt.steps {
				got := s.Apply(st.a)
				where := fmt.Sprintf("step %d (%s %s)", i+1, st.a.Kind, st.a.Name)
				if got.Errno != st.wantErrno {
					t.Errorf("%s: errno %q (%s), want %q", where, got.Errno, got.Reason, st.wantErrno)
				}
				if diff := cmp.Diff(st.want, got.Callbacks); diff != "" {
					t.Errorf("%s: callbacks (-want +got):\n%s", where, diff)
				}
				if got.Pending != st.pending {
					t.Errorf("%s: pending %q, want %q", where, got.Pending, st.pending)
				}
			}
		})
	}
}

// TestLateModule pins what runs of a module's function as the module comes
// and goes under a patch.
func TestLateModule(t *testing.T) {
	demo := cbPatch("demo", false, "vmlinux", "mod")
	s, _ := New(deploy.ModelMainline)
	s.TrackModules()
	key := "mod/mod_func,1"
	for i, tt := range []struct {
		a    Action
		want map[string]string
	}{
		{Action{Kind: "load", Name: "demo", Module: demo}, map[string]string{"vmlinux/vmlinux_func,1": "demo", key: Absent}},
		{Action{Kind: "load", Name: "mod", Module: plainModule("mod")}, map[string]string{key: "demo"}},
		{Action{Kind: "unload", Name: "mod"}, map[string]string{key: Absent}},
		{Action{Kind: "load", Name: "mod", Module: plainModule("mod")}, map[string]string{key: "demo"}},
		{Action{Kind: "disable", Name: "demo"}, map[string]string{"vmlinux/vmlinux_func,1": Original, key: Original}},
	} {
		got := s.Apply(tt.a)
		if diff := cmp.Diff(tt.want, got.Funcs); diff != "" {
			t.Errorf("step %d (%s %s): functions (-want +got):\n%s", i+1, tt.a.Kind, tt.a.Name, diff)
		}
	}
	// Without module tracking (a deployed state's check), a module is
	// assumed loaded until a step unloads it.
	s, _ = New(deploy.ModelMainline)
	got := s.Apply(Action{Kind: "load", Name: "demo", Module: demo})
	if got.Funcs[key] != "demo" || len(got.Callbacks) != 4 {
		t.Errorf("untracked: functions %v, callbacks %v; want mod's function patched and 4 callbacks", got.Funcs, got.Callbacks)
	}
}

// TestCallbacksOnRefusal pins what runs when a pre_patch fails after other
// objects or patches got theirs: klp_cancel_transition runs post_unpatch
// of the objects before the failing one (here vmlinux, whose only
// callback is post_unpatch); klp_module_coming undoes the patches before
// the failing one (klp_cleanup_module_patches_limited: pre_unpatch and
// post_unpatch).
func TestCallbacksOnRefusal(t *testing.T) {
	s, _ := New(deploy.ModelMainline)
	s.TrackModules()
	halves := cbPatch("halves", false, "vmlinux", "mod")
	halves.Patches[0].Objects[0].Callbacks = klp.Callbacks{PostUnpatch: "post_un"}
	first := cbPatch("first", false, "mod")
	second := cbPatch("second", false, "vmlinux", "mod")
	for i, tt := range []struct {
		a         Action
		wantErrno string
		want      []string
	}{
		{a: Action{Kind: "load", Name: "mod", Module: plainModule("mod")}},
		{a: Action{Kind: "load", Name: "halves", Module: halves, Failing: true}, wantErrno: ENODEV,
			want: []string{"pre_patch halves mod", "post_unpatch halves vmlinux"}},
		{a: Action{Kind: "unload", Name: "mod"}},
		{a: Action{Kind: "load", Name: "first", Module: first}},
		{a: Action{Kind: "load", Name: "second", Module: second}, want: []string{"pre_patch second vmlinux", "post_patch second vmlinux"}},
		{a: Action{Kind: "fail", Name: "second"}},
		{a: Action{Kind: "load", Name: "mod", Module: plainModule("mod")}, wantErrno: ENODEV,
			want: []string{"pre_patch first mod", "post_patch first mod", "pre_patch second mod", "pre_unpatch first mod", "post_unpatch first mod"}},
		{a: Action{Kind: "fail", Name: "mod"}, wantErrno: ENOENT},
	} {
		got := s.Apply(tt.a)
		if got.Errno != tt.wantErrno {
			t.Errorf("step %d (%s %s): errno %q (%s), want %q", i+1, tt.a.Kind, tt.a.Name, got.Errno, got.Reason, tt.wantErrno)
		}
		if diff := cmp.Diff(tt.want, got.Callbacks); diff != "" {
			t.Errorf("step %d (%s %s): callbacks (-want +got):\n%s", i+1, tt.a.Kind, tt.a.Name, diff)
		}
	}
}
