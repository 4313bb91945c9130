package release

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/rpm"

	"github.com/klpack/klpack/internal/testutil"
)

// signedRelease runs a signed release of lp_replace and lp_noreplace into
// a new directory and returns it.
func signedRelease(t *testing.T) string {
	t.Helper()
	dir := project(t, []string{"lp_replace.ko", "lp_noreplace.ko"}, twoModules+signing)
	out := filepath.Join(dir, "out")
	if _, err := Execute(t.Context(), filepath.Join(dir, "klpack.yaml"), Options{MTime: epoch, Output: out}); err != nil {
		t.Fatal(err)
	}
	return out
}

// kernelPackage builds an empty package that stands for the kernel the
// patches require (linux-image-<kernel>, or one providing kernel-uname-r).
func kernelPackage(t *testing.T, format string) string {
	t.Helper()
	info := nfpm.WithDefaults(&nfpm.Info{
		Name: "linux-image-6.1.0-56-amd64", Arch: "amd64", Platform: "linux", Version: "6.1.158", Release: "1",
		VersionSchema: "none", Maintainer: "klpack tests <t@klpack.invalid>", Description: "stands for the kernel",
		MTime: epoch,
	})
	if format == "rpm" {
		info.Provides = []string{"kernel-uname-r = 6.1.0-56-amd64"}
	}
	var b bytes.Buffer
	var err error
	if format == "deb" {
		err = deb.Default.Package(info, &b)
	} else {
		err = rpm.DefaultRPM.Package(info, &b)
	}
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "kernel."+format)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runTool(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testutil.NeedTool(t, name), args...)
	cmd.Env = append(os.Environ(), append([]string{"LC_ALL=C", "DEBIAN_FRONTEND=noninteractive"}, env...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestReleaseApt: the real apt-get, trusting only the release's key with
// signed-by, updates from the apt repository of a signed release and
// installs the cumulative and the off-band patch (and, by dependency, the
// loader) into a scratch root, whose package scripts run under busybox;
// with one byte of Packages changed it refuses the repository.
func TestReleaseApt(t *testing.T) {
	out := signedRelease(t)
	for _, tamper := range []bool{false, true} {
		root := t.TempDir()
		testutil.BusyboxRoot(t, root)
		for _, d := range []string{"etc/apt/sources.list.d", "etc/apt/apt.conf.d", "etc/apt/preferences.d", "etc/apt/trusted.gpg.d",
			"var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/log/apt"} {
			os.MkdirAll(filepath.Join(root, d), 0o755)
		}
		os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644)
		repo := filepath.Join(out, "deb")
		if tamper {
			repo = filepath.Join(t.TempDir(), "deb")
			if b, err := exec.Command("cp", "-a", filepath.Join(out, "deb"), repo).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v\n%s", err, b)
			}
			p := filepath.Join(repo, "dists/stable/main/binary-amd64/Packages")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(b, []byte("Version: 1.0-1"), []byte("Version: 1.0-9"), 1), 0o644)
		}
		os.WriteFile(filepath.Join(root, "etc/apt/sources.list"), []byte("deb [signed-by="+filepath.Join(out, PublicKeyFile)+"] file:"+repo+" stable main\n"), 0o644)
		conf := filepath.Join(root, "apt.conf")
		os.WriteFile(conf, []byte(strings.ReplaceAll(`Dir "ROOT/";
Dir::State::status "ROOT/var/lib/dpkg/status";
Dir::Bin::dpkg "/usr/bin/dpkg";
APT::Architecture "amd64";
APT::Sandbox::User "root";
Debug::NoLocking "true";
Acquire::Languages "none";
DPkg::Options { "--root=ROOT"; "--log=/dev/null"; "--force-not-root"; };
DPkg::Use-Pty "false";
`, "ROOT", root)), 0o644)
		env := []string{"APT_CONFIG=" + conf, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
		if b, err := runTool(t, nil, "dpkg", "--root="+root, "--log=/dev/null", "--force-not-root", "-i", kernelPackage(t, "deb")); err != nil {
			t.Fatalf("dpkg -i kernel: %v\n%s", err, b)
		}
		upd, err := runTool(t, env, "apt-get", "-q", "-y", "update")
		if tamper {
			if err == nil || !strings.Contains(upd, "Hash Sum mismatch") {
				t.Fatalf("a tampered Packages: apt-get update = %v, want Hash Sum mismatch\n%s", err, upd)
			}
			if inst, err := runTool(t, env, "apt-get", "-q", "-y", "install", "klp-patch-6.1.0-56-amd64"); err == nil {
				t.Fatalf("apt-get install from a tampered repository succeeded:\n%s", inst)
			}
			continue
		}
		if err != nil {
			t.Fatalf("apt-get update: %v\n%s", err, upd)
		}
		inst, err := runTool(t, env, "apt-get", "-q", "-y", "install", "klp-patch-6.1.0-56-amd64", "klp-patch-6.1.0-56-amd64-lp-noreplace")
		if err != nil {
			t.Fatalf("apt-get install: %v\n%s", err, inst)
		}
		q, err := runTool(t, nil, "dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\n")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"klp-patch-6.1.0-56-amd64 1.0-1 ii", "klp-patch-6.1.0-56-amd64-lp-noreplace 1.0-1 ii", "klpack-loader-6.1.0-56-amd64 1.0-1 ii"} {
			if !strings.Contains(q, want) {
				t.Errorf("installed packages:\n%s\nwant %q", q, want)
			}
		}
		if _, err := os.Stat(filepath.Join(root, "usr/lib/klpack/6.1.0-56-amd64/klp-patch-6.1.0-56-amd64/lp_replace.ko")); err != nil {
			t.Errorf("lp_replace.ko not installed: %v", err)
		}
	}
}

