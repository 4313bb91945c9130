package templates

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klpack/klpack/internal/testutil"
)

// fakeHost is a temporary directory the loader sees as a host: a sysfs
// tree, /proc/cmdline, the packaged patches, and insmod, rmmod and uname
// on $PATH that act on the sysfs tree. A goroutine plays the kernel:
// transitions of patches not told to stall finish after a tick, and a
// disabled patch is freed (its directory removed) once its transition is
// over.
type fakeHost struct {
	t                      *testing.T
	dir, sys, lib, fakeBin string
	kernel                 string
	// env is added to the loader's environment, after the defaults.
	env  []string
	stop func()
	wg   sync.WaitGroup
}

const fakeKernel = "6.1.0-56-amd64"

// Fake commands. insmod records the file it loaded from in
// sys/module/<module>/file ($FAKE shown as F) and reads
// $FAKE/behave/<module>: refuse, refuse-installed (refuses the file
// under $FAKE/lib, not a kept copy), stall (the
// enable transition never finishes), stuck (neither does a disable) or
// replace (an atomic replace patch: once its transition is over, the
// kernel frees every other patch).
const (
	fakeInsmod = `#!/bin/sh
m=$(basename "$1" .ko)
b=$(cat "$FAKE/behave/$m" 2>/dev/null || echo ok)
case $b:$1 in
refuse:* | refuse-installed:"$FAKE/lib/"*)
	echo "insmod $m refused" >>"$FAKE/log"
	echo "insmod: ERROR: could not insert module $1: Invalid parameters" >&2
	exit 1
	;;
refuse-over-*)
	# As the kernel refuses a replace that drops a klp_state the patch
	# named after refuse-over- holds.
	if [ -d "$FAKE/sys/kernel/livepatch/${b#refuse-over-}" ]; then
		echo "insmod $m refused" >>"$FAKE/log"
		echo "insmod: ERROR: could not insert module $1: Invalid parameters" >&2
		exit 1
	fi
	;;
esac
if [ -d "$FAKE/sys/module/$m" ]; then
	echo "insmod $m exists" >>"$FAKE/log"
	echo "insmod: ERROR: could not insert module $1: File exists" >&2
	exit 1
fi
echo "insmod $m" >>"$FAKE/log"
mkdir -p "$FAKE/sys/module/$m" "$FAKE/sys/kernel/livepatch/$m"
echo "$1" | sed "s|$FAKE|F|" >"$FAKE/sys/module/$m/file"
echo 1 >"$FAKE/sys/kernel/livepatch/$m/transition"
echo 1 >"$FAKE/sys/kernel/livepatch/$m/enabled"
`
	fakeRmmod = `#!/bin/sh
if [ -d "$FAKE/sys/kernel/livepatch/$1" ]; then
	echo "rmmod $1 busy" >>"$FAKE/log"
	echo "rmmod: ERROR: Module $1 is in use" >&2
	exit 1
fi
echo "rmmod $1" >>"$FAKE/log"
rm -rf "$FAKE/sys/module/$1"
`
	fakeUname = `#!/bin/sh
cat "$FAKE/uname"
`
	// fakeKlpack logs "klpack ARGS" ($FAKE shown as F) and exits with
	// the status in $FAKE/behave/klpack.
	fakeKlpack = `#!/bin/sh
echo "klpack $*" | sed "s|$FAKE|F|g" >>"$FAKE/log"
exit $(cat "$FAKE/behave/klpack" 2>/dev/null || echo 0)
`
)

