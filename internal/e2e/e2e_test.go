//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/sim"
)

// Environment knobs:
//
//	KLPACK_E2E_KERNELS    kernels to boot, space-separated (default: all:
//	                      6.1 6.12 7.2 test test-hybrid test-replace-set)
//	KLPACK_E2E_SCENARIOS  scenario names to run (default: all)
//	KLPACK_E2E_OUT        where guest transcripts are kept on failure
//	                      (default: $KLPACK_CACHE/e2e/out)
//	KLPACK_E2E_PARALLEL   qemus at once (default 2)
//	KLPACK_E2E_KEEP=1     keep every transcript, not only failed ones

// kernelInfo is one line of the prepared kernels list.
type kernelInfo struct {
	Name, Release, Vmlinuz, Modules string
	Append                          string
	// Extra are the prebuilt modules the kernel's guests also get, by
	// file name (prebuilt.go).
	Extra map[string]string
}

// guests is what every guest test needs: qemu, a static busybox, the
// prepared kernels (KLPACK_E2E_KERNELS, else the defaults) and where
// transcripts go.
type guests struct {
	qemu, busybox, root, cache, outDir string
	// insmod is prepare.sh's static insmod (scripts/e2e/insmod.c).
	insmod  string
	kernels []kernelInfo
}

func setupGuests(t *testing.T, defaults ...string) *guests {
	t.Helper()
	g := &guests{qemu: testutil.NeedTool(t, "qemu-system-x86_64"), busybox: "/bin/busybox", root: testutil.Root(), cache: testutil.CacheDir()}
	if static, err := IsStatic(g.busybox); err != nil || !static {
		testutil.Missing(t, "a static busybox at /bin/busybox (Debian's busybox-static)")
	}
	names := strings.Fields(os.Getenv("KLPACK_E2E_KERNELS"))
	if len(names) == 0 {
		names = defaults
	}
	start := time.Now()
	g.kernels = prepare(t, t.Context(), g.root, g.cache, names)
	t.Logf("prepare %s: %s", strings.Join(names, " "), time.Since(start).Round(time.Second))
	g.insmod = filepath.Join(g.cache, "e2e", "bin", "insmod")
	if static, err := IsStatic(g.insmod); err != nil || !static {
		t.Fatalf("%s: not a static binary (scripts/e2e/prepare.sh builds it): %v", g.insmod, err)
	}
	g.outDir = cmp.Or(os.Getenv("KLPACK_E2E_OUT"), filepath.Join(g.cache, "e2e", "out"))
	if err := os.MkdirAll(g.outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return g
}

// eachKernel runs fn on each of g's kernels, in parallel subtests (a
// guest's boot waits on TCG, not on the host's cores).
func (g *guests) eachKernel(t *testing.T, fn func(t *testing.T, k kernelInfo)) {
	for _, k := range g.kernels {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, k)
		})
	}
}

// staticKlpack builds klpack without cgo, to run in the guests, and
// returns its path.
func (g *guests) staticKlpack(t *testing.T) string {
	t.Helper()
	start := time.Now()
	bin := filepath.Join(g.cache, "e2e", "klpack-static")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/klpack")
	build.Dir = g.root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static klpack: %v\n%s", err, out)
	}
	t.Logf("static klpack: %s", time.Since(start).Round(time.Second))
	return bin
}

// e2eKernels are the kernels TestE2E boots by default, the columns of
// README.md's agreement table.
var e2eKernels = []string{"6.1", "6.12", "7.2", "test", "test-hybrid", "test-replace-set"}

