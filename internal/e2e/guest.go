package e2e

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/klpack/klpack/pkg/sim"
)

// GuestSteps turns a scenario into the runner's steps file: one
// "KIND ARG" line per step, load paths as file names in the guest's module
// directory. A guest starts from a kernel with no patch and follows the
// kernel's own rules, so a scenario with a deployed state cannot run
// there; its kernel model picks the kernels it boots on (RunsOn).
func GuestSteps(sc *sim.Scenario) ([]byte, error) {
	if sc.Deployed != "" {
		return nil, errors.New("deployed: a guest starts with no patch; load the patches in steps instead")
	}
	var b bytes.Buffer
	for i, st := range sc.Steps {
		kind, arg, err := st.Action()
		if err != nil {
			return nil, fmt.Errorf("steps[%d]: %w", i, err)
		}
		if kind == "load" && filepath.Base(arg) != arg {
			return nil, fmt.Errorf("steps[%d]: load %s: want a file name in the module directory", i, arg)
		}
		if strings.ContainsAny(arg, " \t\n") {
			return nil, fmt.Errorf("steps[%d]: %q: no spaces allowed", i, arg)
		}
		if st.Failing {
			// The e2e modules' pre_patch callbacks return it.
			arg += " pre_patch_ret=-19"
		}
		fmt.Fprintf(&b, "%s %s\n", kind, arg)
	}
	return b.Bytes(), nil
}

// Initramfs is what goes into a guest's initramfs.
type Initramfs struct {
	Init    []byte // the runner, /init
	Busybox string // a static busybox binary
	Klpack  string // a static klpack binary
	// Insmod, when set, is a static insmod for /bin/e2e-insmod that
	// calls finit_module once (scripts/e2e/insmod.c).
	Insmod  string
	Modules string // directory of .ko files, /lib/modules/e2e
	// Files go under /e2e, by name: a scenario's steps (NAME.steps), a
	// hook object.
	Files map[string][]byte
	// Extra are more .ko files for /lib/modules/e2e (the prebuilt
	// modules); a name already in Modules is an error.
	Extra []string
}

// Write writes the initramfs as a newc cpio archive.
func (in *Initramfs) Write(w io.Writer) error {
	read := func(p string) ([]byte, error) { return os.ReadFile(p) }
	bb, err := read(in.Busybox)
	if err != nil {
		return err
	}
	kl, err := read(in.Klpack)
	if err != nil {
		return err
	}
	dir := func(p string) File { return File{Path: p, Mode: fs.ModeDir | 0o755} }
	files := []File{
		dir("bin"), dir("dev"), dir("proc"), dir("sys"), dir("tmp"), dir("root"), dir("e2e"),
		dir("lib"), dir("lib/modules"), dir("lib/modules/e2e"),
		{Path: "dev/console", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, Major: 5, Minor: 1},
		{Path: "dev/null", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o666, Major: 1, Minor: 3},
		{Path: "init", Mode: 0o755, Data: in.Init},
		{Path: "bin/busybox", Mode: 0o755, Data: bb},
		{Path: "bin/sh", Mode: fs.ModeSymlink | 0o777, Data: []byte("busybox")},
		{Path: "bin/klpack", Mode: 0o755, Data: kl},
	}
	if in.Insmod != "" {
		b, err := read(in.Insmod)
		if err != nil {
			return err
		}
		files = append(files, File{Path: "bin/e2e-insmod", Mode: 0o755, Data: b})
	}
	kos, err := filepath.Glob(filepath.Join(in.Modules, "*.ko"))
	if err != nil {
		return err
	}
	if len(kos) == 0 {
		return fmt.Errorf("no .ko files in %s", in.Modules)
	}
	seen := map[string]string{}
	for _, ko := range append(kos, in.Extra...) {
		name := filepath.Base(ko)
		if prev, ok := seen[name]; ok {
			return fmt.Errorf("module %s twice: %s and %s", name, prev, ko)
		}
		seen[name] = ko
		b, err := read(ko)
		if err != nil {
			return err
		}
		files = append(files, File{Path: "lib/modules/e2e/" + name, Mode: 0o644, Data: b})
	}
	for _, name := range slices.Sorted(maps.Keys(in.Files)) {
		files = append(files, File{Path: "e2e/" + name, Mode: 0o644, Data: in.Files[name]})
	}
	return WriteCPIO(w, files)
}

// IsStatic reports whether an ELF executable needs no dynamic loader.
func IsStatic(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// Boot is one qemu run.
type Boot struct {
	Qemu    string // qemu-system-x86_64
	Kernel  string // bzImage / vmlinuz
	Initrd  string
	Append  string // extra kernel command line
	Timeout time.Duration
	// Log receives the whole console output.
	Log io.Writer
}

// ErrTimeout is a guest that did not finish in time.
var ErrTimeout = errors.New("guest timed out")

// Run boots the guest under TCG and returns when it has powered off, or
// has printed "KLPE halt" (the runner's last line) and not powered off
// 10 s later, or timed out.
func (b *Boot) Run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.Timeout)
	defer cancel()
	// loglevel=1 keeps kernel messages off the console (the runner reads
	// them with dmesg); mitigations=off halves the run time of Debian's
	// kernels under TCG (page-table isolation makes every syscall costly)
	// and changes nothing livepatch does.
	args := []string{
		"-accel", "tcg", "-nographic", "-no-reboot", "-m", "512", "-smp", "1",
		"-kernel", b.Kernel, "-initrd", b.Initrd,
		"-append", strings.TrimSpace("console=ttyS0 panic=-1 loglevel=1 mitigations=off " + b.Append),
	}
	cmd := exec.CommandContext(ctx, b.Qemu, args...)
	cmd.Stdin = nil
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	ended := make(chan struct{})
	var once sync.Once
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(b.Log, line)
			if strings.Contains(line, "KLPE halt") {
				once.Do(func() { close(ended) })
			}
		}
		io.Copy(io.Discard, pr)
	}()
	waited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		waited <- err
	}()
	var err error
	select {
	case err = <-waited:
	case <-ended:
		select {
		case err = <-waited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-waited
		}
	}
	<-done
	if ctx.Err() != nil {
		return fmt.Errorf("%w after %s", ErrTimeout, b.Timeout)
	}
	if _, ok := errors.AsType[*exec.ExitError](err); ok {
		// qemu exits non-zero when killed after the runner finished.
		return nil
	}
	return err
}
