package schemas_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klpack/klpack/internal/testutil"
)

// outputs names, for every command that prints (or writes) a JSON
// document, the schema the document must match. Adding a command is one
// row. Commands run in the repository root; "$TMP" in args and files is
// the row's own temporary directory, "{}" each match of glob.
var outputs = []struct {
	name   string
	glob   string // the row runs once per match (relative to the root)
	setup  func(t *testing.T, tmp string)
	args   []string
	exit   int
	stdout string // schema file stdout matches; "" when it prints none
	stderr string // schema file stderr matches; "" when not checked
	// files maps a glob of files the command writes to their schema.
	files map[string]string
}{
	{name: "version", args: []string{"version", "--json"}, stdout: "version-v1.schema.json"},
	{name: "scan", glob: "testdata/ko/*", args: []string{"scan", "--json", "{}"}, stdout: "scan-v1.schema.json"},
	{name: "scan-no-hash", args: []string{"scan", "--json", "--no-hash", "testdata/ko/6.1.0-56-amd64"}, stdout: "scan-v2.schema.json"},
	{name: "scan-klp-build", args: []string{"scan", "--json", "testdata/gen/klp-build/ko"}, stdout: "scan-v1.schema.json"},
	{name: "deploy-show", glob: "testdata/states/*.json", args: []string{"deploy", "show", "--json", "{}"}, stdout: "deployed-v1.schema.json"},
	{name: "deploy-capture", setup: sysfsTree, args: []string{"deploy", "capture", "--json", "--sysfs", "$TMP/sys", "--modules", "$TMP/mods"},
		stdout: "deployed-v1.schema.json", stderr: "capture-report-v1.schema.json"},
	{name: "deploy-capture-file", setup: sysfsTree, args: []string{"deploy", "capture", "--sysfs", "$TMP/sys", "--modules", "$TMP/mods", "-o", "$TMP/state.json"},
		files: map[string]string{"$TMP/state.json": "deployed-v1.schema.json"}},
	{name: "check-seed", args: []string{"check", "--json", "--deployed", "testdata/states/seed-mainline.json", "testdata/scenarios/seed/lp3.json"},
		exit: 1, stdout: "check-v1.schema.json"},
	{name: "check-hybrid", args: []string{"check", "--json", "--deployed", "testdata/states/seed-hybrid.json", "testdata/scenarios/seed/lp3.json"},
		exit: 1, stdout: "check-v1.schema.json"},
	{name: "check-empty-kernel", args: []string{"check", "--json", "testdata/scenarios/seed/lp3.json"}, stdout: "check-v1.schema.json"},
	{name: "check-6.1", args: []string{"check", "--json", "--deployed", "testdata/states/testdata-6.1.json", "testdata/ko/6.1.0-56-amd64/lp_replace.ko", "testdata/ko/6.1.0-56-amd64/lp_hook.ko"},
		exit: 1, stdout: "check-v1.schema.json"},
	{name: "check-sarif", args: []string{"check", "--deployed", "testdata/states/seed-mainline.json", "--sarif", "$TMP/check.sarif", "testdata/scenarios/seed/lp3.json"},
		exit: 1, files: map[string]string{"$TMP/check.sarif": sarifSchema}},
	{name: "check-sarif-clean", args: []string{"check", "-f", "testdata/klpack.yaml", "--sarif", "$TMP/check.sarif", "--sarif-base", "testdata"},
		files: map[string]string{"$TMP/check.sarif": sarifSchema}},
	{name: "check-fleet", args: []string{"check", "--json", "--fleet", "testdata/fleet/inventory.jsonl", "--manifests", "testdata/fleet/manifests", "--sarif", "$TMP/fleet.sarif", "testdata/ko/6.1.0-56-amd64/lp_replace.ko"},
		exit: 1, stdout: "fleet-check-v1.schema.json", files: map[string]string{"$TMP/fleet.sarif": sarifSchema}},
	{name: "check-release", args: []string{"check", "--json", "-f", "testdata/klpack.yaml"}, stdout: "check-v1.schema.json"},
	{name: "plan-seed", args: []string{"plan", "--json", "--deployed", "testdata/states/seed-mainline.json", "testdata/scenarios/seed/lp3.json"},
		stdout: "plan-v1.schema.json"},
	{name: "plan-hybrid", args: []string{"plan", "--json", "--deployed", "testdata/states/seed-hybrid.json", "testdata/scenarios/seed/lp3.json"},
		stdout: "plan-v1.schema.json"},
	{name: "plan-6.1", args: []string{"plan", "--json", "--deployed", "testdata/states/testdata-6.1.json", "testdata/ko/6.1.0-56-amd64/lp_replace.ko"},
		stdout: "plan-v1.schema.json"},
	{name: "plan-release", args: []string{"plan", "--json", "-f", "testdata/klpack.yaml"}, stdout: "plan-v1.schema.json"},
	{name: "simulate", glob: "testdata/scenarios/*.yaml", args: []string{"simulate", "--json", "{}"}, stdout: "simulate-v1.schema.json"},
	{name: "simulate-mainline", args: []string{"simulate", "--json", "--kernel-model", "mainline", "testdata/scenarios/seed-hybrid.yaml"}, stdout: "simulate-v1.schema.json"},
	{name: "hooks-status", args: []string{"hooks", "status", "--json", "--bpffs", "$TMP/bpffs"}, stdout: "hooks-status.schema.json"},
	{name: "hooks-sync", args: []string{"hooks", "sync", "--json", "--bpffs", "$TMP/bpffs"}, stdout: "hooks-changes.schema.json"},
	{name: "package", args: []string{"package", "--json", "-o", "$TMP/out", "testdata/release-6.1.yaml"},
		stdout: "package-result-v1.schema.json", files: map[string]string{"$TMP/out/*.manifest.json": "package-v1.schema.json"}},
	{name: "release", args: []string{"release", "--json", "--snapshot", "-f", "testdata/klpack.yaml", "-o", "$TMP/dist"},
		stdout: "release-result-v1.schema.json", files: map[string]string{"$TMP/dist/plans/*.plan.json": "plan-v1.schema.json"}},
	{name: "release-fleet-refused", setup: fleetRelease, args: []string{"release", "--json", "--snapshot", "-f", "$TMP/klpack.yaml"},
		exit: 1, stdout: "release-result-v1.schema.json"},
	{name: "release-refused", args: []string{"release", "--json", "-f", "testdata/klpack.yaml", "-o", "$TMP/dist"},
		exit: 2, stdout: "release-result-v1.schema.json"},
	{name: "hooks-build", args: []string{"hooks", "build", "--json", "-o", "$TMP/hooks", "testdata/ko/6.1.0-56-amd64/lp_hook.ko"},
		stdout: "hooks-build-v1.schema.json"},
}

