package pack

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klpack/klpack/pkg/capture"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/sysfs"
)

// checkCapture captures the fake kernel's sysfs joined with the packages
// installed in root: every patch keeps its package's layer.
func checkCapture(t *testing.T, root string, want map[string]string) {
	t.Helper()
	lp, err := os.OpenRoot(filepath.Join(root, "fake", "sys", "kernel", "livepatch"))
	if err != nil {
		t.Fatal(err)
	}
	defer lp.Close()
	host, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	st, rep, err := capture.Capture(context.Background(), sysfs.FS(lp), []string{filepath.Join(root, capture.InstalledDir)},
		&capture.CaptureOptions{Root: sysfs.FS(host)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range st.Patches {
		got[p.Name] = p.Layer
	}
	if !maps.Equal(got, want) || rep.Count(capture.EntryMismatch) != 0 {
		t.Errorf("captured layers %v, want %v; report:\n%s", got, want, strings.Join(rep.Lines(), "\n"))
	}
}

// The fake kernel of a scratch root: insmod, rmmod and uname scripts in
// /fake/bin act on /fake/sys and log to /fake/log; the loader finds them
// through /etc/default/klpack-load, since rpm and dpkg need not pass the
// environment to the scripts that run it. uname logs "run": every loader
// run that gets past the mark/trigger check asks for the kernel once.
const (
	txInsmod = `#!/bin/sh
m=$(basename "$1")
m=${m%%.ko*}
if [ -d /fake/sys/module/$m ]; then
	echo "insmod $m exists" >>/fake/log
	echo "insmod: ERROR: could not insert module $1: File exists" >&2
	exit 1
fi
echo "insmod $m" >>/fake/log
mkdir -p /fake/sys/module/$m /fake/sys/kernel/livepatch/$m
for f in $(cat /fake/funcs/$m 2>/dev/null); do
	mkdir -p /fake/sys/kernel/livepatch/$m/$f
done
echo 1 >/fake/sys/kernel/livepatch/$m/transition
echo 1 >/fake/sys/kernel/livepatch/$m/enabled
`
	txRmmod = `#!/bin/sh
if [ -d /fake/sys/kernel/livepatch/$1 ]; then
	echo "rmmod $1 busy" >>/fake/log
	exit 1
fi
echo "rmmod $1" >>/fake/log
rm -rf /fake/sys/module/$1
`
	txUname = `#!/bin/sh
echo run >>/fake/log
cat /fake/uname
`
)

// fakeKernel plays the kernel on root/fake/sys: a transition finishes
// after a tick; a disabled patch is freed; a replace patch (named in
// replace) frees every other patch when its transition finishes.
func fakeKernel(t *testing.T, root string, replace ...string) {
	t.Helper()
	lp := filepath.Join(root, "fake", "sys", "kernel", "livepatch")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			ents, _ := os.ReadDir(lp)
			for _, e := range ents {
				d := filepath.Join(lp, e.Name())
				en, _ := os.ReadFile(d + "/enabled")
				tr, _ := os.ReadFile(d + "/transition")
				switch {
				case string(en) == "1\n" && string(tr) == "1\n":
					os.WriteFile(d+"/transition", []byte("0\n"), 0o644)
					if slices.Contains(replace, e.Name()) {
						for _, o := range ents {
							if o.Name() != e.Name() {
								os.RemoveAll(filepath.Join(lp, o.Name()))
							}
						}
					}
				case string(en) == "0\n":
					os.RemoveAll(d)
				}
			}
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// withFakeKernel adds the fake kernel's commands and files to r, and the
// functions each module patches (as sysfs names them) for insmod.
func (r *scratchRoot) withFakeKernel(mods ...*Module) {
	t := r.t
	for _, d := range []string{"fake/bin", "fake/sys/kernel/livepatch", "fake/sys/module", "fake/funcs", "etc/default"} {
		os.MkdirAll(filepath.Join(r.dir, d), 0o755)
	}
	for name, s := range map[string]string{"insmod": txInsmod, "rmmod": txRmmod, "uname": txUname} {
		os.WriteFile(filepath.Join(r.dir, "fake", "bin", name), []byte(s), 0o755)
	}
	os.WriteFile(filepath.Join(r.dir, "fake", "uname"), []byte(testKernel+"\n"), 0o644)
	os.WriteFile(filepath.Join(r.dir, "fake", "log"), nil, 0o644)
	os.WriteFile(filepath.Join(r.dir, "etc", "default", "klpack-load"), []byte(strings.Join([]string{
		"KLPACK_SYSFS=/fake/sys", "KLPACK_CMDLINE=/fake/cmdline", "KLPACK_RUNDIR=/run", "KLPACK_TIMEOUT=5",
		"KLPACK_INSMOD=/fake/bin/insmod", "KLPACK_RMMOD=/fake/bin/rmmod", "KLPACK_UNAME=/fake/bin/uname",
		"KLPACK_BPFFS=/fake/bpffs", "KLPACK_BIN=/fake/bin/klpack", "",
	}, "\n")), 0o644)
	for _, m := range mods {
		var funcs []string
		for _, p := range m.Record.Patches {
			for _, o := range p.Objects {
				for _, f := range o.Funcs {
					k := klp.KeyOf(&o, &f)
					funcs = append(funcs, k.String())
				}
			}
		}
		os.WriteFile(filepath.Join(r.dir, "fake", "funcs", m.Record.Name), []byte(strings.Join(funcs, "\n")+"\n"), 0o644)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "fake", "cmdline"), []byte("quiet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// log returns the fake kernel's log lines since the last call.
func (r *scratchRoot) fakeLog(seen *int) []string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "fake", "log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(b) == 0 {
		lines = nil
	}
	out := lines[*seen:]
	*seen = len(lines)
	return out
}

// TestOneLoaderRunPerTransaction installs the testdata release's
// cumulative and off-band packages in one transaction with the real rpm
// and dpkg, in both unpack orders, with and without the loader package
// in that transaction; then upgrades the cumulative with the off-band
// kept, then removes the off-band. After each transaction the loader has
// run exactly once, after every package was unpacked, in the plan's
// order: the failure (the off-band package's script loading
// first, the cumulative's replacing it and then failing on File exists)
// shows as a second "run" or an "insmod ... exists".
func TestOneLoaderRunPerTransaction(t *testing.T) {
	v1rel := release(t, "release-6.1")
	v1 := build(t, v1rel, Options{})
	// The next cumulative release: a new module (lp_replacefn), as a
	// real cumulative stream names each build anew.
	v2rel := release(t, "release-6.1-v2")
	fn, err := scan(filepath.Join(v2rel.Modules[0].File, "..", "lp_replacefn.ko"), nil)
	if err != nil {
		t.Fatal(err)
	}
	v2rel.Modules[0] = &Module{Record: fn, Layer: klp.LayerCumulative, File: filepath.Join(filepath.Dir(v2rel.Modules[0].File), "lp_replacefn.ko")}
	v2 := build(t, v2rel, Options{})
	const cum, off = "klp-patch-6.1.0-56-amd64", "klp-patch-6.1.0-56-amd64-lp-noreplace"
	loader := LoaderName(testKernel)
	tests := []struct {
		name        string
		loaderFirst bool     // the loader package in a transaction of its own first
		order       []string // the patch packages, in the order given to the tool
	}{
		{"cumulative first", false, []string{cum, off}},
		{"off-band first", false, []string{off, cum}},
		{"loader installed before, off-band first", true, []string{off, cum}},
		{"loader installed before, cumulative first", true, []string{cum, off}},
	}
	for _, f := range []string{FormatRPM, FormatDeb} {
		kernel := standIn(t, f, testKernel)
		for _, tt := range tests {
			t.Run(f+"/"+tt.name, func(t *testing.T) {
				r := newScratchRoot(t, f)
				r.withFakeKernel(append(slices.Clone(v1rel.Modules), v2rel.Modules[0])...)
				fakeKernel(t, r.dir, "lp_replace", "lp_replacefn")
				r.must(installArgs(f, kernel)...)
				seen := 0
				step := func(what string, want []string, args ...string) {
					t.Helper()
					out, err := r.run(args...)
					if err != nil {
						t.Fatalf("%s: %s %v: %v\n%s", what, r.tool, args, err, out)
					}
					if got := r.fakeLog(&seen); !slices.Equal(got, want) {
						t.Fatalf("%s: the kernel saw\n  %q\nwant\n  %q\n%s output:\n%s", what, got, want, r.tool, out)
					}
				}
				var pkgs []string
				for _, p := range tt.order {
					pkgs = append(pkgs, v1[f+":"+p])
				}
				install := map[string]string{FormatRPM: "-Uvh", FormatDeb: "-i"}[f]
				if tt.loaderFirst {
					// Nothing to load yet: the loader runs and finds nothing.
					step("the loader alone", []string{"run"}, install, v1[f+":"+loader])
				} else {
					pkgs = append(pkgs, v1[f+":"+loader])
				}
				step("install", []string{"run", "insmod lp_replace", "insmod lp_noreplace"}, append([]string{install}, pkgs...)...)
				checkCapture(t, r.dir, map[string]string{"lp_replace": klp.LayerCumulative, "lp_noreplace": klp.LayerOffBand})
				// The upgrade: the new cumulative replaces the old one,
				// which frees the off-band patch; the loader loads the
				// off-band again and only then unloads the old cumulative.
				step("upgrade", []string{"run", "insmod lp_replacefn", "rmmod lp_noreplace", "insmod lp_noreplace", "rmmod lp_replace"},
					install, v2[f+":"+cum], v2[f+":"+loader])
				remove := map[string]string{FormatRPM: "-e", FormatDeb: "-r"}[f]
				step("remove the off-band", []string{"run", "rmmod lp_noreplace"}, remove, off)
				ents, _ := os.ReadDir(filepath.Join(r.dir, "fake", "sys", "module"))
				var loaded []string
				for _, e := range ents {
					loaded = append(loaded, e.Name())
				}
				if want := []string{"lp_replacefn"}; !slices.Equal(loaded, want) {
					t.Errorf("left loaded %q, want %q", loaded, want)
				}
			})
		}
	}
}
