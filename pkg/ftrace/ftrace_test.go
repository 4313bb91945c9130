package ftrace

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/klpack/klpack/pkg/deploy"
)

// Lines as the guests of internal/e2e's TestTracingGuest printed them:
// Debian's 6.1.0-56 (R I D only) and the 7.2 test kernel (R I D O M).
const (
	ef61Kprobe = "cmdline_proc_show (1) R I  \ttramp: 0xffffffffc0394000 (kprobe_ftrace_handler+0x0/0x1b0) ->kprobe_ftrace_handler+0x0/0x1b0\n"
	ef61Stack  = "cmdline_proc_show (2) R I   ->arch_ftrace_ops_list_func+0x0/0x1d0\n" +
		"version_proc_show (1)   I  \ttramp: 0xffffffffc039f000 (klp_ftrace_handler+0x0/0x110) ->klp_ftrace_handler+0x0/0x110\n"
	ef72Kprobe = "cmdline_proc_show (1) R I     M \ttramp: 0xffffffffa0002000 (kprobe_ftrace_handler+0x0/0x16c) ->kprobe_ftrace_handler+0x0/0x16c\n"
	ef72NoPost = "cmdline_proc_show (1) R       M \ttramp: 0xffffffffa0003000 (kprobe_ftrace_handler+0x0/0x16c) ->kprobe_ftrace_handler+0x0/0x16c\n"
	// A BPF fexit program's trampoline (direct call), a module function,
	// arm64's call ops and 6.13's subops, as the kernels' t_show writes them.
	efDirect = "vfs_read (1) R   D   \ttramp: 0xffffffffc0406000 (call_direct_funcs+0x0/0x20)\n\tdirect-->bpf_trampoline_6442491234+0x0/0x1000\n"
	efJmp    = "vfs_write (1)     D   \n\tdirect(jmp)-->bpf_trampoline_6442491235+0x0/0x1000\n"
	efModule = "e2e_target_show [e2e_target] (1) R I   \ttramp: 0xffffffffc0400000 (kprobe_ftrace_handler+0x0/0x1a0)\n"
	efOps    = "do_sys_open (1)       O   \tops: 0xffff000012345678 (function_trace_call+0x0/0x140)\n"
	efSubops = "schedule (1)         M \ttramp: 0xffffffffc0410000 (function_graph_enter_regs+0x0/0x200) {ftrace_graph_func+0x0/0x40} {0xffffffffc0412000 (my_fgraph_entry+0x0/0x30 [mymod])}\n"

	kp61 = "ffffffff9b4105a0  k  cmdline_proc_show+0x0    [FTRACE]\n"
)

