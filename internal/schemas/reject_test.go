package schemas_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// Minimal documents as klpack writes them, written by hand: each must
// validate, and each mutation below must not.
const (
	module = `{"path": "lp.ko", "sha256": "` + sha + `", "name": "lp_replace",
		"vermagic": "6.1.0-56-amd64 SMP preempt mod_unload modversions ", "arch": "x86_64", "livepatch": true,
		"format": "static", "layout_source": "dwarf", "modinfo": {"livepatch": ["Y"]}, "signature": null,
		"patches": [{"symbol": "patch", "replace": true, "replace_source": "static initializer", "replaceable": null,
			"replace_set": null, "states": [{"id": 1, "version": 2}],
			"objects": [{"name": null, "funcs": [{"old_name": "cmdline_proc_show", "old_sympos": 0, "new_func": "lp_cmdline"}],
				"callbacks": {"pre_patch": "pre"}}],
			"hooks": [{"object": "lp_replace", "func": "lp_hook", "source": "marker", "errno": "ERRNO"}]}]}`
	sha       = "f9ce8cd081618da1a004d1e4d52e4e8076e77b8dbd5d15d53a51207eb8609272"
	deplPatch = `{"path": "lp.ko", "sha256": "", "name": "lp1", "vermagic": "6.1.0-56-amd64 ", "arch": "x86_64",
		"livepatch": true, "format": "static", "layout_source": "table", "modinfo": null, "signature": null, "patches": [],
		"enabled": true, "load_order": 1, "transition": false, "layer": "off-band"}`
	finding = `{"rule": "KLP002", "name": "replace-nop-hazard", "severity": "error", "message": "m", "patches": ["lp1", "lp3"],
		"functions": ["vmlinux/funcA,1"], "file": "lp3.ko", "why": "w"}`
	expect = `{"patches": [{"name": "lp1", "enabled": true, "transition": false}], "modules": ["lp1"]}`
)

