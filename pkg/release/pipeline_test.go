package release

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
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
	"testing"
	"time"

	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/internal/throwaway"
	"github.com/klpack/klpack/pkg/modsign"
	"github.com/klpack/klpack/pkg/order"
)

const koDir = "../../testdata/ko/6.1.0-56-amd64"

// project makes a release directory: the named modules of koDir under
// ko/, throwaway keys under keys/, and klpack.yaml with body after the
// version and kernel.
func project(t *testing.T, modules []string, body string) string {
	t.Helper()
	dir := t.TempDir()
	for _, m := range modules {
		b, err := os.ReadFile(filepath.Join(koDir, m))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "ko"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "ko", m), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := throwaway.Write(filepath.Join(dir, "keys")); err != nil {
		t.Fatal(err)
	}
	yaml := "version: 1.0-1\nkernel: 6.1.0-56-amd64\n" + body
	if !strings.Contains(body, "package:") {
		yaml += "package:\n  maintainer: klpack tests <klpack@example.com>\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "klpack.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

const (
	twoModules = `modules:
  - path: ko/lp_replace.ko
    layer: cumulative
  - path: ko/lp_noreplace.ko
    layer: off-band
`
	signing = `package:
  maintainer: klpack tests <klpack@example.com>
sign:
  packages:
    key: keys/signing-key.asc
  modules:
    key: keys/module-key.pem
    cert: keys/module-cert.pem
`
)

var epoch = time.Unix(1700000000, 0).UTC()

// TestExecute: a signed release of two modules lands whole in the output
// directory: the plan, the packages in their repositories' places, each
// carrying the module signed with the module key.
func TestExecute(t *testing.T) {
	dir := project(t, []string{"lp_replace.ko", "lp_noreplace.ko"}, twoModules+signing)
	var log bytes.Buffer
	out := filepath.Join(dir, "out")
	run, err := Execute(t.Context(), filepath.Join(dir, "klpack.yaml"), Options{MTime: epoch, Log: &log, Output: out})
	if err != nil {
		t.Fatalf("Execute = %v\n%s", err, log.String())
	}
	for _, stage := range []string{"scan", "check", "plan", "hooks", "modsign", "packages", "repos", "checksums"} {
		if !regexpLine(log.String(), stage) {
			t.Errorf("no line for stage %s in\n%s", stage, log.String())
		}
	}
	if !strings.Contains(log.String(), "hooks      skipped: no module declares a hook point") {
		t.Errorf("the hooks stage does not say why it is skipped:\n%s", log.String())
	}
	files := tree(t, out)
	want := []string{
		"deb/pool/main/k/klp-patch-6.1.0-56-amd64-lp-noreplace/klp-patch-6.1.0-56-amd64-lp-noreplace_1.0-1_amd64.deb",
		"deb/pool/main/k/klp-patch-6.1.0-56-amd64/klp-patch-6.1.0-56-amd64_1.0-1_amd64.deb",
		"plans/6.1.0-56-amd64_1.0-1.plan.json",
		"rpm/klp-patch-6.1.0-56-amd64-1.0_1-1.x86_64.rpm",
		"rpm/klp-patch-6.1.0-56-amd64-lp-noreplace-1.0_1-1.x86_64.rpm",
		"deb/dists/stable/InRelease", "deb/dists/stable/Release.gpg", "rpm/repodata/repomd.xml.asc",
		"SHA256SUMS", "SHA256SUMS.asc", PublicKeyFile,
	}
	for _, w := range want {
		if _, ok := files[w]; !ok {
			t.Errorf("output lacks %s; it holds %v", w, slices.Sorted(maps.Keys(files)))
		}
	}
	for name := range files {
		if strings.Contains(name, ".klpack-staging") {
			t.Errorf("staging left behind: %s", name)
		}
	}
	sums, _ := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	for _, f := range []string{want[0], want[1], want[2], want[3], want[4], "manifests/klp-patch-6.1.0-56-amd64_1.0-1.manifest.json"} {
		if !strings.Contains(string(sums), "  "+f+"\n") {
			t.Errorf("SHA256SUMS does not list %s:\n%s", f, sums)
		}
	}
	p, err := order.ReadPlan(filepath.Join(out, "plans/6.1.0-56-amd64_1.0-1.plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Loads(); !slices.Equal(got, []string{"lp_replace", "lp_noreplace"}) {
		t.Errorf("plan loads %v, want lp_replace then lp_noreplace", got)
	}
	for _, m := range run.Release.Pack.Modules {
		if m.Record.Signature == nil || m.Record.Signature.Signer != "klpack throwaway module key" {
			t.Errorf("module %s: signature %+v, want the module key's", m.Record.Name, m.Record.Signature)
		}
	}
	// The packages are signed: the deb carries its debsig member.
	ar := testutil.NeedTool(t, "ar")
	if b, err := exec.Command(ar, "t", filepath.Join(out, want[1])).CombinedOutput(); err != nil || !strings.Contains(string(b), "_gpgorigin") {
		t.Errorf("ar t %s: %v\n%s\nwant a _gpgorigin member (a signed deb)", want[1], err, b)
	}
	// The module inside the deb is the signed one.
	dpkgDeb := testutil.NeedTool(t, "dpkg-deb")
	x := t.TempDir()
	deb := filepath.Join(out, want[1])
	if b, err := exec.Command(dpkgDeb, "-x", deb, x).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, b)
	}
	var ko string
	filepath.WalkDir(x, func(p string, d fs.DirEntry, err error) error {
		if strings.HasSuffix(p, "lp_replace.ko") {
			ko = p
		}
		return nil
	})
	b, err := os.ReadFile(ko)
	if err != nil {
		t.Fatalf("the deb holds no lp_replace.ko: %v", err)
	}
	if sig, _, err := modsign.Parse(b); err != nil || sig.Signer != "klpack throwaway module key" {
		t.Errorf("packaged lp_replace.ko: signature %+v, %v; want signed by the module key", sig, err)
	}
}

func regexpLine(log, stage string) bool {
	for l := range strings.Lines(log) {
		if strings.HasPrefix(l, fmt.Sprintf("%-10s ", stage)) {
			return true
		}
	}
	return false
}

// TestExecuteRefused: a release refused at any stage leaves the output
// directory byte for byte as it was (an earlier release in it included),
// and one that did not exist still does not.
func TestExecuteRefused(t *testing.T) {
	// Two off-band fixes of version_proc_show: no order avoids that.
	overlap := "modules:\n  - path: ko/lp_noreplace.ko\n    layer: off-band\n  - path: ko/lp_param.ko\n    layer: off-band\n"
	tests := []struct {
		name, body, stage, want string
		snapshot                bool
		env                     map[string]string
	}{
		{"check fails", overlap + signing, "check", "KLP001", false, nil},
		{"off-band labelled replace", "modules:\n  - path: ko/lp_replace.ko\n    layer: off-band\n" + signing, "scan", "layer off-band, but its patch is an atomic replace", false, nil},
		{"no package key", twoModules, "sign", "sign.packages is not set", false, nil},
		{"package key missing", twoModules + "sign:\n  packages:\n    key: keys/nope.asc\n", "sign", "nope.asc", false, nil},
		{"module key missing", twoModules + "sign:\n  packages:\n    key: keys/signing-key.asc\n  modules:\n    key: keys/nope.pem\n    cert: keys/module-cert.pem\n", "modsign", "nope.pem", false, nil},
		{"compressed module signed", "modules:\n  - path: ko/lp_replace.ko.xz\n    layer: cumulative\n" + signing, "modsign", "uncompressed", false, nil},
		{"hooks tool missing", "modules:\n  - path: ko/lp_hook.ko\n    layer: off-band\n", "hooks", "clang", true, map[string]string{"PATH": "/nonexistent"}},
		{"repository tool missing", twoModules, "repos", "createrepo_c", true, map[string]string{"PATH": "/nonexistent"}},
		{"bad deployed state", twoModules + "deployed: state.json\n", "scan", "state.json", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := project(t, []string{"lp_replace.ko", "lp_noreplace.ko", "lp_replace.ko.xz", "lp_hook.ko", "lp_param.ko"}, tt.body)
			os.WriteFile(filepath.Join(dir, "state.json"), []byte(`{"schema":"klpack.deployed/v1","patches":[{}],"patches":[]}`), 0o644)
			out := filepath.Join(dir, "out")
			// An earlier snapshot release, and a file of the user's.
			earlier := project(t, []string{"lp_replace.ko", "lp_noreplace.ko"}, twoModules)
			if _, err := Execute(t.Context(), filepath.Join(earlier, "klpack.yaml"), Options{Snapshot: true, MTime: epoch, Output: out}); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(out, "NOTES"), []byte("mine"), 0o640)
			before := tree(t, out)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			for _, o := range []string{out, filepath.Join(dir, "fresh")} {
				_, err := Execute(context.Background(), filepath.Join(dir, "klpack.yaml"), Options{Snapshot: tt.snapshot, MTime: epoch, Output: o})
				se, ok := errors.AsType[*StageError](err)
				if !ok || se.Stage != tt.stage || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Execute = %v, want stage %s failing with %q", err, tt.stage, tt.want)
				}
			}
			if after := tree(t, out); !maps.Equal(before, after) {
				t.Errorf("output directory changed:\nbefore %v\nafter  %v", before, after)
			}
			if _, err := os.Lstat(filepath.Join(dir, "fresh")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a refused release left the output directory it created: %v", err)
			}
		})
	}
}