func newFakeHost(t *testing.T, modules ...string) *fakeHost {
	t.Helper()
	dir := t.TempDir()
	h := &fakeHost{t: t, dir: dir, sys: filepath.Join(dir, "sys"), lib: filepath.Join(dir, "lib"), fakeBin: filepath.Join(dir, "bin"), kernel: fakeKernel}
	for _, d := range []string{h.sys + "/kernel/livepatch", h.sys + "/module", h.fakeBin, dir + "/behave", dir + "/run"} {
		mkdir(t, d)
	}
	write(t, filepath.Join(h.fakeBin, "insmod"), fakeInsmod, 0o755)
	write(t, filepath.Join(h.fakeBin, "rmmod"), fakeRmmod, 0o755)
	write(t, filepath.Join(h.fakeBin, "uname"), fakeUname, 0o755)
	write(t, filepath.Join(dir, "uname"), fakeKernel+"\n", 0o644)
	write(t, filepath.Join(dir, "cmdline"), "BOOT_IMAGE=/vmlinuz root=/dev/vda1 quiet\n", 0o644)
	write(t, filepath.Join(dir, "log"), "", 0o644)
	// One package per module, the order files listed in reverse so that
	// the loader must sort them.
	for _, m := range slices.Backward(modules) {
		pkg := filepath.Join(h.lib, fakeKernel, "klp-patch-"+m)
		mkdir(t, pkg)
		n := slices.Index(modules, m) + 1
		write(t, filepath.Join(pkg, "order"), strconv.Itoa(n)+" "+m+" off-band "+pkg+"/"+m+".ko\n", 0o644)
		write(t, filepath.Join(pkg, m+".ko"), "module "+m+"\n", 0o644)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.wg.Add(1)
	go h.kernelLoop(ctx)
	h.stop = func() { cancel(); h.wg.Wait() }
	t.Cleanup(h.stop)
	return h
}

// insmod loads m as the fake insmod does and waits for its transition.
func (h *fakeHost) insmod(m string) {
	h.t.Helper()
	cmd := exec.Command("sh", filepath.Join(h.fakeBin, "insmod"), m+".ko")
	cmd.Env = append(os.Environ(), "FAKE="+h.dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		h.t.Fatalf("fake insmod %s: %v\n%s", m, err, out)
	}
	for range 100 {
		if read(filepath.Join(h.sys, "kernel", "livepatch", m, "transition")) == "0" {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.t.Fatalf("fake kernel: %s did not finish its transition", m)
}

func mkdir(t *testing.T, d string) {
	t.Helper()
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, s string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), mode); err != nil {
		t.Fatal(err)
	}
}

func (h *fakeHost) behave(m, b string) {
	write(h.t, filepath.Join(h.dir, "behave", m), b, 0o644)
}

func read(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func (h *fakeHost) kernelLoop(ctx context.Context) {
	defer h.wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		lp := filepath.Join(h.sys, "kernel", "livepatch")
		ents, _ := os.ReadDir(lp)
		for _, e := range ents {
			d := filepath.Join(lp, e.Name())
			b := read(filepath.Join(h.dir, "behave", e.Name()))
			enabled, transition := read(d+"/enabled"), read(d+"/transition")
			switch {
			case enabled == "1" && transition == "1" && b != "stall":
				os.WriteFile(d+"/transition", []byte("0\n"), 0o644)
				if b == "replace" {
					// An atomic replace that completes frees every
					// other patch; their modules stay loaded.
					for _, o := range ents {
						if o.Name() != e.Name() {
							os.RemoveAll(filepath.Join(lp, o.Name()))
						}
					}
				}
			case enabled == "0" && b != "stuck":
				// A disable, or the reversal of a stalled enable: the
				// patch is freed.
				os.RemoveAll(d)
			}
		}
	}
}

// run runs the loader under sh, which is "busybox sh" or "dash". Busybox
// built standalone (as Debian's busybox-static is) runs its applets before
// anything on $PATH, so under it the fakes are named by the loader's
// KLPACK_INSMOD, KLPACK_RMMOD and KLPACK_UNAME; dash finds them on $PATH.
func (h *fakeHost) run(sh string, args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	cmd := h.command(sh, args...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	code = exitCode(h.t, cmd.Run())
	return o.String(), e.String(), code
}

// command is the loader's command line and environment on the host.
func (h *fakeHost) command(sh string, args ...string) *exec.Cmd {
	h.t.Helper()
	var argv []string
	env := []string{"PATH=" + h.fakeBin + ":" + os.Getenv("PATH")}
	switch sh {
	case "busybox":
		argv = []string{testutil.NeedTool(h.t, "busybox"), "sh"}
		for _, c := range []string{"insmod", "rmmod", "uname"} {
			env = append(env, "KLPACK_"+strings.ToUpper(c)+"="+filepath.Join(h.fakeBin, c))
		}
	default:
		argv = []string{testutil.NeedTool(h.t, sh)}
	}
	loader, err := Loader(LoaderData{Kernel: fakeKernel, LibDir: "/usr/lib/klpack"})
	if err != nil {
		h.t.Fatal(err)
	}
	path := filepath.Join(h.dir, "klpack-load")
	write(h.t, path, string(loader), 0o755)
	argv = append(append(argv, path), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), env...),
		"FAKE="+h.dir,
		"KLPACK_SYSFS="+h.sys,
		"KLPACK_CMDLINE="+filepath.Join(h.dir, "cmdline"),
		"KLPACK_LIBDIR="+h.lib,
		"KLPACK_RUNDIR="+filepath.Join(h.dir, "run"),
		"KLPACK_STATEDIR="+filepath.Join(h.dir, "state"),
		"KLPACK_TIMEOUT=1",
		"KLPACK_BIN="+filepath.Join(h.fakeBin, "klpack"),
		"KLPACK_BPFFS="+filepath.Join(h.dir, "bpffs"),
		"LC_ALL=C",
	)
	cmd.Env = append(cmd.Env, h.env...)
	cmd.Dir = h.dir
	return cmd
}