func TestE2E(t *testing.T) {
	g := setupGuests(t, e2eKernels...)
	qemu, root, ctx, kernels := g.qemu, g.root, t.Context(), g.kernels
	busybox, outDir := g.busybox, g.outDir
	klpackBin := g.staticKlpack(t)

	scenarios := loadScenarios(t, filepath.Join(root, "testdata", "e2e", "scenarios"))
	prebuilt, err := PrebuiltModules(root)
	if err != nil {
		t.Fatal(err)
	}
	for i := range kernels {
		if kernels[i].Name == PrebuiltKernel {
			kernels[i].Extra = prebuilt
		}
	}
	steps := map[string][]byte{}
	for _, sc := range scenarios {
		if err := CheckPrebuiltUse(sc.sc, prebuilt); err != nil {
			t.Fatalf("scenario %s: %v", sc.name, err)
		}
		b, err := GuestSteps(sc.sc)
		if err != nil {
			t.Fatalf("scenario %s: %v", sc.name, err)
		}
		steps[sc.name+".steps"] = b
	}
	initScript, err := os.ReadFile(filepath.Join(root, "scripts", "e2e", "init.sh"))
	if err != nil {
		t.Fatal(err)
	}
	initrds := map[string]string{}
	work := t.TempDir()
	for _, k := range kernels {
		in := &Initramfs{Init: initScript, Busybox: busybox, Klpack: klpackBin, Insmod: g.insmod, Modules: k.Modules, Files: steps}
		for _, name := range slices.Sorted(maps.Keys(k.Extra)) {
			in.Extra = append(in.Extra, k.Extra[name])
		}
		p := filepath.Join(work, k.Name+".cpio")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		if err := in.Write(w); err != nil {
			t.Fatalf("initramfs for %s: %v", k.Name, err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		initrds[k.Name] = p
	}

	parallel := 2
	if v := os.Getenv("KLPACK_E2E_PARALLEL"); v != "" {
		fmt.Sscan(v, &parallel)
	}
	sem := make(chan struct{}, max(parallel, 1))
	var mu sync.Mutex
	var rows []Row
	start := time.Now()
	// A boot runs many scenarios one after the other (init.sh resets the
	// kernel between them): scenarios of a kernel and kernel command line
	// go into two batches of about equal steps, and the batches start
	// longest first, so that the qemus end together.
	type batch struct {
		name  string
		k     kernelInfo
		scs   []scenario
		steps int
	}
	var batches []*batch
	for _, k := range kernels {
		byAppend := map[string][]scenario{}
		for _, sc := range scenarios {
			if RunsOn(sc.sc, k.Name) {
				byAppend[sc.Append] = append(byAppend[sc.Append], sc)
			}
		}
		for _, app := range slices.Sorted(maps.Keys(byAppend)) {
			name := k.Name
			if app != "" {
				name += "+" + strings.ReplaceAll(app, "=", "-")
			}
			halves := []*batch{{name: name, k: k}, {name: name + "#2", k: k}}
			scs := slices.Clone(byAppend[app])
			slices.SortStableFunc(scs, func(a, b scenario) int { return len(b.sc.Steps) - len(a.sc.Steps) })
			for _, sc := range scs {
				h := halves[0]
				if halves[1].steps < h.steps {
					h = halves[1]
				}
				h.scs, h.steps = append(h.scs, sc), h.steps+len(sc.sc.Steps)
			}
			for _, h := range halves {
				// A forced patch's module stays loaded, so the reset
				// after such a scenario fails and the boot ends: last.
				slices.SortStableFunc(h.scs, func(a, b scenario) int { return cmp.Compare(forces(a.sc), forces(b.sc)) })
				if len(h.scs) > 0 {
					batches = append(batches, h)
				}
			}
		}
	}
	slices.SortStableFunc(batches, func(a, b *batch) int { return b.steps - a.steps })
	t.Run("boot", func(t *testing.T) {
		for _, b := range batches {
			t.Run(b.name, func(t *testing.T) {
				t.Parallel()
				sem <- struct{}{}
				defer func() { <-sem }()
				got := runBatch(t, ctx, qemu, b.k, initrds[b.k.Name], b.scs, outDir)
				mu.Lock()
				rows = append(rows, got...)
				mu.Unlock()
			})
		}
	})
	slices.SortFunc(rows, func(a, b Row) int {
		return strings.Compare(a.Scenario+"\x00"+a.Kernel, b.Scenario+"\x00"+b.Kernel)
	})
	var b bytes.Buffer
	WriteTable(&b, rows)
	summary := fmt.Sprintf("boots: %s (%d guests, %d at once)\n%s", time.Since(start).Round(time.Second), len(rows), parallel, b.String())
	t.Log(summary)
	// go test shows the log of a passing test only with -v: keep the table.
	results := filepath.Join(outDir, "results.txt")
	if err := os.WriteFile(results, []byte(summary), 0o644); err == nil {
		t.Logf("table written to %s", results)
	}
	// A full run (every scenario on every default kernel) that agreed
	// must match README.md's table; -update (make e2e) writes it.
	var names []string
	for _, k := range kernels {
		names = append(names, k.Name)
	}
	if t.Failed() || os.Getenv("KLPACK_E2E_SCENARIOS") != "" || !slices.Equal(names, e2eKernels) {
		return
	}
	readme := filepath.Join(root, "README.md")
	doc, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	table := AgreementTable(rows, e2eKernels)
	updated, old, err := ReplaceTable(string(doc), table)
	switch {
	case err != nil:
		t.Errorf("%s: %v", readme, err)
	case old == table:
	case testutil.Updating(t):
		if err := os.WriteFile(readme, []byte(updated), 0o644); err != nil {
			t.Fatal(err)
		}
	default:
		t.Errorf("%s: the agreement table is not this run's (make e2e writes it):\n%s", readme, table)
	}
}

// forces is 1 for a scenario with a force step, else 0.
func forces(sc *sim.Scenario) int {
	if slices.ContainsFunc(sc.Steps, func(st sim.ScenarioStep) bool { return st.Force != "" }) {
		return 1
	}
	return 0
}

type scenario struct {
	name string
	path string
	sc   *sim.Scenario
	// Append is extra kernel command line: the scenario's lockdown mode.
	Append string
}

func loadScenarios(t *testing.T, dir string) []scenario {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no scenarios in %s: %v", dir, err)
	}
	want := strings.Fields(os.Getenv("KLPACK_E2E_SCENARIOS"))
	var out []scenario
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".yaml")
		if len(want) > 0 && !slices.Contains(want, name) {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := sim.ParseScenario(f)
		f.Close()
		if err != nil {
			t.Fatalf("file %s: %v", p, err)
		}
		s := scenario{name: name, path: p, sc: sc}
		if sc.Lockdown != "" {
			s.Append = "lockdown=" + sc.Lockdown
		}
		out = append(out, s)
	}
	return out
}

