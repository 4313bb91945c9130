package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klpack/klpack/internal/testutil"
)

// hostForbidden are what the host build must not link: the packaging
// stack and the stages that make a release. (No build links a JSON
// Schema validator any more: internal/layers pins that for pkg/check.)
var hostForbidden = []string{
	"github.com/goreleaser/nfpm",
	"github.com/go-git",
	"github.com/Masterminds/sprig",
	"github.com/klpack/klpack/build",
	"github.com/klpack/klpack/templates",
	"github.com/klpack/klpack/pkg/pack",
}

// imports lists, by go list -deps, the packages a build of this command
// links and what each imports.
func imports(t *testing.T, gobin string, flags ...string) map[string][]string {
	t.Helper()
	args := append([]string{"list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}"}, flags...)
	out, err := exec.Command(gobin, append(args, ".")...).Output()
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	deps := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		deps[f[0]] = f[1:]
	}
	return deps
}

// linked lists the packages of deps that are path or inside it.
func linked(deps map[string][]string, path string) []string {
	var out []string
	for p := range deps {
		if p == path || strings.HasPrefix(p, path+"/") {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// TestHostBuildLinks: the host build links what a fleet host runs and
// none of hostForbidden, which the full build does link (so the test sees
// them when they are there).
func TestHostBuildLinks(t *testing.T) {
	gobin := testutil.NeedTool(t, "go")
	host, full := imports(t, gobin, "-tags", "klpack_host"), imports(t, gobin)
	for _, bad := range hostForbidden {
		if len(linked(full, bad)) == 0 {
			t.Errorf("the full build links nothing of %s: is the list stale?", bad)
		}
		for _, p := range linked(host, bad) {
			var by []string
			for imp, ims := range host {
				if slices.Contains(ims, p) {
					by = append(by, imp)
				}
			}
			slices.Sort(by)
			t.Errorf("the host build links %s (imported by %s)", p, strings.Join(by, ", "))
		}
	}
	for _, want := range []string{"github.com/klpack/klpack/pkg/hooks", "github.com/klpack/klpack/pkg/check", "github.com/klpack/klpack/pkg/deploy", "github.com/klpack/klpack/elfscan"} {
		if _, ok := host[want]; !ok {
			t.Errorf("the host build does not link %s", want)
		}
	}
}

// TestHostBuildRuns builds the host binary and asks it for what it has
// and what it leaves out.
func TestHostBuildRuns(t *testing.T) {
	gobin := testutil.NeedTool(t, "go")
	dir := t.TempDir()
	bin := filepath.Join(dir, "klpack-host")
	if out, err := exec.Command(gobin, "build", "-tags", "klpack_host", "-ldflags", "-X main.version=v0.0.0-hosttest", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags klpack_host: %v\n%s", err, out)
	}
	checkBuiltVersion(t, gobin, bin, "v0.0.0-hosttest")
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"hooks", "status", "--bpffs", filepath.Join(dir, "none")}, 0, "no hooks pinned\n", ""},
		{[]string{"package", "--out", dir, "release.yaml"}, 2, "", "klpack: klpack package is not in this host build of klpack (-tags klpack_host): run it where releases are built, with the full klpack\n"},
		{[]string{"sign", "--key", "k", "m.ko"}, 2, "", "klpack: klpack sign is not in this host build"},
		{[]string{"hooks", "build", "-o", dir, "m.ko"}, 2, "", "klpack: klpack hooks build is not in this host build"},
		{[]string{"hooks", "stats"}, 2, "", "klpack: unknown command \"stats\" for \"klpack hooks\"; did you mean \"status\"?\n"},
		{[]string{"deploy", "captur", "--sysfs", dir}, 2, "", "klpack: unknown command \"captur\" for \"klpack deploy\"; did you mean \"capture\"?\n"},
		{[]string{"__complete", "check", "--kernel-model", ""}, 0, "mainline\nhybrid\nreplace-set\n:4\n", "Completion ended with directive: ShellCompDirectiveNoFileComp\n"},
		{[]string{"check", "--kernel-model", "mainlin", "m.ko"}, 2, "", "klpack: invalid argument \"mainlin\" for \"--kernel-model\" flag: want mainline, hybrid or replace-set\n"},
		{[]string{"hooks"}, 2, "", "klpack: missing COMMAND: klpack hooks takes one of attach, detach, set, status, sync, unset (see klpack hooks --help)\n"},
	}
	for _, tt := range tests {
		cmd := exec.Command(bin, tt.args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tt.code || stdout.String() != tt.stdout || !strings.HasPrefix(stderr.String(), tt.stderr) {
			t.Errorf("klpack-host %s: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr starting %q",
				strings.Join(tt.args, " "), code, stdout.String(), stderr.String(), tt.code, tt.stdout, tt.stderr)
		}
	}
	for _, args := range [][]string{{"--help"}, {"hooks", "--help"}} {
		help, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(help), "\n") {
			if f := strings.Fields(l); len(f) > 0 && slices.Contains([]string{"package", "sign", "build"}, f[0]) {
				t.Errorf("klpack-host %s lists %q", strings.Join(args, " "), l)
			}
		}
	}
}

// checkBuiltVersion runs klpack version --json from a built binary and
// compares it with what go version -m reads from the same binary: the
// commit is there only when the build stamped one (-buildvcs, a git
// checkout), and must then be reported.
func checkBuiltVersion(t *testing.T, gobin, bin, want string) {
	t.Helper()
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("%s version --json: %v", bin, err)
	}
	var got buildVersion
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s version --json: %v\n%s", bin, err, out)
	}
	m, err := exec.Command(gobin, "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	wantV := buildVersion{Schema: "klpack.version/v1", Version: want}
	for _, l := range strings.Split(string(m), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && f[0] == bin+":":
			wantV.Go = f[1]
		case len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision="):
			wantV.Commit = strings.TrimPrefix(f[1], "vcs.revision=")
		case len(f) == 2 && f[0] == "build" && f[1] == "vcs.modified=true":
			wantV.Modified = true
		}
	}
	if got != wantV {
		t.Errorf("%s version --json = %+v, want %+v (from go version -m)", bin, got, wantV)
	}
	text, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", bin, err)
	}
	if !strings.HasPrefix(string(text), "klpack "+want+"\ncommit "+wantV.commit()+"\n") {
		t.Errorf("%s --version = %q, want it to start with klpack %s, commit %s", bin, text, want, wantV.commit())
	}
}