func (h *fakeHost) log() []string {
	s := read(filepath.Join(h.dir, "log"))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func (h *fakeHost) loaded() []string {
	var out []string
	ents, _ := os.ReadDir(filepath.Join(h.sys, "module"))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// patches lists the livepatch directories in sysfs as "module enabled=N".
func (h *fakeHost) patches() []string {
	var out []string
	lp := filepath.Join(h.sys, "kernel", "livepatch")
	ents, _ := os.ReadDir(lp)
	for _, e := range ents {
		out = append(out, e.Name()+" enabled="+read(filepath.Join(lp, e.Name(), "enabled")))
	}
	return out
}

func TestLoader(t *testing.T) {
	tests := []struct {
		name       string
		behave     map[string]string
		uname      string
		cmdline    string
		preload    []string
		args       []string
		wantCode   int
		wantLog    []string
		wantLoaded []string
		wantOut    string // in stdout
		wantErr    string // in stderr
		// hooks: lp_b's package carries a hook object; klpack: the fake
		// klpack's exit status ("" for no klpack installed); pinned:
		// hooks are pinned in bpffs already.
		hooks  bool
		klpack string
		pinned bool
	}{{
		name:       "success in order",
		wantLog:    []string{"insmod lp_a", "insmod lp_b", "insmod lp_c"},
		wantLoaded: []string{"lp_a", "lp_b", "lp_c"},
		wantOut:    "3 patches for 6.1.0-56-amd64 in place (3 loaded now)",
	}, {
		name:       "hooks attached after the loads, synced after each",
		hooks:      true,
		klpack:     "0",
		pinned:     true,
		wantLog:    []string{"insmod lp_a", "klpack hooks sync --bpffs F/bpffs", "insmod lp_b", "klpack hooks sync --bpffs F/bpffs", "insmod lp_c", "klpack hooks sync --bpffs F/bpffs", "klpack hooks attach --bpffs F/bpffs F/lib/6.1.0-56-amd64/klp-patch-lp_b/hooks/lp_b_hook.bpf.o", "klpack hooks sync --bpffs F/bpffs --wait"},
		wantLoaded: []string{"lp_a", "lp_b", "lp_c"},
		wantOut:    "3 patches for 6.1.0-56-amd64 in place (3 loaded now)",
	}, {
		name:       "first hooks: nothing pinned to sync during the loads",
		hooks:      true,
		klpack:     "0",
		wantLog:    []string{"insmod lp_a", "insmod lp_b", "insmod lp_c", "klpack hooks attach --bpffs F/bpffs F/lib/6.1.0-56-amd64/klp-patch-lp_b/hooks/lp_b_hook.bpf.o", "klpack hooks sync --bpffs F/bpffs --wait"},
		wantLoaded: []string{"lp_a", "lp_b", "lp_c"},
	}, {
		name:       "hooks refused: patches stay, exit 1",
		hooks:      true,
		klpack:     "1",
		wantCode:   1,
		wantLog:    []string{"insmod lp_a", "insmod lp_b", "insmod lp_c", "klpack hooks attach --bpffs F/bpffs F/lib/6.1.0-56-amd64/klp-patch-lp_b/hooks/lp_b_hook.bpf.o", "klpack hooks sync --bpffs F/bpffs --wait"},
		wantLoaded: []string{"lp_a", "lp_b", "lp_c"},
		wantErr:    "the patches are in place, but their BPF hooks are not all attached",
	}, {
		name:       "hooks without klpack installed: patches stay, exit 1",
		hooks:      true,
		wantCode:   1,
		wantLog:    []string{"insmod lp_a", "insmod lp_b", "insmod lp_c"},
		wantLoaded: []string{"lp_a", "lp_b", "lp_c"},
		wantErr:    "is not installed: hooks attach not run",
	}, {
		name:       "no hooks in the release: klpack is not run",
		klpack:     "0",
		pinned:     true,
		wantLog:    []string{"insmod lp_a", "insmod lp_b", "insmod lp_c"},
		wantLoaded: []string{"lp_a", "lp_b", "lp_c"},
	}, {
		name:       "refused load undoes the earlier ones",
		behave:     map[string]string{"lp_c": "refuse"},
		wantCode:   1,
		wantLog:    []string{"insmod lp_a", "insmod lp_b", "insmod lp_c refused", "rmmod lp_b", "rmmod lp_a"},
		wantLoaded: nil,
		wantErr:    "failed: lp_c was refused",
	}, {
		name:       "stalled transition times out and rolls back in reverse",
		behave:     map[string]string{"lp_b": "stall"},
		wantCode:   1,
		wantLog:    []string{"insmod lp_a", "insmod lp_b", "rmmod lp_b", "rmmod lp_a"},
		wantLoaded: nil,
		wantErr:    "lp_b: transition did not finish within 1s",
	}, {
		name:       "rollback that cannot disable says so",
		behave:     map[string]string{"lp_a": "stuck", "lp_b": "refuse"},
		wantCode:   1,
		wantLog:    []string{"insmod lp_a", "insmod lp_b refused"},
		wantLoaded: []string{"lp_a"},
		wantErr:    "restore incomplete",
	}, {
		// One module that cannot be undone does not stop the rollback:
		// the older ones are still unloaded.
		name:       "rollback goes on past a module it cannot undo",
		behave:     map[string]string{"lp_b": "stuck", "lp_c": "refuse"},
		wantCode:   1,
		wantLog:    []string{"insmod lp_a", "insmod lp_b", "insmod lp_c refused", "rmmod lp_a"},
		wantLoaded: []string{"lp_b"},
		wantErr:    "restore incomplete",
	}, {
		name:     "another kernel does nothing",
		uname:    "6.1.0-57-amd64",
		wantOut:  "running kernel 6.1.0-57-amd64, these patches are for 6.1.0-56-amd64: nothing to do",
		wantLog:  nil,
		wantCode: 0,
	}, {
		name:    "kernel command line escape hatch",
		cmdline: "root=/dev/vda1 klpack.enable=0 quiet",
		wantOut: "klpack.enable=0 on the kernel command line: nothing loaded",
	}, {
		name:       "already loaded patches are kept",
		preload:    []string{"lp_a"},
		wantLog:    []string{"insmod lp_a", "insmod lp_b", "insmod lp_c"},
		wantLoaded: []string{"lp_a", "lp_b", "lp_c"},
		wantOut:    "lp_a already loaded",
	}, {
		name:       "stop unloads one patch",
		preload:    []string{"lp_a", "lp_b"},
		args:       []string{"stop", "lp_b"},
		wantLog:    []string{"insmod lp_a", "insmod lp_b", "rmmod lp_b"},
		wantLoaded: []string{"lp_a"},
		wantOut:    "unloading lp_b",
	}, {
		name:     "usage",
		args:     []string{"frobnicate"},
		wantCode: 2,
		wantErr:  "usage: klpack-load start | mark | trigger | stop MODULE | status",
	}}
	for _, sh := range []string{"busybox", "dash"} {
		for _, tt := range tests {
			t.Run(sh+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				h := newFakeHost(t, "lp_a", "lp_b", "lp_c")
				for _, m := range tt.preload {
					h.insmod(m)
				}
				for m, b := range tt.behave {
					h.behave(m, b)
				}
				if tt.uname != "" {
					write(t, filepath.Join(h.dir, "uname"), tt.uname+"\n", 0o644)
				}
				if tt.cmdline != "" {
					write(t, filepath.Join(h.dir, "cmdline"), tt.cmdline+"\n", 0o644)
				}
				if tt.hooks {
					hooks := filepath.Join(h.lib, fakeKernel, "klp-patch-lp_b", "hooks")
					mkdir(t, hooks)
					write(t, filepath.Join(hooks, "lp_b_hook.bpf.o"), "", 0o644)
				}
				if tt.klpack != "" {
					write(t, filepath.Join(h.fakeBin, "klpack"), fakeKlpack, 0o755)
					h.behave("klpack", tt.klpack)
				}
				if tt.pinned {
					mkdir(t, filepath.Join(h.dir, "bpffs"))
				}
				args := tt.args
				if args == nil {
					args = []string{"start"}
				}
				stdout, stderr, code := h.run(sh, args...)
				if code != tt.wantCode {
					t.Errorf("klpack-load %v exited %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, tt.wantCode, stdout, stderr)
				}
				if got := h.log(); !slices.Equal(got, tt.wantLog) {
					t.Errorf("klpack-load %v ran\n  %q\nwant\n  %q", args, got, tt.wantLog)
				}
				if got := h.loaded(); !slices.Equal(got, tt.wantLoaded) {
					t.Errorf("klpack-load %v left loaded %q, want %q", args, got, tt.wantLoaded)
				}
				// Every module left loaded has its patch enabled: a
				// disable the loader gives up on (the stuck rollback)
				// must be reversed, not left half done.
				var wantPatches []string
				for _, m := range tt.wantLoaded {
					wantPatches = append(wantPatches, m+" enabled=1")
				}
				if got := h.patches(); !slices.Equal(got, wantPatches) {
					t.Errorf("klpack-load %v left patches %q, want %q", args, got, wantPatches)
				}
				if !strings.Contains(stdout, tt.wantOut) {
					t.Errorf("klpack-load %v stdout:\n%s\nwant it to contain %q", args, stdout, tt.wantOut)
				}
				if !strings.Contains(stderr, tt.wantErr) {
					t.Errorf("klpack-load %v stderr:\n%s\nwant it to contain %q", args, stderr, tt.wantErr)
				}
				if _, err := os.Stat(filepath.Join(h.dir, "run", "klpack-load.lock")); err == nil {
					t.Errorf("klpack-load %v left its lock behind", args)
				}
			})
		}
	}
}

// argvKlpack writes the arguments of "klpack hooks attach" to
// $FAKE/argv, each NUL-terminated: the exact argument vector.
const argvKlpack = `#!/bin/sh
[ "$2" = attach ] && printf '%s\0' "$@" >"$FAKE/argv"
exit 0
`

// TestLoaderHookNames: hook objects whose names hold blanks, newlines,
// quotes, globs and command substitutions each reach "klpack hooks
// attach" as one argument, unchanged, and nothing in them runs.
func TestLoaderHookNames(t *testing.T) {
	names := []string{
		"a b.bpf.o",
		"nl\nx.bpf.o",
		"$(touch pwned).bpf.o",
		"`touch pwned2`.bpf.o",
		"q'uote\".bpf.o",
		"*.bpf.o",
		"-rf.bpf.o",
		"tab\tx.bpf.o",
	}
	for _, sh := range []string{"busybox", "dash"} {
		t.Run(sh, func(t *testing.T) {
			t.Parallel()
			h := newFakeHost(t, "lp_a")
			hooks := filepath.Join(h.lib, fakeKernel, "klp-patch-lp_a", "hooks")
			mkdir(t, hooks)
			var want []string
			for _, n := range names {
				write(t, filepath.Join(hooks, n), "", 0o644)
				want = append(want, filepath.Join(hooks, n))
			}
			slices.Sort(want) // the glob's order under LC_ALL=C
			write(t, filepath.Join(h.fakeBin, "klpack"), argvKlpack, 0o755)
			stdout, stderr, code := h.run(sh, "start")
			if code != 0 {
				t.Fatalf("klpack-load start exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			b, err := os.ReadFile(filepath.Join(h.dir, "argv"))
			if err != nil {
				t.Fatalf("klpack hooks attach did not run: %v\nstderr:\n%s", err, stderr)
			}
			attach := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
			bpffs := filepath.Join(h.dir, "bpffs")
			if wantArgv := append([]string{"hooks", "attach", "--bpffs", bpffs}, want...); !slices.Equal(attach, wantArgv) {
				t.Errorf("klpack ran with\n  %q\nwant\n  %q", attach, wantArgv)
			}
			for _, f := range []string{"pwned", "pwned2"} {
				if _, err := os.Stat(filepath.Join(h.dir, f)); err == nil {
					t.Errorf("a hook object's name ran a command: %s exists", f)
				}
			}
		})
	}
}

// TestLoaderRefusesBadInput: a timeout the tick arithmetic would overflow
// and module names that would leave sysfs are refused before anything
// is loaded or unloaded.
func TestLoaderRefusesBadInput(t *testing.T) {
	tests := []struct {
		name     string
		env      []string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"timeout overflows", []string{"KLPACK_TIMEOUT=9223372036854775807"}, []string{"start"}, 2, "KLPACK_TIMEOUT must be a whole number of seconds from 1 to 3600"},
		{"timeout of 0", []string{"KLPACK_TIMEOUT=0"}, []string{"start"}, 2, "KLPACK_TIMEOUT must be"},
		{"timeout not a number", []string{"KLPACK_TIMEOUT=1+1"}, []string{"start"}, 2, "KLPACK_TIMEOUT must be"},
		{"timeout over an hour", []string{"KLPACK_TIMEOUT=3601"}, []string{"start"}, 2, "KLPACK_TIMEOUT must be"},
		{"stop a path", nil, []string{"stop", "../../../tmp/x"}, 2, "'../../../tmp/x' is not a module name"},
		{"stop a glob", nil, []string{"stop", "lp_*"}, 2, "'lp_*' is not a module name"},
	}
	for _, sh := range []string{"busybox", "dash"} {
		for _, tt := range tests {
			t.Run(sh+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				h := newFakeHost(t, "lp_a")
				h.insmod("lp_a")
				h.env = tt.env
				stdout, stderr, code := h.run(sh, tt.args...)
				if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
					t.Errorf("klpack-load %q exited %d, stderr:\n%s\nwant %d and %q (stdout:\n%s)", tt.args, code, stderr, tt.wantCode, tt.wantErr, stdout)
				}
				if got, want := h.log(), []string{"insmod lp_a"}; !slices.Equal(got, want) {
					t.Errorf("klpack-load %q ran %q, want only the test's %q", tt.args, got, want)
				}
			})
		}
	}
}

// TestLoaderBadOrderFile: an order file naming a module that is no
// module name stops the start before insmod sees it.
func TestLoaderBadOrderFile(t *testing.T) {
	for _, sh := range []string{"busybox", "dash"} {
		t.Run(sh, func(t *testing.T) {
			t.Parallel()
			h := newFakeHost(t, "lp_a")
			pkg := filepath.Join(h.lib, fakeKernel, "klp-patch-evil")
			mkdir(t, pkg)
			write(t, filepath.Join(pkg, "order"), "2 ../../x off-band "+pkg+"/x.ko\n", 0o644)
			_, stderr, code := h.run(sh, "start")
			if code != 1 || !strings.Contains(stderr, "an order file names the module '../../x'") {
				t.Errorf("klpack-load start exited %d, stderr:\n%s\nwant 1 and the bad name", code, stderr)
			}
			if got, want := h.log(), []string{"insmod lp_a", "rmmod lp_a"}; !slices.Equal(got, want) {
				t.Errorf("klpack-load start ran %q, want %q", got, want)
			}
		})
	}
}

// addPackage installs a package of module m at load order n.
func (h *fakeHost) addPackage(m string, n int) {
	pkg := filepath.Join(h.lib, fakeKernel, "klp-patch-"+m)
	mkdir(h.t, pkg)
	write(h.t, filepath.Join(pkg, "order"), strconv.Itoa(n)+" "+m+" off-band "+pkg+"/"+m+".ko\n", 0o644)
	write(h.t, filepath.Join(pkg, m+".ko"), "module "+m+"\n", 0o644)
}

func (h *fakeHost) removePackage(m string) {
	if err := os.RemoveAll(filepath.Join(h.lib, fakeKernel, "klp-patch-"+m)); err != nil {
		h.t.Fatal(err)
	}
}

// TestLoaderSync runs the loader over a sequence of package changes on
// one host: each start makes the kernel match the installed packages,
// unloading only what it loaded itself, loading again an off-band patch
// that a new cumulative replace freed, and unloading the old cumulative
// after the new one replaced it (never before).
func TestLoaderSync(t *testing.T) {
	type step struct {
		name    string
		change  func(h *fakeHost)
		args    []string
		code    int
		wantLog []string // the log lines this step adds
		wantOut string
		wantErr string
	}
	steps := []step{{
		name:    "first install",
		wantLog: []string{"insmod lp_a", "insmod lp_b", "insmod lp_c"},
	}, {
		name:    "a removed package's patch is unloaded",
		change:  func(h *fakeHost) { h.removePackage("lp_b") },
		wantLog: []string{"rmmod lp_b"},
		wantOut: "2 patches for 6.1.0-56-amd64 in place (0 loaded now)",
	}, {
		name:    "a patch the loader did not load is not its to remove",
		change:  func(h *fakeHost) { h.insmod("lp_foreign") },
		wantLog: []string{"insmod lp_foreign"},
	}, {
		name:    "trigger without a mark does nothing",
		change:  func(h *fakeHost) { h.removePackage("lp_c") },
		args:    []string{"trigger"},
		wantLog: nil,
	}, {
		name:    "mark, then the first trigger runs",
		args:    []string{"mark"},
		wantLog: nil,
	}, {
		name:    "the first trigger after a mark runs",
		args:    []string{"trigger"},
		wantLog: []string{"rmmod lp_c"},
	}, {
		name:    "the second trigger does not",
		change:  func(h *fakeHost) { h.addPackage("lp_c", 3) },
		args:    []string{"trigger"},
		wantLog: nil,
	}, {
		name:    "the next start loads it",
		wantLog: []string{"insmod lp_c"},
	}, {
		// lp_r, a new cumulative replace at order 1, upgrades lp_a's
		// package: the replace frees lp_c, which is loaded again after
		// it; lp_a is unloaded once replaced.
		name: "a new cumulative: off-band loaded again, old one unloaded after",
		change: func(h *fakeHost) {
			h.removePackage("lp_a")
			h.removePackage("lp_c")
			h.addPackage("lp_r", 1)
			h.addPackage("lp_c", 2)
			h.behave("lp_r", "replace")
		},
		wantLog: []string{"insmod lp_r", "rmmod lp_c", "insmod lp_c", "rmmod lp_a"},
		wantOut: "lp_c: a replace freed its patch; loading it again",
	}, {
		name:    "in sync: nothing to do",
		wantLog: nil,
		wantOut: "2 patches for 6.1.0-56-amd64 in place (0 loaded now)",
	}, {
		name: "removing every package unloads every patch",
		change: func(h *fakeHost) {
			h.removePackage("lp_r")
			h.removePackage("lp_c")
		},
		wantLog: []string{"rmmod lp_c", "rmmod lp_r"},
		wantOut: "no patches packaged for 6.1.0-56-amd64: none runs",
	}}
	for _, sh := range []string{"busybox", "dash"} {
		t.Run(sh, func(t *testing.T) {
			t.Parallel()
			h := newFakeHost(t, "lp_a", "lp_b", "lp_c")
			seen := 0
			for _, st := range steps {
				seen = len(h.log())
				if st.change != nil {
					st.change(h)
				}
				args := st.args
				if args == nil {
					args = []string{"start"}
				}
				stdout, stderr, code := h.run(sh, args...)
				got := h.log()[seen:]
				if code != st.code || !slices.Equal(got, st.wantLog) || !strings.Contains(stdout, st.wantOut) || !strings.Contains(stderr, st.wantErr) {
					t.Fatalf("%s: klpack-load %v exited %d, ran %q\nwant %d, %q, %q in stdout, %q in stderr\nstdout:\n%s\nstderr:\n%s",
						st.name, args, code, got, st.code, st.wantLog, st.wantOut, st.wantErr, stdout, stderr)
				}
			}
			if got, want := h.loaded(), []string{"lp_foreign"}; !slices.Equal(got, want) {
				t.Errorf("left loaded %q, want %q", got, want)
			}
		})
	}
}

// TestLoaderDefaults: what the environment does not set comes from the
// defaults file, read as data: nothing in it runs, only KLPACK_ keys
// count, and the environment wins.
func TestLoaderDefaults(t *testing.T) {
	for _, sh := range []string{"busybox", "dash"} {
		t.Run(sh, func(t *testing.T) {
			t.Parallel()
			h := newFakeHost(t, "lp_a")
			bin := testutil.NeedTool(t, sh)
			defs := filepath.Join(h.dir, "defaults")
			write(t, defs, strings.Join([]string{
				"# a comment",
				"KLPACK_SYSFS=" + h.sys,
				"KLPACK_LIBDIR=" + h.lib,
				"KLPACK_RUNDIR=" + filepath.Join(h.dir, "run"),
				"KLPACK_STATEDIR=" + filepath.Join(h.dir, "state"),
				"KLPACK_CMDLINE=" + filepath.Join(h.dir, "cmdline"),
				"KLPACK_INSMOD=" + filepath.Join(h.fakeBin, "insmod"),
				"KLPACK_RMMOD=" + filepath.Join(h.fakeBin, "rmmod"),
				"KLPACK_UNAME=$(touch " + filepath.Join(h.dir, "pwned") + ")",
				"KLPACK_TIMEOUT=1",
				"KLPACK_BPFFS=$(touch " + filepath.Join(h.dir, "pwned") + ")`touch " + filepath.Join(h.dir, "pwned") + "`",
				"PATH=/nonexistent",
				"KLPACK_BIN", // no value: ignored
			}, "\n"), 0o644)
			loader, err := Loader(LoaderData{Kernel: fakeKernel, LibDir: "/usr/lib/klpack"})
			if err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(h.dir, "klpack-load"), string(loader), 0o755)
			args := []string{filepath.Join(h.dir, "klpack-load"), "start"}
			if sh == "busybox" {
				args = append([]string{"sh"}, args...)
			}
			cmd := exec.Command(bin, args...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "FAKE=" + h.dir, "KLPACK_DEFAULTS=" + defs,
				"KLPACK_UNAME=" + filepath.Join(h.fakeBin, "uname")}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("klpack-load start: %v\n%s", err, out)
			}
			if got, want := h.log(), []string{"insmod lp_a"}; !slices.Equal(got, want) {
				t.Errorf("klpack-load start ran %q, want %q\n%s", got, want, out)
			}
			if _, err := os.Stat(filepath.Join(h.dir, "pwned")); err == nil {
				t.Error("a value in the defaults file ran a command")
			}
		})
	}
}