// prepare runs scripts/e2e/prepare.sh and reads the kernels it lists.
func prepare(t *testing.T, ctx context.Context, root, cache string, names []string) []kernelInfo {
	cmd := exec.CommandContext(ctx, "sh", append([]string{filepath.Join(root, "scripts", "e2e", "prepare.sh")}, names...)...)
	cmd.Env = append(os.Environ(), "KLPACK_CACHE="+cache)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		testutil.Missing(t, fmt.Sprintf("kernels and modules (scripts/e2e/prepare.sh %s: %v):\n%s", strings.Join(names, " "), err, stderr.String()))
	}
	var ks []kernelInfo
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 {
			t.Fatalf("prepare.sh printed %q: want NAME RELEASE VMLINUZ MODULEDIR", line)
		}
		ks = append(ks, kernelInfo{Name: f[0], Release: f[1], Vmlinuz: f[2], Modules: f[3]})
	}
	return ks
}

// runBatch boots kernel k for the scenarios of one kernel command line
// and judges each from its transcript. A scenario after a reset that
// failed, or after a crash, gets a boot of its own; a boot that runs
// none of the scenarios left ends the batch, failing them.
func runBatch(t *testing.T, ctx context.Context, qemu string, k kernelInfo, initrd string, batch []scenario, outDir string) []Row {
	var rows []Row
	for left := batch; len(left) > 0; {
		var names []string
		timeout := 90 * time.Second
		for _, sc := range left {
			names = append(names, sc.name)
			timeout += 30*time.Second + time.Duration(len(sc.sc.Steps))*20*time.Second
		}
		var console bytes.Buffer
		boot := &Boot{
			Qemu: qemu, Kernel: k.Vmlinuz, Initrd: initrd,
			Append:  strings.TrimSpace("klpe.scenarios=" + strings.Join(names, ",") + " " + left[0].Append),
			Timeout: timeout,
			Log:     &console,
		}
		start := time.Now()
		bootErr := boot.Run(ctx)
		c, err := ParseConsole(bytes.NewReader(console.Bytes()))
		if err != nil {
			bootErr = errors.Join(bootErr, err)
			c = &Console{}
		}
		logPath := filepath.Join(outDir, names[0]+"@"+k.Name+".log")
		keep := func() {
			os.WriteFile(logPath, console.Bytes(), 0o644)
			t.Logf("console kept in %s", logPath)
		}
		t.Logf("%s: %d of %d scenarios in one boot, %s", k.Name, len(c.Transcripts), len(left), time.Since(start).Round(100*time.Millisecond))
		failed := false
		ran := 0
		for i, tr := range c.Transcripts {
			if i >= len(left) || tr.Scenario != left[i].name {
				t.Errorf("%s: the guest ran %q where %q was next", k.Name, tr.Scenario, names[min(i, len(names)-1)])
				failed = true
				break
			}
			row := judge(t, k, left[i], tr)
			failed = failed || row.Status != "agreed"
			rows = append(rows, row)
			ran++
		}
		if c.ResetFailed != "" {
			t.Logf("%s: the kernel could not be reset after %s; booting again for the rest", k.Name, c.ResetFailed)
		}
		if ran == 0 || (ran < len(left) && bootErr != nil && c.ResetFailed == "") {
			for _, sc := range left[ran:] {
				status := "FAILED: no transcript"
				if bootErr != nil {
					status = "FAILED: " + bootErr.Error()
				}
				rows = append(rows, Row{Scenario: sc.name, Kernel: k.Name, Steps: len(sc.sc.Steps), Status: status})
				t.Errorf("%s on %s: %s\n%s", sc.name, k.Name, status, tail(console.String(), 40))
			}
			keep()
			return rows
		}
		if failed || bootErr != nil || len(c.Errors) > 0 {
			if bootErr != nil || len(c.Errors) > 0 {
				t.Errorf("%s: boot: %v %q", k.Name, bootErr, c.Errors)
			}
			keep()
		} else if os.Getenv("KLPACK_E2E_KEEP") == "1" {
			os.WriteFile(logPath, console.Bytes(), 0o644)
		} else {
			os.Remove(logPath)
		}
		left = left[ran:]
	}
	return rows
}

