package check

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/ftrace"
)

// tracingFrom reads an enabled_functions text and a kprobes list text
// ("" for none) as check --enabled-functions --kprobes does.
func tracingFrom(t *testing.T, ef, kp string) *deploy.Tracing {
	t.Helper()
	dir := t.TempDir()
	efPath, kpPath := filepath.Join(dir, "enabled_functions"), ""
	if err := os.WriteFile(efPath, []byte(ef), 0o644); err != nil {
		t.Fatal(err)
	}
	if kp != "" {
		kpPath = filepath.Join(dir, "list")
		if err := os.WriteFile(kpPath, []byte(kp), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := ftrace.ReadTracing(efPath, kpPath)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestFtraceIPModify: KLP022 fires for a candidate function whose ftrace
// record has an IPMODIFY user that is no livepatch, naming the user, and
// stays quiet for a livepatch's own I, a kprobe without post handler, a
// plain tracer, a BPF trampoline of 6.0+ and other objects' functions.
// The lines are as Debian's 6.1 and the 7.2 test kernel print them.
func TestFtraceIPModify(t *testing.T) {
	const (
		kprobeOne  = "cmdline_proc_show (1) R I   \ttramp: 0xffffffffc0400000 (kprobe_ftrace_handler+0x0/0x1a0) ->ftrace_ops_assist_func+0x0/0xf0\n"
		klpOne     = "cmdline_proc_show (1) R I   \ttramp: 0xffffffffc0402000 (klp_ftrace_handler+0x0/0x130) ->ftrace_ops_assist_func+0x0/0xf0\n"
		twoUsersI  = "cmdline_proc_show (2) R I   \n"
		noPost     = "cmdline_proc_show (1) R     \ttramp: 0xffffffffc0400000 (kprobe_ftrace_handler+0x0/0x1a0) ->ftrace_ops_assist_func+0x0/0xf0\n"
		tracer     = "cmdline_proc_show (1)       \ttramp: 0xffffffffc0404000 (function_trace_call+0x0/0x140) ->function_trace_call+0x0/0x140\n"
		bpfShares  = "cmdline_proc_show (1) R   D   \ttramp: 0xffffffffc0406000 (call_direct_funcs+0x0/0x20)\n\tdirect-->bpf_trampoline_6442491234+0x0/0x1000\n"
		bpfOld     = "cmdline_proc_show (1) R I D   \ttramp: 0xffffffffc0406000 (call_direct_funcs+0x0/0x20)\n\tdirect-->bpf_trampoline_6442491234+0x0/0x1000\n"
		modKprobe  = "e2e_target_show [e2e_target] (1) R I   \ttramp: 0xffffffffc0400000 (kprobe_ftrace_handler+0x0/0x1a0)\n"
		unknown    = "cmdline_proc_show (1) R I   \ttramp: 0xffffffffc0408000 (my_redirect_handler+0x0/0x40 [mymod])\n"
		listPost   = "ffffffff8130e5e4  k  cmdline_proc_show+0x4    [FTRACE]\n"
		listTwo    = "ffffffff8130e5e4  k  cmdline_proc_show+0x4    [FTRACE]\nffffffff8130e5e4  k  cmdline_proc_show+0x4    [FTRACE]\n"
		listRet    = "ffffffff8130e5e4  r  cmdline_proc_show+0x4    [FTRACE]\n"
		listOff    = "ffffffff8130e5e4  k  cmdline_proc_show+0x4    [DISABLED][FTRACE]\n"
		listModule = "ffffffffc0300004  k  e2e_target_show+0x4  e2e_target [FTRACE]\n"
	)
	e2eA := lp{name: "e2e_a", funcs: []string{"cmdline_proc_show", "version_proc_show"}}
	e2eN := lp{name: "e2e_n", funcs: []string{"cmdline_proc_show"}}
	late := lp{name: "e2e_late", funcs: []string{"e2e_target/e2e_target_show"}}
	withTracing := func(st *deploy.State, tr *deploy.Tracing) *deploy.State {
		st.Tracing = tr
		return st
	}
	tests := []struct {
		name string
		in   *Input
		// want is the message's text after "which already has an
		// IPMODIFY ftrace user" up to "; enabling"; "" for no finding.
		want  string
		funcs []string
	}{
		{"kprobe by handler", &Input{Candidates: candidates(e2eA), Tracing: tracingFrom(t, kprobeOne, "")},
			": a kprobe with a post handler (kprobe_ftrace_handler; no kprobes list to name it)", []string{"vmlinux/cmdline_proc_show,1"}},
		{"kprobe by list", &Input{Candidates: candidates(e2eA), Tracing: tracingFrom(t, kprobeOne, listPost)},
			": the kprobe at cmdline_proc_show+0x4, which has a post handler (kprobe_ipmodify_ops)", []string{"vmlinux/cmdline_proc_show,1"}},
		{"two kprobes", &Input{Candidates: candidates(e2eA), Tracing: tracingFrom(t, twoUsersI, listTwo+"ffffffff81000000  k  other+0x0    [FTRACE]\n")},
			": the kprobe at cmdline_proc_show+0x4, which has a post handler (kprobe_ipmodify_ops)", []string{"vmlinux/cmdline_proc_show,1"}},
		{"kretprobe is no owner", &Input{Candidates: candidates(e2eA), Tracing: tracingFrom(t, twoUsersI, listRet)},
			": an IPMODIFY ftrace user that the snapshot does not name (2 ftrace users on the function)", []string{"vmlinux/cmdline_proc_show,1"}},
		{"disabled kprobe is no owner", &Input{Candidates: candidates(e2eA), Tracing: tracingFrom(t, twoUsersI, listOff)},
			": an IPMODIFY ftrace user that the snapshot does not name (2 ftrace users on the function)", []string{"vmlinux/cmdline_proc_show,1"}},
		{"unknown user", &Input{Candidates: candidates(e2eA), Tracing: tracingFrom(t, unknown, "")},
			": an IPMODIFY ftrace user (my_redirect_handler)", []string{"vmlinux/cmdline_proc_show,1"}},
		{"bpf before 6.0", &Input{Candidates: candidates(e2eA), Tracing: tracingFrom(t, bpfOld, "")},
			": a direct call to bpf_trampoline_6442491234 that holds IPMODIFY itself (a BPF trampoline on a kernel before 6.0)", []string{"vmlinux/cmdline_proc_show,1"}},
		{"module function", &Input{Candidates: candidates(late), Tracing: tracingFrom(t, modKprobe, listModule)},
			": the kprobe at e2e_target_show+0x4, which has a post handler (kprobe_ipmodify_ops)", []string{"e2e_target/e2e_target_show,1"}},
		{"from the deployed state", &Input{Deployed: withTracing(state(""), tracingFrom(t, kprobeOne, listPost)), Candidates: candidates(e2eA)},
			": the kprobe at cmdline_proc_show+0x4, which has a post handler (kprobe_ipmodify_ops)", []string{"vmlinux/cmdline_proc_show,1"}},
		// The flags' snapshot wins over the state's.
		{"flags over state", &Input{Deployed: withTracing(state(""), tracingFrom(t, kprobeOne, "")), Candidates: candidates(e2eA), Tracing: tracingFrom(t, noPost, "")}, "", nil},

		{"livepatch's own", &Input{Candidates: candidates(e2eA), Tracing: tracingFrom(t, klpOne, "")}, "", nil},
		{"stacks on a deployed patch", &Input{Deployed: state("", e2eA), Candidates: candidates(e2eN), Tracing: tracingFrom(t, twoUsersI, listPost)}, "", nil},
		{"no post handler", &Input{Candidates: candidates(e2eA), Tracing: tracingFrom(t, noPost, listPost)}, "", nil},
		{"plain tracer", &Input{Candidates: candidates(e2eA), Tracing: tracingFrom(t, tracer, "")}, "", nil},
		{"bpf trampoline shares", &Input{Candidates: candidates(e2eA), Tracing: tracingFrom(t, bpfShares, "")}, "", nil},
		{"another object's function", &Input{Candidates: candidates(lp{name: "p", funcs: []string{"mod/cmdline_proc_show"}}), Tracing: tracingFrom(t, kprobeOne, "")}, "", nil},
		{"module kprobe, vmlinux patch", &Input{Candidates: candidates(e2eA), Tracing: tracingFrom(t, modKprobe, listModule)}, "", nil},
		{"nothing traced", &Input{Candidates: candidates(e2eA), Tracing: tracingFrom(t, "", "")}, "", nil},
		{"no snapshot", &Input{Candidates: candidates(e2eA)}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Check(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []Finding
			for _, f := range rep.Findings {
				if f.Rule == RuleFtraceIPModify {
					got = append(got, f)
				}
			}
			if tt.want == "" {
				if len(got) != 0 {
					t.Fatalf("KLP022 fired: %+v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("KLP022 fired %d times, want once: %+v", len(got), rep.Findings)
			}
			f := got[0]
			name := tt.in.Candidates[0].Name
			fn := strings.TrimSuffix(tt.funcs[0][strings.IndexByte(tt.funcs[0], '/')+1:], ",1")
			wantMsg := name + " patches " + tt.funcs[0] + ", which already has an IPMODIFY ftrace user" + tt.want +
				"; enabling " + name + " fails with EBUSY (dmesg: livepatch: failed to register ftrace handler for function '" + fn + "' (-16))"
			if f.Message != wantMsg || f.Severity != Error || !slices.Equal(f.Patches, []string{name}) || !slices.Equal(f.Functions, tt.funcs) {
				t.Errorf("finding %q %v %v %v,\nwant      %q error [%s] %v", f.Message, f.Severity, f.Patches, f.Functions, wantMsg, name, tt.funcs)
			}
		})
	}
}

// TestFtraceSameName: enabled_functions names a function without its
// sympos; with two of one name in vmlinux, one holding a kprobe's I, the
// finding says the snapshot cannot tell which.
func TestFtraceSameName(t *testing.T) {
	ef := "dup (1) R I   \ttramp: 0xffffffffc0402000 (klp_ftrace_handler+0x0/0x130)\n" +
		"dup (1) R I   \ttramp: 0xffffffffc0400000 (kprobe_ftrace_handler+0x0/0x1a0)\n"
	rep, err := Check(&Input{Candidates: candidates(lp{name: "p", funcs: []string{"dup,2"}}), Tracing: tracingFrom(t, ef, "")})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 || !strings.Contains(rep.Findings[0].Message, "which already has an IPMODIFY ftrace user (one of 2 functions of that name in vmlinux with one; enabled_functions gives no sympos): a kprobe with a post handler") {
		t.Errorf("findings %+v, want one KLP022 saying the sympos is not known", rep.Findings)
	}
}