// addRelease installs a package per module ("name:layer:order") of a
// release, each with the plan file plan, in which F stands for the
// package directory of the fake host.
func (h *fakeHost) addRelease(plan string, mods ...string) {
	for _, spec := range mods {
		f := strings.Split(spec, ":")
		m, layer, n := f[0], f[1], f[2]
		pkg := filepath.Join(h.lib, fakeKernel, "klp-patch-"+m)
		mkdir(h.t, pkg)
		write(h.t, filepath.Join(pkg, "order"), n+" "+m+" "+layer+" "+pkg+"/"+m+".ko\n", 0o644)
		write(h.t, filepath.Join(pkg, m+".ko"), "module "+m+"\n", 0o644)
		write(h.t, filepath.Join(pkg, "plan"), strings.ReplaceAll(plan, "F/", filepath.Join(h.lib, fakeKernel)+"/"), 0o644)
	}
}

// rmmod unloads m as the fake rmmod does.
func (h *fakeHost) rmmod(m string) {
	h.t.Helper()
	cmd := exec.Command("sh", filepath.Join(h.fakeBin, "rmmod"), m)
	cmd.Env = append(os.Environ(), "FAKE="+h.dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		h.t.Fatalf("fake rmmod %s: %v\n%s", m, err, out)
	}
}

