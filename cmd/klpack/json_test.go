package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klpack/klpack/internal/testutil"
)

// oneDocument decodes stdout as exactly one JSON document, refusing
// anything before or after it.
func oneDocument(t *testing.T, stdout []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("stdout is not a JSON document: %v\n%s", err, stdout)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		t.Fatalf("stdout holds more than one JSON document (%v): %s", err, stdout)
	}
}

type jsonFile struct {
	Format  string `json:"format"`
	Package string `json:"package"`
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
}

// checkFiles: each file is named relative to out, inside it, and its
// sha256 and size are the file's.
func checkFiles(t *testing.T, out string, files []jsonFile) {
	t.Helper()
	if len(files) == 0 {
		t.Fatal("no files listed")
	}
	for _, f := range files {
		if filepath.IsAbs(f.Path) || !filepath.IsLocal(filepath.FromSlash(f.Path)) || strings.Contains(f.Path, `\`) {
			t.Errorf("path %q is not relative to the output directory", f.Path)
			continue
		}
		b, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Errorf("listed file: %v", err)
			continue
		}
		sum := sha256.Sum256(b)
		if f.SHA256 != hex.EncodeToString(sum[:]) || f.Size != int64(len(b)) {
			t.Errorf("%s: sha256 %s size %d listed, the file has %x size %d", f.Path, f.SHA256, f.Size, sum, len(b))
		}
	}
}

func runJSON(t *testing.T, dir string, args ...string) (stdout, stderr []byte, code int) {
	t.Helper()
	t.Chdir(dir)
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return o.Bytes(), e.Bytes(), code
}

func TestHooksBuildJSON(t *testing.T) {
	testutil.NeedTool(t, "clang")
	testutil.NeedTool(t, "llvm-strip")
	ko := filepath.Join(testutil.Root(), "testdata", "ko", "6.12.117+deb12-amd64", "lp_hook.ko")
	dir := t.TempDir()
	stdout, stderr, code := runJSON(t, dir, "hooks", "build", "--json", "-o", "out/hooks", ko)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Schema string `json:"schema"`
		Output string `json:"output"`
		Target *struct {
			Source string   `json:"source"`
			Lacks  []string `json:"lacks"`
		} `json:"target"`
		Hooks []struct {
			Module, Func, Errno, Source string
			Lacks                       []string
			Files                       []jsonFile
		} `json:"hooks"`
	}
	oneDocument(t, stdout, &doc)
	if doc.Schema != "klpack.hooks-build/v1" || doc.Output != "out/hooks" || doc.Target != nil {
		t.Errorf("schema %q output %q target %v", doc.Schema, doc.Output, doc.Target)
	}
	var funcs, files []string
	for _, h := range doc.Hooks {
		funcs = append(funcs, h.Module+"/"+h.Func)
		checkFiles(t, filepath.Join(dir, "out/hooks"), h.Files)
		for _, f := range h.Files {
			files = append(files, f.Path)
		}
		if h.Errno != "ERRNO" || h.Source != "marker" || h.Lacks == nil {
			t.Errorf("%s: errno %q source %q lacks %v", h.Func, h.Errno, h.Source, h.Lacks)
		}
	}
	if want := []string{"lp_hook/lp_hook_meminfo_allowed", "lp_hook/lp_hook_meminfo_extra"}; !slices.Equal(funcs, want) {
		t.Errorf("hooks %q, want %q", funcs, want)
	}
	if want := []string{"lp_hook/lp_hook_meminfo_allowed.bpf.c", "lp_hook/lp_hook_meminfo_allowed.bpf.o",
		"lp_hook/lp_hook_meminfo_extra.bpf.c", "lp_hook/lp_hook_meminfo_extra.bpf.o"}; !slices.Equal(files, want) {
		t.Errorf("files %q, want %q", files, want)
	}
	// The human lines are the document's content: not printed.
	if len(stderr) != 0 {
		t.Errorf("stderr: %s", stderr)
	}
}

func TestPackageJSON(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	rel := filepath.Join(testutil.Root(), "testdata", "release-6.1.yaml")
	dir := t.TempDir()
	stdout, stderr, code := runJSON(t, dir, "package", "--json", "-o", "new/pkgs", rel)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Schema string     `json:"schema"`
		Output string     `json:"output"`
		Files  []jsonFile `json:"files"`
	}
	oneDocument(t, stdout, &doc)
	if doc.Schema != "klpack.package-result/v1" || doc.Output != "new/pkgs" {
		t.Errorf("schema %q output %q", doc.Schema, doc.Output)
	}
	checkFiles(t, filepath.Join(dir, "new/pkgs"), doc.Files)
	formats := map[string]int{}
	for _, f := range doc.Files {
		formats[f.Format]++
		if f.Package == "" || strings.Contains(f.Path, "/") {
			t.Errorf("file %+v: want a package name and a plain file name", f)
		}
	}
	// Two patch packages and the loader, each as rpm and deb; a
	// manifest per patch package.
	if formats["rpm"] != 3 || formats["deb"] != 3 || formats["manifest"] != 2 || len(formats) != 3 {
		t.Errorf("formats %v, want 3 rpm, 3 deb, 2 manifest", formats)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "new/pkgs"))
	if err != nil || len(entries) != len(doc.Files) {
		t.Errorf("output holds %d files (%v), the document lists %d", len(entries), err, len(doc.Files))
	}
}

type releaseDoc struct {
	Schema   string `json:"schema"`
	OK       bool   `json:"ok"`
	Version  string `json:"version"`
	Kernel   string `json:"kernel"`
	Output   string `json:"output"`
	Snapshot bool   `json:"snapshot"`
	Stages   []struct {
		Name    string `json:"name"`
		Status  string `json:"status"`
		Summary string `json:"summary"`
		Reason  string `json:"reason"`
		Error   string `json:"error"`
	} `json:"stages"`
	Files []jsonFile `json:"files"`
}

func TestReleaseJSON(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	dir := t.TempDir()
	ko := filepath.Join(testutil.Root(), "testdata", "ko", "6.1.0-56-amd64")
	// Module paths stay inside the release's directory.
	if err := os.Mkdir(filepath.Join(dir, "ko"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"lp_replace.ko", "lp_noreplace.ko"} {
		b, err := os.ReadFile(filepath.Join(ko, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "ko", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := "version: 1.0-1\nkernel: 6.1.0-56-amd64\nmodules:\n" +
		"  - path: ko/lp_replace.ko\n    layer: cumulative\n" +
		"  - path: ko/lp_noreplace.ko\n    layer: off-band\n" +
		"package:\n  maintainer: klpack tests <klpack@example.com>\nrepository:\n  suite: stable\n"
	if err := os.WriteFile(filepath.Join(dir, "klpack.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runJSON(t, dir, "release", "--snapshot", "--json", "-o", "rel/out")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc releaseDoc
	oneDocument(t, stdout, &doc)
	if doc.Schema != "klpack.release-result/v1" || !doc.OK || doc.Version != "1.0-1" || doc.Kernel != "6.1.0-56-amd64" || doc.Output != "rel/out" || !doc.Snapshot {
		t.Errorf("document head: %+v", doc)
	}
	var got []string
	for _, s := range doc.Stages {
		got = append(got, s.Name+" "+s.Status)
		switch {
		case s.Status == "ran" && (s.Summary == "" || s.Reason != ""),
			s.Status == "skipped" && (s.Reason == "" || s.Summary != ""),
			s.Error != "":
			t.Errorf("stage %+v", s)
		}
	}
	want := []string{"scan ran", "check ran", "plan ran", "hooks skipped", "modsign skipped", "packages ran", "repos ran", "checksums ran"}
	if !slices.Equal(got, want) {
		t.Errorf("stages %q, want %q", got, want)
	}
	checkFiles(t, filepath.Join(dir, "rel/out"), doc.Files)
	if !slices.ContainsFunc(doc.Files, func(f jsonFile) bool { return f.Path == "SHA256SUMS" }) ||
		!slices.ContainsFunc(doc.Files, func(f jsonFile) bool { return f.Path == "rpm/repodata/repomd.xml" }) {
		t.Errorf("files lack SHA256SUMS or rpm/repodata/repomd.xml: %+v", doc.Files)
	}
	// The stage lines go to stderr, for people watching.
	if !bytes.Contains(stderr, []byte("modsign    skipped: --snapshot\n")) {
		t.Errorf("stderr lacks the stage lines: %s", stderr)
	}

	// A failing stage: exit 2, the document says which stage and why,
	// with those before it, and lists no file.
	stdout, stderr, code = runJSON(t, dir, "release", "--json", "-o", "rel/signed")
	if code != 2 {
		t.Fatalf("exit %d, want 2: %s", code, stderr)
	}
	doc = releaseDoc{}
	oneDocument(t, stdout, &doc)
	last := doc.Stages[len(doc.Stages)-1]
	if doc.OK || len(doc.Files) != 0 || doc.Version != "1.0-1" || len(doc.Stages) != 2 || doc.Stages[0].Name != "scan" ||
		last.Name != "sign" || last.Status != "failed" || !strings.Contains(last.Error, "sign.packages is not set") {
		t.Errorf("failed release: %+v", doc)
	}
	if !bytes.Contains(stderr, []byte("klpack: stage sign: sign.packages is not set")) {
		t.Errorf("stderr: %s", stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "rel/signed")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed release left its output directory: %v", err)
	}
}
