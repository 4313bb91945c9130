package pack

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klpack/klpack/internal/testutil"
)

// scratchRoot is an empty system for rpm --root or dpkg --root, with
// busybox as /bin/sh so that the packages' scripts run for real (chrooted;
// the running kernel is not the packages', so the loader says so and does
// nothing).
type scratchRoot struct {
	t      *testing.T
	format string
	dir    string
	tool   string
}

func newScratchRoot(t *testing.T, format string) *scratchRoot {
	t.Helper()
	r := &scratchRoot{t: t, format: format, dir: t.TempDir()}
	testutil.BusyboxRoot(t, r.dir)
	switch format {
	case FormatRPM:
		r.tool = testutil.NeedTool(t, "rpm")
		r.must("--initdb")
	case FormatDeb:
		r.tool = testutil.NeedTool(t, "dpkg")
		for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"} {
			os.MkdirAll(filepath.Join(r.dir, d), 0o755)
		}
		for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
			os.WriteFile(filepath.Join(r.dir, f), nil, 0o644)
		}
	}
	return r
}

func (r *scratchRoot) run(args ...string) (string, error) {
	var argv []string
	if r.format == FormatRPM {
		argv = append([]string{"--root", r.dir, "--nosignature"}, args...)
	} else {
		argv = append([]string{"--root=" + r.dir, "--log=/dev/null", "--force-not-root"}, args...)
	}
	cmd := exec.Command(r.tool, argv...)
	// dpkg looks for the programs it runs on $PATH inside the root.
	cmd.Env = append(os.Environ(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (r *scratchRoot) must(args ...string) string {
	r.t.Helper()
	out, err := r.run(args...)
	if err != nil {
		r.t.Fatalf("%s %s: %v\n%s", r.tool, strings.Join(args, " "), err, out)
	}
	return out
}

// install installs packages in one transaction.
func (r *scratchRoot) install(pkgs ...string) (string, error) {
	if r.format == FormatRPM {
		return r.run(append([]string{"-Uvh"}, pkgs...)...)
	}
	return r.run(append([]string{"-i"}, pkgs...)...)
}

func (r *scratchRoot) query(field, pkg string) string {
	r.t.Helper()
	if r.format == FormatRPM {
		return r.must("-q", "--qf", field, pkg)
	}
	q := exec.Command("dpkg-query", "--admindir="+filepath.Join(r.dir, "var/lib/dpkg"), "-W", "-f", field, pkg)
	out, err := q.CombinedOutput()
	if err != nil {
		r.t.Fatalf("dpkg-query %s: %v\n%s", pkg, err, out)
	}
	return string(out)
}

// TestRelations installs the packages with the real rpm and dpkg into
// scratch roots.
func TestRelations(t *testing.T) {
	v1 := build(t, release(t, "release-6.1"), Options{})
	v2 := build(t, release(t, "release-6.1-v2"), Options{})
	overlap := build(t, release(t, "release-6.1-overlap"), Options{})
	const cum, off, param = "klp-patch-6.1.0-56-amd64", "klp-patch-6.1.0-56-amd64-lp-noreplace", "klp-patch-6.1.0-56-amd64-lp-param"
	const loader = "klpack-loader-6.1.0-56-amd64"
	for _, f := range []string{FormatRPM, FormatDeb} {
		kernel := standIn(t, f, testKernel)
		t.Run(f+"/right kernel installs, load order visible", func(t *testing.T) {
			r := newScratchRoot(t, f)
			r.must(installArgs(f, kernel)...)
			if out, err := r.install(v1[f+":"+cum], v1[f+":"+off], v1[f+":"+loader]); err != nil {
				t.Fatalf("install on the right kernel: %v\n%s", err, out)
			} else if !strings.Contains(out, "running kernel") || !strings.Contains(out, "nothing to do") {
				t.Errorf("the post-install script did not run the loader:\n%s", out)
			}
			if f == FormatRPM {
				got := r.query("[%{PROVIDES} %{PROVIDEVERSION}\n]", off)
				if !strings.Contains(got, "klp-load-order(6.1.0-56-amd64:lp_noreplace) 2") {
					t.Errorf("rpm -q --provides %s:\n%s\nwant the load order 2", off, got)
				}
			} else {
				got := r.query("${Klp-Load-Order} ${Klp-Layer} ${Provides}", off)
				if !strings.HasPrefix(got, "2 off-band ") || !strings.Contains(got, "klp-load-order-6.1.0-56-amd64-lp-noreplace (= 2)") {
					t.Errorf("dpkg-query %s = %q, want load order 2", off, got)
				}
			}
		})
		t.Run(f+"/another kernel is refused", func(t *testing.T) {
			r := newScratchRoot(t, f)
			r.must(installArgs(f, standIn(t, f, "6.1.0-57-amd64"))...)
			out, err := r.install(v1[f+":"+off])
			want := map[string]string{FormatRPM: "kernel-uname-r = 6.1.0-56-amd64 is needed", FormatDeb: "depends on linux-image-6.1.0-56-amd64"}[f]
			if err == nil || !strings.Contains(out, want) {
				t.Errorf("install on another kernel: err %v, output\n%s\nwant a refusal naming %q", err, out, want)
			}
		})
		t.Run(f+"/overlapping off-band packages are refused", func(t *testing.T) {
			r := newScratchRoot(t, f)
			r.must(installArgs(f, kernel)...)
			if out, err := r.install(v1[f+":"+off], v1[f+":"+loader]); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			out, err := r.install(overlap[f+":"+param])
			want := "klp-func"
			if err == nil || !strings.Contains(out, want) || !strings.Contains(out, "version") {
				t.Errorf("install of an overlapping off-band package: err %v, output\n%s\nwant a conflict on version_proc_show", err, out)
			}
		})
		t.Run(f+"/newer cumulative release replaces the older", func(t *testing.T) {
			r := newScratchRoot(t, f)
			r.must(installArgs(f, kernel)...)
			if out, err := r.install(v1[f+":"+cum], v1[f+":"+loader]); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if out, err := r.install(v2[f+":"+cum], v2[f+":"+loader]); err != nil {
				t.Fatalf("upgrade: %v\n%s", err, out)
			}
			field := map[string]string{FormatRPM: "%{VERSION}-%{RELEASE}\n", FormatDeb: "${Version}\n"}[f]
			want := map[string]string{FormatRPM: "1.0_2-1\n", FormatDeb: "1.0-2\n"}[f]
			if got := r.query(field, cum); got != want {
				t.Errorf("after the upgrade %s is installed as %q, want only %q", cum, got, want)
			}
			// And the older one cannot come back over it.
			if out, err := r.install(v1[f+":"+cum]); err == nil && f == FormatRPM {
				t.Errorf("downgrade to the older cumulative release succeeded:\n%s", out)
			}
		})
	}
}

func installArgs(format, pkg string) []string {
	if format == FormatRPM {
		return []string{"-i", pkg}
	}
	return []string{"-i", pkg}
}