// files lists the loaded modules as "module file", the file each was
// loaded from ($FAKE as F).
func (h *fakeHost) files() []string {
	var out []string
	for _, m := range h.loaded() {
		out = append(out, m+" "+read(filepath.Join(h.sys, "module", m, "file")))
	}
	return out
}

// The plans of two releases, as pkg/pack writes them. Release 1.0-1 is
// the cumulative lp_a (an atomic replace) and the off-band lp_c, loaded
// on a host that runs nothing. Release 1.0-2 upgrades the cumulative to
// lp_r (an atomic replace) over lp_c, whose package stays installed: on
// mainline lp_r frees both, lp_a is unloaded, and lp_c unloaded and
// loaded again from its package (no file in its load step).
const (
	plan1 = `klpack-plan 1
release 1.0-1
names lp_a lp_c
start
patches
modules
load lp_a F/klp-patch-lp_a/lp_a.ko
patches lp_a=1
modules lp_a
load lp_c F/klp-patch-lp_c/lp_c.ko
patches lp_a=1 lp_c=1
modules lp_a lp_c
end
`
	plan2 = `klpack-plan 1
release 1.0-2
names lp_a lp_c lp_r
start
patches lp_a=1 lp_c=1
modules lp_a lp_c
load lp_r F/klp-patch-lp_r/lp_r.ko
patches lp_r=1
modules lp_a lp_c lp_r
unload lp_a
patches lp_r=1
modules lp_c lp_r
unload lp_c
patches lp_r=1
modules lp_r
load lp_c
patches lp_r=1 lp_c=1
modules lp_c lp_r
end
`
)