// judge compares one scenario's transcript with klpack simulate on the
// same module files and the kernel's model.
func judge(t *testing.T, k kernelInfo, sc scenario, tr *Transcript) Row {
	row := Row{Scenario: sc.name, Kernel: k.Name, Steps: len(sc.sc.Steps)}
	sim, err := sim.Simulate(sc.sc, KernelModel(k.Name), func(p string) (*klp.Module, error) {
		if extra, ok := k.Extra[p]; ok {
			return elfscan.Open(extra, nil)
		}
		return elfscan.Open(filepath.Join(k.Modules, p), nil)
	})
	if err != nil {
		row.Status = "FAILED: simulate: " + err.Error()
		t.Errorf("simulate %s on %s modules: %v", sc.name, k.Name, err)
		return row
	}
	res := Compare(tr, sim)
	row.Agreed = res.Agreed
	t.Logf("%s on %s (%s): %d steps, %d agreed", sc.name, k.Name, tr.Release, res.Steps, res.Agreed)
	for _, u := range res.Unobserved {
		t.Logf("not observable in the guest: %s", u)
	}
	if len(res.Diffs) == 0 {
		row.Status = "agreed"
		return row
	}
	row.Status = fmt.Sprintf("DISAGREED (%d)", len(res.Diffs))
	var b strings.Builder
	for _, d := range res.Diffs {
		fmt.Fprintln(&b, d)
	}
	fmt.Fprintln(&b)
	SideBySide(&b, tr, sim)
	t.Errorf("kernel %s and klpack simulate disagree on %s:\n%s", tr.Release, sc.name, b.String())
	return row
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