// tree maps every entry under dir to its type, mode and content hash.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		v := info.Mode().String()
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out[filepath.ToSlash(rel)] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestExecutePlan: the gate lets through what the plan avoids, the plan
// orders the packages, and what going back costs is said before anything
// ships.
func TestExecutePlan(t *testing.T) {
	t.Run("listed order reordered", func(t *testing.T) {
		dir := project(t, []string{"lp_replace.ko", "lp_noreplace.ko"},
			"modules:\n  - path: ko/lp_noreplace.ko\n    layer: off-band\n  - path: ko/lp_replace.ko\n    layer: cumulative\n")
		var log bytes.Buffer
		run, err := Execute(t.Context(), filepath.Join(dir, "klpack.yaml"), Options{Snapshot: true, MTime: epoch, Log: &log, Output: filepath.Join(dir, "out")})
		if err != nil {
			t.Fatalf("Execute = %v\n%s", err, log.String())
		}
		if !strings.Contains(log.String(), "check      1 error, 0 warnings, 0 infos on the mainline kernel model in the order listed; the plan avoids those") {
			t.Errorf("the check line does not say the plan avoids the listed order's error:\n%s", log.String())
		}
		if got := run.Plan.Loads(); !slices.Equal(got, []string{"lp_replace", "lp_noreplace"}) {
			t.Errorf("plan loads %v, want lp_replace first", got)
		}
		if got := run.Release.Pack.Modules[0].Record.Name; got != "lp_replace" {
			t.Errorf("packages ordered with %s first, want lp_replace", got)
		}
	})
	t.Run("way back", func(t *testing.T) {
		dir := project(t, []string{"lp_replace.ko"}, "deployed: state.json\nmodules:\n  - path: ko/lp_replace.ko\n    layer: cumulative\n")
		b, err := os.ReadFile("../../testdata/states/testdata-6.1.json")
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "state.json"), b, 0o644)
		var log bytes.Buffer
		run, err := Execute(t.Context(), filepath.Join(dir, "klpack.yaml"), Options{Snapshot: true, MTime: epoch, Log: &log, Output: filepath.Join(dir, "out")})
		if err != nil {
			t.Fatalf("Execute = %v\n%s", err, log.String())
		}
		for _, want := range []string{
			"plan       4 steps: disable lp_multiobj, unload lp_multiobj, load lp_replace, unload lp_noreplace\n",
			"           way back: the plan frees lp_noreplace: going back loads it again",
			"           way back: the plan frees lp_multiobj: going back loads it again",
		} {
			if !strings.Contains(log.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, log.String())
			}
		}
		if len(run.Plan.WayBack) != 2 {
			t.Errorf("the plan's way_back = %q, want 2 notes", run.Plan.WayBack)
		}
	})
}