// upgradeHost is a fake host that ran release 1.0-1 through the loader
// and then had its packages upgraded to 1.0-2 (lp_a's package replaced
// by lp_r's, lp_c's kept), lp_r behaving as b.
func upgradeHost(t *testing.T, sh, b string) *fakeHost {
	t.Helper()
	h := newFakeHost(t)
	h.behave("lp_a", "replace")
	h.addRelease(plan1, "lp_a:cumulative:1", "lp_c:off-band:2")
	stdout, stderr, code := h.run(sh, "start")
	want := []string{"insmod lp_a", "insmod lp_c"}
	if code != 0 || !slices.Equal(h.log(), want) || lastLine(stdout) != "klpack-load: release 1.0-1 runs: lp_a lp_c" ||
		!strings.Contains(stdout, "the kernel runs the state the plan of release 1.0-1 starts from: executing its 2 steps") {
		t.Fatalf("release 1.0-1: klpack-load start exited %d, ran %q, want 0 and %q\nstdout:\n%s\nstderr:\n%s", code, h.log(), want, stdout, stderr)
	}
	h.removePackage("lp_a")
	h.addRelease(plan2, "lp_r:cumulative:1")
	h.behave("lp_r", b)
	return h
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestLoaderPlan: on the host its start state describes, the loader
// executes the upgrade's plan step by step, comparing sysfs with the
// prediction after each; on a refused load, a stalled transition, a
// kernel that does something else than predicted, or SIGTERM, it
// restores release 1.0-1 from its kept copies and says so.
func TestLoaderPlan(t *testing.T) {
	const (
		runs1 = "lp_a F/lib/6.1.0-56-amd64/klp-patch-lp_a/lp_a.ko|lp_c F/lib/6.1.0-56-amd64/klp-patch-lp_c/lp_c.ko"
		kept1 = "lp_a F/state/6.1.0-56-amd64/running/lp_a.ko|lp_c F/state/6.1.0-56-amd64/running/lp_c.ko"
		runs2 = "lp_c F/lib/6.1.0-56-amd64/klp-patch-lp_c/lp_c.ko|lp_r F/lib/6.1.0-56-amd64/klp-patch-lp_r/lp_r.ko"
	)
	tests := []struct {
		name     string
		behave   string // lp_r's
		behaveC  string // lp_c's, for the upgrade
		behaveA  string // lp_a's, once release 1.0-1 runs
		term     bool   // SIGTERM once lp_r is loaded
		wantCode int
		wantLog  []string // after release 1.0-1
		wantLast string   // the last line of stdout
		wantErr  string
		// wantFiles: each loaded module and the file it came from.
		wantFiles string
		wantKept  string // the kept release file
	}{{
		name:      "upgrade executed step by step",
		behave:    "replace",
		wantLog:   []string{"insmod lp_r", "rmmod lp_a", "rmmod lp_c", "insmod lp_c"},
		wantLast:  "klpack-load: release 1.0-2 runs: lp_r lp_c",
		wantFiles: runs2,
		wantKept:  "release 1.0-2\nmodule lp_r cumulative lp_r.ko\nmodule lp_c off-band lp_c.ko\n",
	}, {
		// lp_r does not replace: after step 1 the kernel keeps lp_a and
		// lp_c, which the plan did not predict.
		name:      "divergence after a step restores 1.0-1",
		behave:    "ok",
		wantCode:  1,
		wantLog:   []string{"insmod lp_r", "rmmod lp_r"},
		wantLast:  "klpack-load: restored release 1.0-1: lp_a lp_c run",
		wantErr:   "step 1 (load lp_r): sysfs shows patches [lp_a=1 lp_c=1 lp_r=1] modules [lp_a lp_c lp_r], the plan expects patches [lp_r=1] modules [lp_a lp_c lp_r]",
		wantFiles: runs1,
		wantKept:  "release 1.0-1\nmodule lp_a cumulative lp_a.ko\nmodule lp_c off-band lp_c.ko\n",
	}, {
		name:      "refused load restores 1.0-1",
		behave:    "refuse",
		wantCode:  1,
		wantLog:   []string{"insmod lp_r refused"},
		wantLast:  "klpack-load: restored release 1.0-1: lp_a lp_c run",
		wantErr:   "failed: the kernel did not follow the plan of release 1.0-2",
		wantFiles: runs1,
		wantKept:  "release 1.0-1\nmodule lp_a cumulative lp_a.ko\nmodule lp_c off-band lp_c.ko\n",
	}, {
		// The last step's load is refused after lp_a's and lp_c's
		// modules went: 1.0-1 comes back from the kept copies, lp_a's
		// replace takes lp_r off the stack, then lp_r goes.
		name:      "refused re-load restores 1.0-1 from the kept copies",
		behave:    "replace",
		behaveC:   "refuse-installed",
		wantCode:  1,
		wantLog:   []string{"insmod lp_r", "rmmod lp_a", "rmmod lp_c", "insmod lp_c refused", "insmod lp_a", "insmod lp_c", "rmmod lp_r"},
		wantLast:  "klpack-load: restored release 1.0-1: lp_a lp_c run",
		wantErr:   "lp_c: the kernel refused it",
		wantFiles: kept1,
		wantKept:  "release 1.0-1\nmodule lp_a cumulative lp_a.ko\nmodule lp_c off-band lp_c.ko\n",
	}, {
		// As above, but the kernel refuses lp_a while lp_r runs (lp_r
		// holds a klp_state lp_a cannot take back): lp_r goes first,
		// then lp_a and lp_c load again.
		name:      "kept release refused over the new one: the new one goes first",
		behave:    "replace",
		behaveC:   "refuse-installed",
		behaveA:   "refuse-over-lp_r",
		wantCode:  1,
		wantLog:   []string{"insmod lp_r", "rmmod lp_a", "rmmod lp_c", "insmod lp_c refused", "insmod lp_a refused", "rmmod lp_r", "insmod lp_a", "insmod lp_c"},
		wantLast:  "klpack-load: restored release 1.0-1: lp_a lp_c run",
		wantErr:   "lp_a: the kernel refused it",
		wantFiles: kept1,
		wantKept:  "release 1.0-1\nmodule lp_a cumulative lp_a.ko\nmodule lp_c off-band lp_c.ko\n",
	}, {
		name:      "stalled transition restores 1.0-1",
		behave:    "stall",
		wantCode:  1,
		wantLog:   []string{"insmod lp_r", "rmmod lp_r"},
		wantLast:  "klpack-load: restored release 1.0-1: lp_a lp_c run",
		wantErr:   "lp_r: transition did not finish within 1s",
		wantFiles: runs1,
		wantKept:  "release 1.0-1\nmodule lp_a cumulative lp_a.ko\nmodule lp_c off-band lp_c.ko\n",
	}, {
		name:      "SIGTERM mid-transition restores 1.0-1",
		behave:    "stall",
		term:      true,
		wantCode:  1,
		wantLog:   []string{"insmod lp_r", "rmmod lp_r"},
		wantLast:  "klpack-load: restored release 1.0-1: lp_a lp_c run",
		wantErr:   "stopped by a signal",
		wantFiles: runs1,
		wantKept:  "release 1.0-1\nmodule lp_a cumulative lp_a.ko\nmodule lp_c off-band lp_c.ko\n",
	}}
	for _, sh := range []string{"busybox", "dash"} {
		for _, tt := range tests {
			t.Run(sh+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				h := upgradeHost(t, sh, tt.behave)
				if tt.behaveC != "" {
					h.behave("lp_c", tt.behaveC)
				}
				if tt.behaveA != "" {
					h.behave("lp_a", tt.behaveA)
				}
				seen := len(h.log())
				var stdout, stderr string
				var code int
				if tt.term {
					// A wait far longer than the test: only the signal
					// ends it.
					h.env = []string{"KLPACK_TIMEOUT=60"}
					cmd, o, e := h.start(sh, "start")
					h.waitLog("insmod lp_r")
					start := time.Now()
					if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
						t.Fatal(err)
					}
					code = exitCode(t, cmd.Wait())
					stdout, stderr = o.String(), e.String()
					if d := time.Since(start); d > 20*time.Second {
						t.Errorf("the loader took %v to restore after SIGTERM", d)
					}
				} else {
					stdout, stderr, code = h.run(sh, "start")
				}
				got := h.log()[seen:]
				if code != tt.wantCode || !slices.Equal(got, tt.wantLog) || lastLine(stdout) != tt.wantLast || !strings.Contains(stderr, tt.wantErr) {
					t.Errorf("klpack-load start exited %d, ran %q, last line %q\nwant %d, %q, %q and %q in stderr\nstdout:\n%s\nstderr:\n%s",
						code, got, lastLine(stdout), tt.wantCode, tt.wantLog, tt.wantLast, tt.wantErr, stdout, stderr)
				}
				if got := strings.Join(h.files(), "|"); got != tt.wantFiles {
					t.Errorf("loaded %q, want %q", got, tt.wantFiles)
				}
				var wantPatches []string
				for _, f := range strings.Split(tt.wantFiles, "|") {
					wantPatches = append(wantPatches, strings.Fields(f)[0]+" enabled=1")
				}
				if got := h.patches(); !slices.Equal(got, wantPatches) {
					t.Errorf("patches %q, want %q", got, wantPatches)
				}
				h.checkKept(tt.wantKept)
				for _, f := range []string{"klpack-load.lock", "klpack-load.journal"} {
					if _, err := os.Stat(filepath.Join(h.dir, "run", f)); err == nil {
						t.Errorf("klpack-load left %s behind", f)
					}
				}
			})
		}
	}
}