// TestOutputsValidate runs each row with the built klpack and validates
// what it prints and writes against the row's schema.
func TestOutputsValidate(t *testing.T) {
	root := testutil.Root()
	for _, row := range outputs {
		subjects := []string{""}
		if row.glob != "" {
			m, err := filepath.Glob(filepath.Join(root, row.glob))
			if err != nil || len(m) == 0 {
				t.Fatalf("%s: glob %s matches nothing (%v)", row.name, row.glob, err)
			}
			subjects = m
		}
		for _, subject := range subjects {
			name := row.name
			if subject != "" {
				rel, _ := filepath.Rel(root, subject)
				subject, name = rel, row.name+"/"+filepath.Base(rel)
			}
			t.Run(name, func(t *testing.T) {
				tmp := t.TempDir()
				if row.setup != nil {
					row.setup(t, tmp)
				}
				expand := func(s string) string {
					return strings.ReplaceAll(strings.ReplaceAll(s, "$TMP", tmp), "{}", subject)
				}
				var args []string
				for _, a := range row.args {
					args = append(args, expand(a))
				}
				stdout, stderr, code := run(t, root, nil, args...)
				if code != row.exit {
					t.Fatalf("klpack %s: exit %d, want %d\nstderr: %s", strings.Join(args, " "), code, row.exit, stderr)
				}
				if row.stdout != "" {
					if err := validate(t, row.stdout, stdout); err != nil {
						t.Errorf("stdout does not match %s: %v\n%s", row.stdout, err, stdout)
					}
				}
				if row.stderr != "" {
					if err := validate(t, row.stderr, stderr); err != nil {
						t.Errorf("stderr does not match %s: %v\n%s", row.stderr, err, stderr)
					}
				}
				for pattern, schema := range row.files {
					m, _ := filepath.Glob(expand(pattern))
					if len(m) == 0 {
						t.Fatalf("klpack %s wrote no %s", strings.Join(args, " "), pattern)
					}
					for _, f := range m {
						b, err := os.ReadFile(f)
						if err != nil {
							t.Fatal(err)
						}
						if err := validate(t, schema, b); err != nil {
							t.Errorf("%s does not match %s: %v", filepath.Base(f), schema, err)
						}
					}
				}
			})
		}
	}
}