// TestExecuteTwoReleases: a second release into the same output directory
// keeps the first one's packages and indexes both, moves packages before
// the indexes that name them, and leaves no index file of the first run
// that the new indexes do not name.
func TestExecuteTwoReleases(t *testing.T) {
	dir := project(t, []string{"lp_replace.ko", "lp_noreplace.ko"}, twoModules)
	cfg := filepath.Join(dir, "klpack.yaml")
	out := filepath.Join(dir, "out")
	if _, err := Execute(t.Context(), cfg, Options{Snapshot: true, MTime: epoch, Output: out}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, bytes.Replace(b, []byte("version: 1.0-1"), []byte("version: 1.0-2"), 1), 0o644)
	run, err := Execute(t.Context(), cfg, Options{Snapshot: true, MTime: epoch.Add(time.Hour), Output: out})
	if err != nil {
		t.Fatal(err)
	}
	packages, _ := os.ReadFile(filepath.Join(out, "deb/dists/stable/main/binary-amd64/Packages"))
	for _, v := range []string{"1.0-1", "1.0-2"} {
		if !strings.Contains(string(packages), "Package: klp-patch-6.1.0-56-amd64\nVersion: "+v+"\n") {
			t.Errorf("Packages lacks klp-patch-6.1.0-56-amd64 %s:\n%s", v, packages)
		}
		if _, err := os.Stat(filepath.Join(out, "rpm/klp-patch-6.1.0-56-amd64-"+strings.ReplaceAll(v, "-", "_")+"-1.x86_64.rpm")); err != nil {
			t.Errorf("rpm of %s: %v", v, err)
		}
	}
	sums, _ := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	for _, f := range []string{"plans/6.1.0-56-amd64_1.0-1.plan.json", "plans/6.1.0-56-amd64_1.0-2.plan.json",
		"deb/pool/main/k/klp-patch-6.1.0-56-amd64/klp-patch-6.1.0-56-amd64_1.0-1_amd64.deb",
		"rpm/klp-patch-6.1.0-56-amd64-1.0_2-1.x86_64.rpm"} {
		if !strings.Contains(string(sums), "  "+f+"\n") {
			t.Errorf("SHA256SUMS of the second release does not list %s:\n%s", f, sums)
		}
	}
	repomd, _ := os.ReadFile(filepath.Join(out, "rpm/repodata/repomd.xml"))
	ents, _ := os.ReadDir(filepath.Join(out, "rpm/repodata"))
	var primary []byte
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), "-primary.xml.gz") {
			f, _ := os.Open(filepath.Join(out, "rpm/repodata", e.Name()))
			zr, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			primary, _ = io.ReadAll(zr)
			f.Close()
		}
	}
	for _, v := range []string{`ver="1.0_1"`, `ver="1.0_2"`} {
		if !strings.Contains(string(primary), v) {
			t.Errorf("the dnf repository's primary.xml lacks %s", v)
		}
	}
	for _, e := range ents {
		if n := e.Name(); n != "repomd.xml" && !strings.Contains(string(repomd), n) {
			t.Errorf("rpm/repodata/%s is named by no index: a stale file of the first run", n)
		}
	}
	// The order of the moves: packages, then indexes, SHA256SUMS last.
	last := func(prefix string) int {
		i := -1
		for k, f := range run.Committed {
			if strings.HasPrefix(f, prefix) {
				i = k
			}
		}
		return i
	}
	first := func(prefix string) int {
		return slices.IndexFunc(run.Committed, func(f string) bool { return strings.HasPrefix(f, prefix) })
	}
	if !(last("deb/pool/") < first("deb/dists/") && last("rpm/klp") < first("rpm/repodata/") &&
		run.Committed[len(run.Committed)-1] == "SHA256SUMS") || first("deb/dists/") < 0 || first("rpm/repodata/") < 0 {
		t.Errorf("moved in this order, want packages before indexes and SHA256SUMS last: %q", run.Committed)
	}
}