// checkKept: the kept release lists want, and each module it names is
// kept as the bytes of its package.
func (h *fakeHost) checkKept(want string) {
	h.t.Helper()
	dir := filepath.Join(h.dir, "state", fakeKernel, "running")
	got, err := os.ReadFile(filepath.Join(dir, "release"))
	if err != nil || string(got) != want {
		h.t.Errorf("kept release %q (%v), want %q", got, err, want)
		return
	}
	for _, l := range strings.Split(want, "\n") {
		f := strings.Fields(l)
		if len(f) == 4 && f[0] == "module" {
			if b := read(filepath.Join(dir, f[3])); b != "module "+f[1] {
				h.t.Errorf("kept copy %s holds %q, want %q", f[3], b, "module "+f[1])
			}
		}
	}
}

// start starts the loader as run does, without waiting for it.
func (h *fakeHost) start(sh string, args ...string) (*exec.Cmd, *strings.Builder, *strings.Builder) {
	h.t.Helper()
	cmd := h.command(sh, args...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	return cmd, &o, &e
}

// waitLog waits until the fake kernel's log holds line.
func (h *fakeHost) waitLog(line string) {
	h.t.Helper()
	for range 500 {
		if slices.Contains(h.log(), line) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("the log never showed %q: %q", line, h.log())
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// deadPid is the pid of a process that has exited and been reaped.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// waitGone waits until the fake kernel has freed m's patch.
func (h *fakeHost) waitGone(m string) {
	h.t.Helper()
	for range 500 {
		if _, err := os.Stat(filepath.Join(h.sys, "kernel", "livepatch", m)); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.t.Fatalf("fake kernel: %s's patch was not freed", m)
}

// TestLoaderKilled: a loader killed with SIGKILL leaves its lock and
// journal; the next run takes the lock over (its owner is gone), then
// either finishes the restore of the release that ran before or finds
// the new release whole, and says which release runs.
func TestLoaderKilled(t *testing.T) {
	for _, sh := range []string{"busybox", "dash"} {
		t.Run(sh+"/killed mid-transition: restored, then the plan runs", func(t *testing.T) {
			t.Parallel()
			h := upgradeHost(t, sh, "stall")
			h.env = []string{"KLPACK_TIMEOUT=60"}
			cmd, _, _ := h.start(sh, "start")
			h.waitLog("insmod lp_r")
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			for _, f := range []string{"klpack-load.lock/owner", "klpack-load.journal"} {
				if _, err := os.Stat(filepath.Join(h.dir, "run", f)); err != nil {
					t.Fatalf("the killed loader left no %s: %v", f, err)
				}
			}
			// The kernel finishes lp_r's transition meanwhile: lp_r
			// replaces lp_a and lp_c, a state no release has.
			h.behave("lp_r", "replace")
			h.waitGone("lp_a")
			h.env = nil
			seen := len(h.log())
			stdout, stderr, code := h.run(sh, "start")
			got := h.log()[seen:]
			want := []string{
				"rmmod lp_a", "insmod lp_a", "rmmod lp_c", "insmod lp_c", "rmmod lp_r", // 1.0-1 restored from its copies
				"insmod lp_r", "rmmod lp_a", "rmmod lp_c", "insmod lp_c", // then the plan of 1.0-2
			}
			pid := cmd.Process.Pid
			for _, line := range []string{
				"klpack-load: taking over the lock of klpack-load " + strconv.Itoa(pid) + ", which is gone",
				"klpack-load: a run (pid " + strconv.Itoa(pid) + ") was interrupted",
				"klpack-load: restored release 1.0-1: lp_a lp_c run",
			} {
				if !strings.Contains(stdout, line+"\n") {
					t.Errorf("stdout lacks %q", line)
				}
			}
			if code != 0 || !slices.Equal(got, want) || lastLine(stdout) != "klpack-load: release 1.0-2 runs: lp_r lp_c" {
				t.Errorf("klpack-load start exited %d, ran %q\nwant 0, %q\nstdout:\n%s\nstderr:\n%s", code, got, want, stdout, stderr)
			}
			h.checkKept("release 1.0-2\nmodule lp_r cumulative lp_r.ko\nmodule lp_c off-band lp_c.ko\n")
		})
		t.Run(sh+"/killed after the last step: the new release is whole", func(t *testing.T) {
			t.Parallel()
			h := upgradeHost(t, sh, "replace")
			// The plan's steps, done; the loader killed before it kept
			// the release: its lock and journal are left.
			h.insmod("lp_r")
			h.waitGone("lp_a")
			h.waitGone("lp_c")
			h.rmmod("lp_a")
			h.rmmod("lp_c")
			h.insmod("lp_c")
			pid := strconv.Itoa(deadPid(t))
			lib := filepath.Join(h.lib, fakeKernel)
			mkdir(t, filepath.Join(h.dir, "run", "klpack-load.lock"))
			write(t, filepath.Join(h.dir, "run", "klpack-load.lock", "owner"), pid+" 12345\n", 0o644)
			write(t, filepath.Join(h.dir, "run", "klpack-load.journal"), "run "+pid+"\nplan 1.0-2 "+lib+"/klp-patch-lp_r/plan\n"+
				"loaded lp_r "+lib+"/klp-patch-lp_r/lp_r.ko\nloaded lp_c "+lib+"/klp-patch-lp_c/lp_c.ko\n", 0o644)
			seen := len(h.log())
			stdout, stderr, code := h.run(sh, "start")
			got := h.log()[seen:]
			for _, line := range []string{
				"klpack-load: taking over the lock of klpack-load " + pid + ", which is gone",
				"klpack-load: a run (pid " + pid + ") was interrupted",
				"klpack-load: release 1.0-2 is whole: lp_r lp_c run",
			} {
				if !strings.Contains(stdout, line+"\n") {
					t.Errorf("stdout lacks %q", line)
				}
			}
			if code != 0 || len(got) != 0 || lastLine(stdout) != "klpack-load: release 1.0-2 runs: lp_r lp_c" {
				t.Errorf("klpack-load start exited %d, ran %q\nwant 0, nothing\nstdout:\n%s\nstderr:\n%s", code, got, stdout, stderr)
			}
			h.checkKept("release 1.0-2\nmodule lp_r cumulative lp_r.ko\nmodule lp_c off-band lp_c.ko\n")
			if _, err := os.Stat(filepath.Join(h.dir, "run", "klpack-load.journal")); err == nil {
				t.Error("the journal is left behind")
			}
		})
	}
}