var bases = map[string]string{
	"scan-v1.schema.json": `{"schema": "klpack.scan/v1", "modules": [` + module + `]}`,
	"scan-v2.schema.json": `{"schema": "klpack.scan/v2", "modules": [` + strings.Replace(module, sha, "", 1) + `]}`,
	"deployed-v1.schema.json": `{"schema": "klpack.deployed/v1", "kernel": {"release": "6.1.0-56-amd64", "model": "hybrid"}, "patches": [` + deplPatch + `],
		"tracing": {"sources": ["enabled_functions", "kprobes/list"], "sites": [{"object": "vmlinux", "function": "cmdline_proc_show", "count": 1, "ipmodify": true,
			"handlers": ["kprobe_ftrace_handler"], "kprobes": ["k cmdline_proc_show+0x0"]}, {"object": "vmlinux", "function": "vfs_read", "count": 1, "ipmodify": false,
			"direct": true, "direct_to": "bpf_trampoline_6442491234"}]}}`,
	"fleet-check-v1.schema.json": `{"schema": "klpack.fleet-check/v1", "inventory": "fleet.jsonl", "kernel_release": "6.1.0-56-amd64", "fail_on": "error",
		"totals": {"lines": 2, "hosts": 41, "combinations": 1, "pass_hosts": 0, "fail_hosts": 41, "unresolved_hosts": 0, "other_kernel_hosts": 0},
		"combinations": [{"id": "C1", "kernel": "6.1.0-56-amd64", "build_id": "ab01", "hosts": 41, "examples": [{"host": "web-1", "line": 1}], "first_line": 1,
			"patches": [{"module": "lp1", "package": "klp-lp1", "version": "1.0-1", "enabled": true, "transition": false, "load_order": 1}],
			"verdict": "error", "failed": true, "kernel_model": "mainline", "findings": [` + finding + `]}], "ignored_fields": ["region"]}`,
	"check-v1.schema.json": `{"schema": "klpack.check/v1", "kernel_model": "mainline", "kernel_release": "6.1.0-56-amd64", "findings": [` + finding + `]}`,
	"plan-v1.schema.json": `{"schema": "klpack.plan/v1", "kernel_model": "mainline", "ok": true, "ops": [{"action": "load", "name": "lp1", "path": "lp1.ko"}],
		"steps": [{"action": "load", "name": "lp1", "path": "lp1.ko", "expect": ` + expect + `},
			{"action": "disable", "name": "lp1", "expect": ` + expect + `}],
		"start": {"patches": [], "modules": []}, "notes": [], "findings": [` + finding + `]}`,
	"simulate-v1.schema.json": `{"schema": "klpack.simulate/v1", "kernel_model": "hybrid",
		"initial": {"action": "initial", "target": "", "accepted": true, "stack": [], "functions": {}, "events": []},
		"steps": [{"action": "load", "target": "lp3", "accepted": false, "errno": "EINVAL", "cause": "state-incompatible", "reason": "r",
			"with": ["lp1"], "stack": [{"name": "lp1", "enabled": true, "replace": false, "replaceable": false, "replace_set": 1, "transition": true}],
			"functions": {"vmlinux/funcA,1": "lp1"}, "events": [{"function": "vmlinux/funcA,1", "from": "lp2", "to": "lp1", "patch": "lp3", "why": "w"}]}]}`,
	"package-v1.schema.json": `{"schema": "klpack.package/v1", "package": {"name": "klp-patch-6.1.0-56-amd64", "version": "1.0-1", "rpm_version": "1.0-1", "deb_version": "1.0-1"},
		"kernel": "6.1.0-56-amd64", "layer": "cumulative", "load_order": 1,
		"release": [{"load_order": 1, "module": "lp_replace", "layer": "cumulative", "package": "klp-patch-6.1.0-56-amd64"}],
		"module": ` + module + `, "files": [{"path": "/usr/lib/klpack/lp.ko", "sha256": "` + sha + `", "size": 10, "mode": "0644"}]}`,
	"release-v1.schema.json": `{"schema": "klpack.release/v1", "kernel": "6.1.0-56-amd64", "version": "1.0-1", "plan": "plan.json",
		"modules": [{"file": "ko/lp.ko", "layer": "off-band", "hooks": ["hooks/lp_hook.bpf.o"], "hook_points": ["lp_hook"], "replace_set": 7}]}`,
	"capture-report-v1.schema.json": `{"kernel_release": "6.1.0-56-amd64", "kernel_release_source": "vermagic", "kernel_model": "mainline",
		"kernel_model_source": "default", "order_source": "guess", "entries": [{"kind": "not-loaded", "path": "mods/lp.ko", "msg": "m"}]}`,
	"hooks-status.schema.json": `{"hooks": [{"hook": "lp_hook", "linked": ["lp1"], "live": ["lp1"], "bypassed": [], "stale": [], "calls": 3,
		"overrides": 1, "refused": 0, "values": [{"cgroup": 42, "path": "/sys/fs/cgroup/x", "value": -13}]}]}`,
	"hooks-changes.schema.json": `{"changes": [{"hook": "lp_hook", "module": "lp1", "action": "attached", "why": "w", "took_ns": 1200}]}`,
	"status-v1.schema.json": `{"schema": "klpack.status/v1", "kernel": {"release": "6.12.117+deb12-amd64", "model": "mainline"}, "order_source": "stack_order",
		"patches": [{"name": "lp1", "position": 1, "enabled": true, "transition": true, "replace": true, "stack_order": 1, "layer": "cumulative",
			"package": {"name": "klp-patch-x-lp1", "version": "1.0", "layer": "cumulative", "module": "lp1", "manifest": "/usr/lib/klpack/x/klp-patch-x-lp1/manifest.json", "loaded": true, "enabled": true}}],
		"packages": [{"name": "klp-patch-x-lp1", "version": "1.0", "layer": "cumulative", "module": "lp1", "manifest": "/usr/lib/klpack/x/klp-patch-x-lp1/manifest.json", "loaded": true, "enabled": true}],
		"functions": [{"key": "vmlinux/funcA,1", "object": "vmlinux", "name": "funcA", "sympos": 1, "patches": ["lp1"], "runs": "lp1", "old": "original"}],
		"transition": {"patch": "lp1", "direction": "patching", "target": 1, "functions": ["vmlinux/funcA,1"],
			"pending": [{"pid": 7, "tid": 7, "comm": "kworker", "patch_state": 0, "frames": [{"text": "[<0>] funcA+0x2d/0x40", "function": "funcA", "key": "vmlinux/funcA,1", "code": "original"}], "stack": []}]},
		"hooks": [], "ok": false, "problems": ["lp1 is in transition"], "notes": []}`,
	"hooks-build-v1.schema.json": `{"schema": "klpack.hooks-build/v1", "output": "/tmp/hb", "target": null, "hooks": [{"module": "lp_hook", "func": "lp_hook_meminfo_allowed",
		"errno": "ERRNO", "source": "marker", "lacks": [], "files": [{"path": "lp_hook/lp_hook_meminfo_allowed.bpf.o", "sha256": "` + sha + `", "size": 3832}]}]}`,
	"package-result-v1.schema.json": `{"schema": "klpack.package-result/v1", "output": "/tmp/pk", "files": [{"format": "deb", "package": "klp-patch-6.1.0-56-amd64",
		"path": "klp-patch-6.1.0-56-amd64_1.0-1_amd64.deb", "sha256": "` + sha + `", "size": 96386}]}`,
	"release-result-v1.schema.json": `{"schema": "klpack.release-result/v1", "ok": true, "version": "1.0-1", "kernel": "6.1.0-56-amd64", "output": "/tmp/rl", "snapshot": true,
		"stages": [{"name": "scan", "status": "ran", "summary": "2 modules"}, {"name": "hooks", "status": "skipped", "reason": "no hook point"}],
		"files": [{"path": "SHA256SUMS", "sha256": "` + sha + `", "size": 10}]}`,
	"version-v1.schema.json": `{"schema": "klpack.version/v1", "version": "v1.2.0", "commit": "aa1c4ef", "modified": false, "go": "go1.26.8"}`,
	"acks.schema.json":       `{"acks": [{"rule": "KLP003", "patch": "lp2", "function": "vmlinux/funcA,1", "reason": "fixed upstream"}, {"rule": "KLP018", "reason": "r"}]}`,
	"scenario.schema.json": `{"kernel_model": "hybrid", "deployed": "../states/seed-hybrid.json", "lockdown": "integrity",
		"tasks": [{"name": "e2e_hold", "object": "e2e_hold", "function": "e2e_hold_sleep"}],
		"steps": [{"load": "seed/lp3.json"}, {"enable": "lp3"}, {"disable": "lp3"}, {"unload": "lp3"},
			{"hold": "e2e_hold"}, {"force": "lp3"}, {"wake": "e2e_hold"}, {"fail": "lp3"}, {"load": "lp4.ko", "failing": true}]}`,
	"klpack-yaml-v1.schema.json": `{"schema": "klpack/v1", "version": "1.0-1", "kernel": "6.1.0-56-amd64", "fail_on": "warning", "deployed": "states/x.json",
		"modules": [{"path": "ko/*.ko", "layer": "cumulative"}], "sign": {"packages": {"key": "keys/release.asc", "passphrase_env": "P"}},
		"package": {"maintainer": "m <m@example.com>", "formats": ["deb"]}, "repository": {"suite": "stable"}}`,
}