// TestReleaseDnf: the real dnf, checking repomd.xml.asc against the
// release's key, installs the patches (and the loader) from the release's
// rpm repository into an installroot.
func TestReleaseDnf(t *testing.T) {
	out := signedRelease(t)
	root := t.TempDir()
	inst := filepath.Join(root, "installroot")
	for _, d := range []string{"repos", "log", "cache"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "dnf.conf"), []byte("[main]\ngpgcheck=0\ninstall_weak_deps=0\n"), 0o644)
	os.WriteFile(filepath.Join(root, "repos/klp.repo"), []byte("[klp]\nname=klp\nbaseurl=file://"+filepath.Join(out, "rpm")+
		"\nenabled=1\ngpgcheck=0\nrepo_gpgcheck=1\ngpgkey=file://"+filepath.Join(out, PublicKeyFile)+"\nmetadata_expire=0\n"), 0o644)
	if b, err := runTool(t, nil, "rpm", "--root", inst, "--initdb"); err != nil {
		t.Fatalf("rpm --initdb: %v\n%s", err, b)
	}
	if b, err := runTool(t, nil, "rpm", "--root", inst, "--nosignature", "-i", kernelPackage(t, "rpm")); err != nil {
		t.Fatalf("rpm -i kernel: %v\n%s", err, b)
	}
	b, err := runTool(t, nil, "dnf", "-y", "--config="+filepath.Join(root, "dnf.conf"), "--installroot="+inst, "--releasever=1",
		"--noplugins", "--setopt=reposdir="+filepath.Join(root, "repos"), "--setopt=cachedir="+filepath.Join(root, "cache"),
		"--setopt=logdir="+filepath.Join(root, "log"), "--setopt=tsflags=noscripts",
		"install", "klp-patch-6.1.0-56-amd64", "klp-patch-6.1.0-56-amd64-lp-noreplace")
	if err != nil {
		t.Fatalf("dnf install: %v\n%s", err, b)
	}
	q, err := runTool(t, nil, "rpm", "--root", inst, "-qa", "--qf", "%{NAME} %{VERSION}-%{RELEASE}\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"klp-patch-6.1.0-56-amd64 1.0_1-1", "klp-patch-6.1.0-56-amd64-lp-noreplace 1.0_1-1", "klpack-loader-6.1.0-56-amd64 1.0_1-1"} {
		if !strings.Contains(q, want) {
			t.Errorf("installed:\n%s\nwant %q", q, want)
		}
	}
}