func TestParseEnabledFunctions(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []Record
	}{
		{"6.1 kprobe", ef61Kprobe, []Record{{Function: "cmdline_proc_show", Count: 1, Regs: true, IPModify: true, Handlers: []string{"kprobe_ftrace_handler"}}}},
		{"6.1 two users", ef61Stack, []Record{
			{Function: "cmdline_proc_show", Count: 2, Regs: true, IPModify: true},
			{Function: "version_proc_show", Count: 1, IPModify: true, Handlers: []string{"klp_ftrace_handler"}},
		}},
		{"7.2 kprobe", ef72Kprobe, []Record{{Function: "cmdline_proc_show", Count: 1, Regs: true, IPModify: true, Modified: true, Handlers: []string{"kprobe_ftrace_handler"}}}},
		{"7.2 no post handler", ef72NoPost, []Record{{Function: "cmdline_proc_show", Count: 1, Regs: true, Modified: true, Handlers: []string{"kprobe_ftrace_handler"}}}},
		{"direct", efDirect + efJmp, []Record{
			{Function: "vfs_read", Count: 1, Regs: true, Direct: true, Handlers: []string{"call_direct_funcs"}, DirectTo: "bpf_trampoline_6442491234"},
			{Function: "vfs_write", Count: 1, Direct: true, DirectTo: "bpf_trampoline_6442491235"},
		}},
		{"module", efModule, []Record{{Function: "e2e_target_show", Module: "e2e_target", Count: 1, Regs: true, IPModify: true, Handlers: []string{"kprobe_ftrace_handler"}}}},
		{"call ops", efOps, []Record{{Function: "do_sys_open", Count: 1, CallOps: true, Handlers: []string{"function_trace_call"}}}},
		{"subops", efSubops, []Record{{Function: "schedule", Count: 1, Modified: true, Handlers: []string{"function_graph_enter_regs", "ftrace_graph_func", "my_fgraph_entry"}}}},
		{"empty: nothing traced", "", nil},
		{"a disabled record's empty line", "\n" + ef61Kprobe, []Record{{Function: "cmdline_proc_show", Count: 1, Regs: true, IPModify: true, Handlers: []string{"kprobe_ftrace_handler"}}}},
		{"tramp error", "f (1) R I  \ttramp: ERROR!\n", []Record{{Function: "f", Count: 1, Regs: true, IPModify: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnabledFunctions([]byte(tt.text), "ef")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ParseEnabledFunctions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseEnabledFunctionsRefuses(t *testing.T) {
	tests := []struct{ name, text, msg string }{
		{"available_filter_functions", "cmdline_proc_show\n", `line 1: want "NAME [MODULE] (COUNT) FLAGS" (is this available_filter_functions?)`},
		{"with a module", "f [mod]\n", `line 1: want "(COUNT)" after the function (is this available_filter_functions?)`},
		{"bad name", "f\x1b[2J (1) R\n", `line 1: function "f\x1b[2J": not a symbol name`},
		{"bad module", "f [a/b] (1)\n", `line 1: module "[a/b]": not a module name`},
		{"bad count", "f (x) R\n", `line 1: count "(x)": not a count`},
		{"negative count", "f (-1) R\n", `line 1: count "(-1)": not a count`},
		{"bad flag", "f (1) R X\n", `line 1: flag "X": want R, I, D, O or M`},
		{"bad part", "f (1) R\tfoo: bar\n", `line 1: part "foo: bar": want "tramp: ..." or "ops: ..."`},
		{"unbalanced", "f (1) R\ttramp: 0x1 (klp_ftrace_handler+0x0\n", `line 1: part "tramp: 0x1 (klp_ftrace_handler+0x0": unbalanced '('`},
		{"bad handler", "f (1) R\ttramp: 0x1 (a b c)\n", `line 1: part "tramp: 0x1 (a b c)": symbol "a b c": want "SYMBOL+OFFSET/SIZE [MODULE]"`},
		{"orphan direct", "\tdirect-->x\n", "line 1: a direct call before any record"},
		{"bad continuation", "f (1) D\n\tsomething\n", `line 2: want a record, or "\tdirect-->TARGET" after one`},
		{"bad direct", "f (1) D\n\tdirect-->a;b\n", `line 2: direct target: symbol "a;b": not a symbol name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnabledFunctions([]byte(tt.text), "ef")
			fe, ok := errors.AsType[*FormatError](err)
			if !ok || got != nil {
				t.Fatalf("ParseEnabledFunctions = %v, %v; want nil and a *FormatError", got, err)
			}
			if want := "file ef: " + tt.msg; fe.Error() != want {
				t.Errorf("error %q, want %q", fe.Error(), want)
			}
		})
	}
}

func TestParseKprobes(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []Kprobe
	}{
		{"6.1 ftrace kprobe", kp61, []Kprobe{{Function: "cmdline_proc_show", Ftrace: true}}},
		{"hidden address, IBT offset", "0000000000000000  k  cmdline_proc_show+0x4    [FTRACE]\n", []Kprobe{{Function: "cmdline_proc_show", Offset: 4, Ftrace: true}}},
		{"module, flags", "ffffffffc0300004  r  e2e_target_show+0x4  e2e_target [DISABLED][FTRACE]\n", []Kprobe{{Return: true, Function: "e2e_target_show", Offset: 4, Module: "e2e_target", Disabled: true, Ftrace: true}}},
		{"optimized, gone", "ffffffff81000010  k  vfs_read+0x10    [GONE][OPTIMIZED]\n", []Kprobe{{Function: "vfs_read", Offset: 16, Gone: true, Optimized: true}}},
		{"no symbol", "ffffffffc0500000  k  0xffffffffc0500000 \n", []Kprobe{{}}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKprobes([]byte(tt.text), "list")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ParseKprobes (-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []struct{ text, msg string }{
		{"ffff  k\n", `line 1: want "ADDRESS TYPE SYMBOL+OFFSET [MODULE] [FLAGS]"`},
		{"zz  k  f+0x0\n", `line 1: address "zz" is not hexadecimal`},
		{"ffff  p  f+0x0\n", `line 1: type "p": want k or r`},
		{"ffff  k  f+12\n", `line 1: probe "f+12": want SYMBOL+0xOFFSET`},
		{"ffff  k  f\n", `line 1: probe "f": want SYMBOL+0xOFFSET`},
		{"ffff  k  f+0x0  a/b\n", `line 1: module "a/b": not a module name`},
		{"ffff  k  f+0x0  [FOO]\n", `line 1: flag "[FOO]": want [GONE], [DISABLED], [OPTIMIZED] or [FTRACE]`},
		{"ffff  k  f+0x0  [FTRACE\n", `line 1: flags "[FTRACE": want [GONE], [DISABLED], [OPTIMIZED] or [FTRACE]`},
	} {
		got, err := ParseKprobes([]byte(bad.text), "list")
		if fe, ok := errors.AsType[*FormatError](err); !ok || got != nil || fe.Error() != "file list: "+bad.msg {
			t.Errorf("ParseKprobes(%q) = %v, %v; want file list: %s", bad.text, got, err, bad.msg)
		}
	}
}

// TestSites: only records with I or D become sites, each with the armed
// ftrace kprobes of its own function and module.
func TestSites(t *testing.T) {
	recs, err := ParseEnabledFunctions([]byte(ef61Kprobe+efDirect+ef72NoPost+efModule+efOps), "ef")
	if err != nil {
		t.Fatal(err)
	}
	kps, err := ParseKprobes([]byte(kp61+kp61+
		"ffffffff9b4105a0  r  cmdline_proc_show+0x0    [FTRACE]\n"+
		"ffffffff9b4105a0  k  cmdline_proc_show+0x8\n"+ // not on the ftrace site
		"ffffffff9b4105a0  k  cmdline_proc_show+0x0    [DISABLED][FTRACE]\n"+
		"ffffffffc0300000  k  cmdline_proc_show+0x0  othermod [FTRACE]\n"+
		"ffffffffc0300004  k  e2e_target_show+0x4  e2e_target [FTRACE]\n"), "list")
	if err != nil {
		t.Fatal(err)
	}
	want := []deploy.FtraceSite{
		{Object: "vmlinux", Function: "cmdline_proc_show", Count: 1, IPModify: true, Handlers: []string{"kprobe_ftrace_handler"}, Kprobes: []string{"k cmdline_proc_show+0x0", "r cmdline_proc_show+0x0"}},
		{Object: "vmlinux", Function: "vfs_read", Count: 1, Direct: true, Handlers: []string{"call_direct_funcs"}, DirectTo: "bpf_trampoline_6442491234"},
		{Object: "e2e_target", Function: "e2e_target_show", Count: 1, IPModify: true, Handlers: []string{"kprobe_ftrace_handler"}, Kprobes: []string{"k e2e_target_show+0x4"}},
	}
	if diff := cmp.Diff(want, Sites(recs, kps), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Sites (-want +got):\n%s", diff)
	}
}

func TestIPModifyUser(t *testing.T) {
	site := func(count int, direct bool, handlers []string, kprobes ...string) *deploy.FtraceSite {
		return &deploy.FtraceSite{Object: "vmlinux", Function: "f", Count: count, IPModify: true, Direct: direct, Handlers: handlers, Kprobes: kprobes, DirectTo: map[bool]string{true: "bpf_trampoline_1"}[direct]}
	}
	tests := []struct {
		name        string
		s           *deploy.FtraceSite
		livepatched bool
		want        User
	}{
		{"klp handler", site(1, false, []string{"klp_ftrace_handler"}), false, User{UserLivepatch, "a livepatch (klp_ftrace_handler)"}},
		{"deployed patch, two users", site(2, false, nil, "k f+0x0"), true, User{UserLivepatch, "a livepatch (klp_ftrace_handler)"}},
		{"stale state: the one user is a kprobe", site(1, false, []string{"kprobe_ftrace_handler"}), true, User{UserKprobe, "a kprobe with a post handler (kprobe_ftrace_handler; no kprobes list to name it)"}},
		{"one kprobe", site(2, false, nil, "k f+0x0"), false, User{UserKprobe, "the kprobe at f+0x0, which has a post handler (kprobe_ipmodify_ops)"}},
		{"two kprobes", site(2, false, nil, "k f+0x0", "k f+0x4"), false, User{UserKprobe, "one of the kprobes at f+0x0, f+0x4, the one with a post handler (kprobe_ipmodify_ops)"}},
		{"kretprobe only", site(1, false, []string{"kprobe_ftrace_handler"}, "r f+0x0"), false, User{UserKprobe, "a kprobe with a post handler (kprobe_ftrace_handler; no kprobes list to name it)"}},
		{"handler only", site(1, false, []string{"kprobe_ftrace_handler"}), false, User{UserKprobe, "a kprobe with a post handler (kprobe_ftrace_handler; no kprobes list to name it)"}},
		{"direct before 6.0", site(1, true, []string{"call_direct_funcs"}), false, User{UserDirect, "a direct call to bpf_trampoline_1 that holds IPMODIFY itself (a BPF trampoline on a kernel before 6.0)"}},
		{"unknown handler", site(1, false, []string{"my_handler"}), false, User{UserUnknown, "an IPMODIFY ftrace user (my_handler)"}},
		{"nothing named", site(3, false, nil), false, User{UserUnknown, "an IPMODIFY ftrace user that the snapshot does not name (3 ftrace users on the function)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IPModifyUser(tt.s, tt.livepatched); got != tt.want {
				t.Errorf("IPModifyUser = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestReadHost reads a host root: tracefs first, then debugfs's tracing;
// what is missing is a note, a file that is not the kernel's an error.
func TestReadHost(t *testing.T) {
	write := func(t *testing.T, root, rel, text string) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	open := func(t *testing.T, dir string) *os.Root {
		t.Helper()
		r, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	t.Run("both", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "sys/kernel/tracing/enabled_functions", ef61Kprobe)
		write(t, dir, "sys/kernel/debug/kprobes/list", kp61)
		tr, notes, err := ReadHost(open(t, dir))
		if err != nil {
			t.Fatal(err)
		}
		want := &deploy.Tracing{Sources: []string{"enabled_functions", "kprobes/list"}, Sites: []deploy.FtraceSite{
			{Object: "vmlinux", Function: "cmdline_proc_show", Count: 1, IPModify: true, Handlers: []string{"kprobe_ftrace_handler"}, Kprobes: []string{"k cmdline_proc_show+0x0"}},
		}}
		if diff := cmp.Diff(want, tr); diff != "" {
			t.Errorf("ReadHost (-want +got):\n%s", diff)
		}
		wantNotes := []string{"tracing: read /sys/kernel/tracing/enabled_functions", "tracing: read /sys/kernel/debug/kprobes/list"}
		if diff := cmp.Diff(wantNotes, notes); diff != "" {
			t.Errorf("notes (-want +got):\n%s", diff)
		}
	})
	t.Run("debugfs tracing, no kprobes list", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "sys/kernel/debug/tracing/enabled_functions", ef72Kprobe)
		tr, notes, err := ReadHost(open(t, dir))
		if err != nil {
			t.Fatal(err)
		}
		if len(tr.Sources) != 1 || len(tr.Sites) != 1 || len(notes) != 2 ||
			notes[0] != "tracing: read /sys/kernel/debug/tracing/enabled_functions" ||
			notes[1] != "tracing: kprobes list not readable (/sys/kernel/debug/kprobes/list: no such file or directory): IPMODIFY users are named from enabled_functions alone" {
			t.Errorf("ReadHost = %+v, %q", tr, notes)
		}
	})
	t.Run("none", func(t *testing.T) {
		tr, notes, err := ReadHost(open(t, t.TempDir()))
		want := "tracing: enabled_functions not readable (/sys/kernel/tracing/enabled_functions: no such file or directory; /sys/kernel/debug/tracing/enabled_functions: no such file or directory): the state records no IPMODIFY users (mount tracefs, or give --enabled-functions)"
		if err != nil || tr != nil || len(notes) != 1 || notes[0] != want {
			t.Errorf("ReadHost = %+v, %q, %v; want nil and the note %q", tr, notes, err, want)
		}
	})
	t.Run("not the kernel's", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "sys/kernel/tracing/enabled_functions", "cmdline_proc_show\n")
		if _, _, err := ReadHost(open(t, dir)); !strings.Contains(err.Error(), "file /sys/kernel/tracing/enabled_functions: line 1:") {
			t.Errorf("ReadHost: %v, want the file and line named", err)
		}
	})
	t.Run("a FIFO is not read", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "sys/kernel/debug/tracing/enabled_functions", ef72Kprobe)
		if err := os.MkdirAll(filepath.Join(dir, "sys/kernel/tracing"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := mkfifo(filepath.Join(dir, "sys/kernel/tracing/enabled_functions")); err != nil {
			t.Fatal("mkfifo:", err)
		}
		tr, notes, err := ReadHost(open(t, dir))
		if err != nil || tr == nil || !strings.Contains(notes[0], "debug/tracing") {
			t.Errorf("ReadHost = %+v, %q, %v; want the FIFO passed over for debugfs's file", tr, notes, err)
		}
	})
}

// FuzzEnabledFunctions: no panic; an error or records, never both; what
// Sites makes of them is a valid deployed-state tracing that marshals.
func FuzzEnabledFunctions(f *testing.F) {
	for _, s := range []string{ef61Kprobe, ef61Stack, ef72Kprobe, ef72NoPost, efDirect + efJmp, efModule, efOps, efSubops, "", "\n\tdirect-->x\n"} {
		f.Add(s, kp61)
	}
	f.Add(ef61Kprobe, "ffffffffc0300004  r  e2e_target_show+0x4  e2e_target [DISABLED][FTRACE]\n")
	f.Fuzz(func(t *testing.T, ef, kp string) {
		recs, err := ParseEnabledFunctions([]byte(ef), "ef")
		if (err != nil) == (recs != nil) && err != nil {
			t.Fatalf("both records and an error: %v", err)
		}
		kps, kerr := ParseKprobes([]byte(kp), "kp")
		if kerr != nil && kps != nil {
			t.Fatalf("both kprobes and an error: %v", kerr)
		}
		if err != nil || kerr != nil {
			return
		}
		st := &deploy.State{Schema: deploy.StateSchema, Kernel: deploy.Kernel{Release: "6.1.0-56-amd64"}, Tracing: &deploy.Tracing{Sources: []string{SourceEnabledFunctions}, Sites: Sites(recs, kps)}}
		if err := st.Validate(); err != nil {
			t.Fatalf("sites from parsed files do not validate: %v", err)
		}
		if _, err := json.Marshal(st); err != nil {
			t.Fatal(err)
		}
		for i := range st.Tracing.Sites {
			IPModifyUser(&st.Tracing.Sites[i], false)
		}
	})
}