// rejects are documents klpack never writes or reads: an unknown key, a
// value outside an enum or a pattern, a required key missing.
var rejects = []struct {
	schema string
	name   string
	edit   string // path=JSON sets a value, -path deletes it
}{
	{"scan-v1.schema.json", "unknown key in a module", `modules.0.enabld=true`},
	{"scan-v1.schema.json", "unknown key in a func", `modules.0.patches.0.objects.0.funcs.0.sympos=1`},
	{"scan-v1.schema.json", "format outside its enum", `modules.0.format="kpatch"`},
	{"scan-v1.schema.json", "layout source outside its enum", `modules.0.layout_source="guess"`},
	{"scan-v1.schema.json", "sha256 missing", `-modules.0.sha256`},
	{"fleet-check-v1.schema.json", "verdict outside the enum", `combinations.0.verdict="bad"`},
	{"fleet-check-v1.schema.json", "hosts missing", `-combinations.0.hosts`},
	{"fleet-check-v1.schema.json", "upper-case build id", `combinations.0.build_id="AB01"`},
	{"scan-v1.schema.json", "signature missing", `-modules.0.signature`},
	{"scan-v1.schema.json", "module name with a slash", `modules.0.name="../lp"`},
	{"scan-v1.schema.json", "old_name no symbol", `modules.0.patches.0.objects.0.funcs.0.old_name="a b"`},
	{"scan-v1.schema.json", "negative sympos", `modules.0.patches.0.objects.0.funcs.0.old_sympos=-1`},
	{"scan-v1.schema.json", "hook source outside its enum", `modules.0.patches.0.hooks.0.source="bpf"`},
	{"scan-v1.schema.json", "replace set past u32", `modules.0.patches.0.replace_set=4294967296`},
	{"scan-v1.schema.json", "a callback klp_callbacks lacks", `modules.0.patches.0.objects.0.callbacks.post_load="x"`},
	{"scan-v1.schema.json", "schema of another version", `schema="klpack.scan/v2"`},
	{"scan-v2.schema.json", "a file hashed", `modules.0.sha256="` + sha + `"`},
	{"scan-v2.schema.json", "sha256 missing", `-modules.0.sha256`},
	{"scan-v2.schema.json", "schema of v1", `schema="klpack.scan/v1"`},
	{"scan-v2.schema.json", "unknown key in a module", `modules.0.enabld=true`},
	{"scan-v2.schema.json", "format outside its enum", `modules.0.format="kpatch"`},
	{"deployed-v1.schema.json", "model outside its enum", `kernel.model="mainlin"`},
	{"deployed-v1.schema.json", "patch without load_order", `-patches.0.load_order`},
	{"deployed-v1.schema.json", "unknown key in a patch", `patches.0.enabeld=true`},
	{"deployed-v1.schema.json", "layer outside its enum", `patches.0.layer="offband"`},
	{"deployed-v1.schema.json", "patch without its scan record's name", `-patches.0.name`},
	{"deployed-v1.schema.json", "tracing site without its function", `-tracing.sites.0.function`},
	{"deployed-v1.schema.json", "unknown key in a tracing site", `tracing.sites.0.ipmodfy=true`},
	{"deployed-v1.schema.json", "tracing source outside its enum", `tracing.sources.0="debugfs"`},
	{"check-v1.schema.json", "severity outside its enum", `findings.0.severity="critical"`},
	{"check-v1.schema.json", "rule ID not KLPnnn", `findings.0.rule="KLP1"`},
	{"check-v1.schema.json", "finding without why", `-findings.0.why`},
	{"check-v1.schema.json", "acknowledged false is never written", `findings.0.acknowledged=false`},
	{"plan-v1.schema.json", "action outside its enum", `ops.0.action="insmod"`},
	{"plan-v1.schema.json", "load step without a path", `-steps.0.path`},
	{"plan-v1.schema.json", "disable step with a path", `steps.1.path="lp1.ko"`},
	{"plan-v1.schema.json", "expect without modules", `-steps.0.expect.modules`},
	{"plan-v1.schema.json", "finding inside with a bad severity", `findings.0.severity="fatal"`},
	{"simulate-v1.schema.json", "errno outside its enum", `steps.0.errno="ENOMEM"`},
	{"simulate-v1.schema.json", "cause outside its enum", `steps.0.cause="refused"`},
	{"simulate-v1.schema.json", "function key not as sysfs names it", `steps.0.functions={"funcA": "lp1"}`},
	{"simulate-v1.schema.json", "function key with sympos 0", `steps.0.functions={"vmlinux/funcA,0": "lp1"}`},
	{"simulate-v1.schema.json", "stack entry without replace_set", `-steps.0.stack.0.replace_set`},
	{"package-v1.schema.json", "mode not octal with a leading 0", `files.0.mode="644"`},
	{"package-v1.schema.json", "installed path relative", `files.0.path="usr/lib/lp.ko"`},
	{"package-v1.schema.json", "module record with an unknown key", `module.enabled=true`},
	{"package-v1.schema.json", "load order 0", `load_order=0`},
	{"release-v1.schema.json", "absolute module path", `modules.0.file="/tmp/lp.ko"`},
	{"release-v1.schema.json", "module path climbing out", `modules.0.file="../lp.ko"`},
	{"release-v1.schema.json", "hook not <function>.bpf.o", `modules.0.hooks.0="hooks/lp_hook.o"`},
	{"release-v1.schema.json", "unknown key", `modlues=[]`},
	{"release-v1.schema.json", "no kernel", `-kernel`},
	{"release-v1.schema.json", "no modules", `modules=[]`},
	{"capture-report-v1.schema.json", "kind outside its enum", `entries.0.kind="warning"`},
	{"capture-report-v1.schema.json", "order source outside its enum", `order_source="sysfs"`},
	{"hooks-status.schema.json", "status without values", `-hooks.0.values`},
	{"hooks-status.schema.json", "negative counter", `hooks.0.calls=-1`},
	{"hooks-changes.schema.json", "action outside its enum", `changes.0.action="moved"`},
	{"status-v1.schema.json", "direction outside its enum", `transition.direction="reversing"`},
	{"status-v1.schema.json", "order source outside its enum", `order_source="sysfs"`},
	{"status-v1.schema.json", "a task without its frames", `-transition.pending.0.frames`},
	{"status-v1.schema.json", "unknown key", `healthy=true`},
	{"hooks-build-v1.schema.json", "absolute file path", `hooks.0.files.0.path="/tmp/x.bpf.o"`},
	{"hooks-build-v1.schema.json", "unknown key", `hook_count=1`},
	{"package-result-v1.schema.json", "format outside its enum", `files.0.format="apk"`},
	{"package-result-v1.schema.json", "sha256 not hex", `files.0.sha256="xyz"`},
	{"release-result-v1.schema.json", "a skipped stage without its reason", `-stages.1.reason`},
	{"release-result-v1.schema.json", "a stage that ran and failed", `stages.0.error="e"`},
	{"release-result-v1.schema.json", "status outside its enum", `stages.0.status="done"`},
	{"version-v1.schema.json", "commit not hex", `commit="main"`},
	{"version-v1.schema.json", "no go", `-go`},
	{"acks.schema.json", "a rule klpack does not have", `acks.0.rule="KLP999"`},
	{"acks.schema.json", "no reason", `-acks.0.reason`},
	{"acks.schema.json", "a blank reason", `acks.0.reason="  "`},
	{"acks.schema.json", "unknown key in an ack", `acks.0.function_name="x"`},
	{"scenario.schema.json", "a step of two actions", `steps.0={"load": "a.ko", "enable": "a"}`},
	{"scenario.schema.json", "a step of no action", `steps.0={}`},
	{"scenario.schema.json", "an action the kernel has not", `steps.1={"insmod": "lp3"}`},
	{"scenario.schema.json", "lockdown outside its enum", `lockdown="strict"`},
	{"scenario.schema.json", "no steps", `steps=[]`},
	{"scenario.schema.json", "enable of no module name", `steps.1={"enable": "lp 3"}`},
	{"scenario.schema.json", "failing without load", `steps.1={"enable": "lp3", "failing": true}`},
	{"scenario.schema.json", "failing alone", `steps.1={"failing": true}`},
	{"scenario.schema.json", "failing false (it is true or absent)", `steps.8.failing=false`},
	{"scenario.schema.json", "a task without function", `-tasks.0.function`},
	{"scenario.schema.json", "a task function with a comma", `tasks.0.function="f,1"`},
	{"scenario.schema.json", "force of no module name", `steps.5={"force": "../lp"}`},
	{"check-v1.schema.json", "a rule klpack does not have", `findings.0.rule="KLP999"`},
	{"klpack-yaml-v1.schema.json", "unknown key (the typo klpack refuses)", `outptu="x"`},
	{"klpack-yaml-v1.schema.json", "fail_on outside the severities", `fail_on="fatal"`},
	{"klpack-yaml-v1.schema.json", "kernel model outside its enum", `kernel_model="mainlin"`},
	{"klpack-yaml-v1.schema.json", "packages signed by key and command", `sign.packages.command="kms-sign"`},
	{"klpack-yaml-v1.schema.json", "package format outside its enum", `package.formats=["apk"]`},
	{"klpack-yaml-v1.schema.json", "no maintainer", `-package.maintainer`},
	{"klpack-yaml-v1.schema.json", "deployed outside the directory", `deployed="/etc/state.json"`},
	{"klpack-yaml-v1.schema.json", "layer outside its enum", `modules.0.layer="stacked"`},
	{"klpack-yaml-v1.schema.json", "suite with a slash", `repository.suite="a/b"`},
}