// sysfsTree lays out a copied /sys/kernel/livepatch of a 6.1 kernel and
// the module files it joins: lp_replace enabled, lp_noreplace in
// transition, lp_param a livepatch file not loaded (a report entry).
func sysfsTree(t *testing.T, tmp string) {
	t.Helper()
	files := map[string]string{
		"sys/lp_replace/enabled":           "1\n",
		"sys/lp_replace/transition":        "0\n",
		"sys/lp_replace/vmlinux/patched":   "1\n",
		"sys/lp_noreplace/enabled":         "0\n",
		"sys/lp_noreplace/transition":      "1\n",
		"sys/lp_noreplace/vmlinux/patched": "1\n",
	}
	for _, d := range []string{"sys/lp_replace/vmlinux/cmdline_proc_show,1", "sys/lp_noreplace/vmlinux/version_proc_show,1",
		"sys/lp_noreplace/vmlinux/loadavg_proc_show,1", "sys/lp_noreplace/vmlinux/c_next,2", "mods"} {
		if err := os.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ko := filepath.Join(testutil.Root(), "testdata/ko/6.1.0-56-amd64")
	for src, dst := range map[string]string{"lp_replace.strip-debug.ko": "lp_replace.ko", "lp_noreplace.ko.xz": "lp_noreplace.ko.xz", "lp_param.strip-debug.ko": "lp_param.ko"} {
		b, err := os.ReadFile(filepath.Join(ko, src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, "mods", dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fleetRelease is a release of lp_replace whose klpack.yaml names the
// testdata fleet: hosts there already run it, so the check stage refuses
// it and the result carries the fleet's failing combinations.
func fleetRelease(t *testing.T, tmp string) {
	t.Helper()
	root := testutil.Root()
	if err := os.CopyFS(filepath.Join(tmp, "fleet"), os.DirFS(filepath.Join(root, "testdata/fleet"))); err != nil {
		t.Fatal(err)
	}
	ko, err := os.ReadFile(filepath.Join(root, "testdata/ko/6.1.0-56-amd64/lp_replace.strip-debug.ko"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"ko/lp_replace.ko": string(ko),
		"klpack.yaml": "version: 1.0-2\nkernel: 6.1.0-56-amd64\n" +
			"fleet: {inventory: fleet/inventory.jsonl, manifests: fleet/manifests}\n" +
			"modules: [{path: ko/lp_replace.ko, layer: cumulative}]\n" +
			"package: {maintainer: klpack tests <klpack@example.com>}\n",
	}
	for name, body := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(tmp, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