// TestExecuteHooks: the hooks stage builds an object per hook point of
// lp_hook with clang and the patch package carries them. The patch
// package depends on the klpack package, which attaches them on the
// host; with package.host_binary the loader package ships that binary
// instead.
func TestExecuteHooks(t *testing.T) {
	testutil.NeedTool(t, "clang")
	dpkgDeb := testutil.NeedTool(t, "dpkg-deb")
	const (
		patchDeb  = "deb/pool/main/k/klp-patch-6.1.0-56-amd64-lp-hook/klp-patch-6.1.0-56-amd64-lp-hook_1.0-1_amd64.deb"
		loaderDeb = "deb/pool/main/k/klpack-loader-6.1.0-56-amd64/klpack-loader-6.1.0-56-amd64_1.0-1_amd64.deb"
		hostBin   = "./usr/libexec/klpack/6.1.0-56-amd64/klpack"
	)
	deb := func(args ...string) string {
		b, err := exec.Command(dpkgDeb, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("dpkg-deb %q: %v\n%s", args, err, b)
		}
		return string(b)
	}
	for _, tt := range []struct {
		name, yaml, log string
		ships           bool
	}{
		{"depends", "", "; the packages with hooks depend on klpack\n", false},
		{"pinned", "package:\n  maintainer: m <m@x>\n  host_binary: klpack-host\n", "; the loader package ships klpack-host for the hooks\n", true},
	} {
		dir := project(t, []string{"lp_hook.ko"}, "modules:\n  - path: ko/lp_hook.ko\n    layer: off-band\n"+tt.yaml)
		self, err := os.ReadFile("/proc/self/exe")
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "klpack-host"), self, 0o755)
		var log bytes.Buffer
		out := filepath.Join(dir, "out")
		if _, err := Execute(t.Context(), filepath.Join(dir, "klpack.yaml"), Options{Snapshot: true, MTime: epoch, Log: &log, Output: out}); err != nil {
			t.Fatalf("%s: Execute = %v\n%s", tt.name, err, log.String())
		}
		for _, want := range []string{"hooks      2 built and validated: lp_hook/lp_hook_meminfo_allowed, lp_hook/lp_hook_meminfo_extra\n", tt.log} {
			if !strings.Contains(log.String(), want) {
				t.Errorf("%s: log lacks %q:\n%s", tt.name, want, log.String())
			}
		}
		if c := deb("-c", filepath.Join(out, patchDeb)); !strings.Contains(c, "/hooks/lp_hook_meminfo_allowed.bpf.o") {
			t.Errorf("%s: the patch package lacks its hook objects:\n%s", tt.name, c)
		}
		deps := strings.Split(strings.TrimSpace(deb("-f", filepath.Join(out, patchDeb), "Depends")), ", ")
		if slices.Contains(deps, "klpack") == tt.ships {
			t.Errorf("%s: the patch package depends on %q", tt.name, deps)
		}
		if c := deb("-c", filepath.Join(out, loaderDeb)); strings.Contains(c, hostBin) != tt.ships {
			t.Errorf("%s: the loader package's files, want %s shipped %v:\n%s", tt.name, hostBin, tt.ships, c)
		}
	}
	// A host binary that is no ELF executable stops the release.
	dir2 := project(t, []string{"lp_hook.ko"}, "modules:\n  - path: ko/lp_hook.ko\n    layer: off-band\npackage:\n  maintainer: m <m@x>\n  host_binary: klpack.yaml\n")
	_, err := Execute(t.Context(), filepath.Join(dir2, "klpack.yaml"), Options{Snapshot: true, MTime: epoch, Output: filepath.Join(dir2, "out")})
	if se, ok := errors.AsType[*StageError](err); !ok || se.Stage != "packages" || !strings.Contains(err.Error(), "not an ELF file") {
		t.Errorf("Execute(host_binary klpack.yaml) = %v, want the packages stage refusing it", err)
	}
}