// TestRejects: each base validates, each mutation of it does not, and
// every schema refuses an unknown top-level key: no schema is vacuous.
func TestRejects(t *testing.T) {
	all := schemas(t)
	for name := range all {
		if _, ok := bases[name]; !ok && name != sarifSchema {
			t.Errorf("%s has no hand-written base document", name)
		}
	}
	for name, doc := range bases {
		t.Run(name+"/base", func(t *testing.T) {
			if err := validate(t, name, []byte(doc)); err != nil {
				t.Fatalf("the base document does not validate: %v", err)
			}
		})
		t.Run(name+"/unknown top-level key", func(t *testing.T) {
			if validate(t, name, mutate(t, doc, `klpack_extra=1`)) == nil {
				t.Errorf("%s accepts an unknown top-level key", name)
			}
		})
	}
	for _, tt := range rejects {
		t.Run(tt.schema+"/"+tt.name, func(t *testing.T) {
			if validate(t, tt.schema, mutate(t, bases[tt.schema], tt.edit)) == nil {
				t.Errorf("%s accepts the document with %s", tt.schema, tt.edit)
			}
		})
	}
}

// mutate applies one edit to doc: "a.0.b=JSON" sets, "-a.0.b" deletes.
func mutate(t *testing.T, doc, edit string) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("base: %v", err)
	}
	del := strings.HasPrefix(edit, "-")
	path, value, _ := strings.Cut(strings.TrimPrefix(edit, "-"), "=")
	keys := strings.Split(path, ".")
	node := v
	for _, k := range keys[:len(keys)-1] {
		node = step(t, node, k, edit)
	}
	last := keys[len(keys)-1]
	var val any
	if !del {
		if err := json.Unmarshal([]byte(value), &val); err != nil {
			t.Fatalf("edit %s: %v", edit, err)
		}
	}
	switch n := node.(type) {
	case map[string]any:
		if del {
			if _, ok := n[last]; !ok {
				t.Fatalf("edit %s: no key %s to delete", edit, last)
			}
			delete(n, last)
		} else {
			n[last] = val
		}
	case []any:
		i, err := strconv.Atoi(last)
		if err != nil || i >= len(n) || del {
			t.Fatalf("edit %s: bad index", edit)
		}
		n[i] = val
	default:
		t.Fatalf("edit %s: %s is no container", edit, path)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func step(t *testing.T, node any, k, edit string) any {
	t.Helper()
	switch n := node.(type) {
	case map[string]any:
		if c, ok := n[k]; ok {
			return c
		}
	case []any:
		if i, err := strconv.Atoi(k); err == nil && i < len(n) {
			return n[i]
		}
	}
	t.Fatalf("edit %s: no %s", edit, k)
	return nil
}
