package release

import (
	"bytes"
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/fleet"
)

// Inventory lines of the testdata fleet (testdata/fleet/inventory.jsonl).
const (
	// No patch: the release loads on an empty kernel.
	hostEmpty = `{"host":"web-1","kernel":"6.1.0-56-amd64","patches":[]}`
	// lp_replace 1.0-1 already runs: loading it again is EEXIST (KLP007).
	hostReplace = `{"host":"web-2","kernel":"6.1.0-56-amd64","patches":[{"module":"lp_replace","package":"klp-patch-6.1.0-56-amd64","version":"1.0-1","enabled":true,"transition":false,"load_order":1}]}`
	// The same package version in rpm's spelling.
	hostReplaceRPM = `{"host":"db-4","kernel":"6.1.0-56-amd64","patches":[{"module":"lp_replace","package":"klp-patch-6.1.0-56-amd64","version":"1.0_1-1","enabled":true,"transition":false,"load_order":1}]}`
	// A vendor's package no manifest describes.
	hostsVendor = `{"hosts":40,"kernel":"6.1.0-56-amd64","patches":[{"module":"lp_x","package":"vendor-kpatch","version":"3","enabled":true,"load_order":1}]}`
	hostsEmpty  = `{"hosts":2,"kernel":"6.1.0-56-amd64","patches":[]}`
	hostOther   = `{"host":"new-1","kernel":"6.12.117+deb12-amd64","patches":[]}`
	// The off-band lp_noreplace: a cumulative lp_param shadows its
	// version_proc_show (KLP003, a warning).
	hostNoreplace = `{"host":"db-1","kernel":"6.1.0-56-amd64","patches":[{"module":"lp_noreplace","package":"klp-patch-6.1.0-56-amd64-lp-noreplace","version":"1.0-1","enabled":true,"transition":false,"load_order":1}]}`
)

// TestCheckStageFleet: the release of lp_replace passes its deployed:
// state (an empty kernel), and klpack.yaml's fleet: decides. A
// combination failing at fail_on, or a host that does not resolve, stops
// the release at the check stage with the fleet's line, the combinations
// that fail and the result's fleet; a clean fleet lets it ship; without
// fleet: the same release ships whatever the inventory says.
func TestCheckStageFleet(t *testing.T) {
	type totals struct{ hosts, combos, fail, pass, unresolved, other int64 }
	tests := []struct {
		name      string
		noFleet   bool
		module    string // lp_replace when ""
		failOn    string // klpack.yaml's fail_on
		inventory []string
		// refused: the check stage's error holds these lines; nil ships.
		refused []string
		input   bool // the error is bad input, not a refusal
		totals  totals
		failing []FleetCombination
		line    string // the fleet's line under check's, when it ships
	}{
		{name: "no fleet: the release ships", noFleet: true, inventory: []string{hostEmpty, hostReplace}},
		{name: "a combination fails", inventory: []string{hostEmpty, hostReplace, hostReplaceRPM},
			refused: []string{
				`fleet fleet/inventory.jsonl: 3 hosts in 2 combinations: fail 2, pass 1, unresolved 0, other kernels 0 (hosts; failing at error)`,
				`  C1 error, 2 hosts (e.g. web-2, db-4): KLP007 error lp_replace: `,
			},
			totals: totals{3, 2, 2, 1, 0, 0},
			failing: []FleetCombination{{ID: "C1", Verdict: "error", Hosts: 2, Examples: []string{"web-2", "db-4"},
				Findings: []string{"KLP007 error lp_replace: loading lp_replace: module lp_replace is already loaded (EEXIST)"}}}},
		{name: "a host unresolved", inventory: []string{hostEmpty, hostsVendor},
			refused: []string{
				`fleet fleet/inventory.jsonl: 41 hosts in 2 combinations: fail 0, pass 1, unresolved 40, other kernels 0 (hosts; failing at error)`,
				`  C1 unresolved, 40 hosts: package vendor-kpatch 3: no manifest of it`,
			},
			totals:  totals{41, 2, 0, 1, 40, 0},
			failing: []FleetCombination{{ID: "C1", Verdict: "unresolved", Hosts: 40, Examples: []string{}, Reason: "package vendor-kpatch 3: no manifest of it"}}},
		{name: "a clean fleet: the release ships", inventory: []string{hostEmpty, hostsEmpty, hostOther},
			totals: totals{4, 2, 0, 3, 0, 1}, failing: []FleetCombination{},
			line: `fleet fleet/inventory.jsonl: 4 hosts in 2 combinations: fail 0, pass 3, unresolved 0, other kernels 1 (hosts; failing at error)`},
		// fail_on is the release's: a warning fails at warning only.
		{name: "a warning at fail_on warning", module: "lp_param", failOn: "warning", inventory: []string{hostEmpty, hostNoreplace},
			refused: []string{
				`fleet fleet/inventory.jsonl: 2 hosts in 2 combinations: fail 1, pass 1, unresolved 0, other kernels 0 (hosts; failing at warning)`,
				`  C1 warning, 1 host (e.g. db-1): KLP003 warning lp_param,lp_noreplace: cumulative lp_param patches vmlinux/version_proc_show,1, also patched by off-band lp_noreplace`,
			},
			totals: totals{2, 2, 1, 1, 0, 0},
			failing: []FleetCombination{{ID: "C1", Verdict: "warning", Hosts: 1, Examples: []string{"db-1"},
				Findings: []string{"KLP003 warning lp_param,lp_noreplace: cumulative lp_param patches vmlinux/version_proc_show,1, also patched by off-band lp_noreplace"}}}},
		{name: "a warning at fail_on error", module: "lp_param", inventory: []string{hostEmpty, hostNoreplace},
			totals: totals{2, 2, 0, 2, 0, 0}, failing: []FleetCombination{},
			line: `fleet fleet/inventory.jsonl: 2 hosts in 2 combinations: fail 0, pass 2, unresolved 0, other kernels 0 (hosts; failing at error)`},
		{name: "a bad inventory line", inventory: []string{hostEmpty, `{"host":"x"}`}, input: true,
			refused: []string{`fleet.inventory: file `, `inventory.jsonl: line 2: no "patches" or "state"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.refused == nil {
				testutil.NeedTool(t, "createrepo_c")
			}
			module := cmp.Or(tt.module, "lp_replace")
			body := "modules:\n  - path: ko/" + module + ".ko\n    layer: cumulative\ndeployed: state.json\n"
			if tt.failOn != "" {
				body += "fail_on: " + tt.failOn + "\n"
			}
			if !tt.noFleet {
				body += "fleet:\n  inventory: fleet/inventory.jsonl\n  manifests: fleet/manifests\n"
			}
			dir := project(t, []string{module + ".ko"}, body)
			write(t, filepath.Join(dir, "state.json"), `{"schema":"klpack.deployed/v1","kernel":{"release":"6.1.0-56-amd64"},"patches":[]}`)
			write(t, filepath.Join(dir, "fleet/inventory.jsonl"), strings.Join(tt.inventory, "\n")+"\n")
			for _, m := range []string{"klp-patch-6.1.0-56-amd64_1.0-1.manifest.json", "klp-patch-6.1.0-56-amd64-lp-noreplace_1.0-1.manifest.json"} {
				b, err := os.ReadFile(filepath.Join(testutil.Root(), "testdata/fleet/manifests/1.0-1", m))
				if err != nil {
					t.Fatal(err)
				}
				write(t, filepath.Join(dir, "fleet/manifests", m), string(b))
			}
			out := filepath.Join(dir, "out")
			var log bytes.Buffer
			o := Options{Snapshot: true, MTime: epoch, Log: &log, Output: out}
			run, err := Execute(t.Context(), filepath.Join(dir, "klpack.yaml"), o)
			// The deployed state alone passes: the check line says so
			// before any fleet verdict.
			var res *Result
			if tt.refused != nil {
				se, ok := errors.AsType[*StageError](err)
				if !ok || se.Stage != "check" {
					t.Fatalf("Execute = %v, want a failed check stage\n%s", err, log.String())
				}
				for _, w := range tt.refused {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
				if errors.Is(err, ErrInput) != tt.input {
					t.Errorf("errors.Is(err, ErrInput) = %v, want %v", !tt.input, tt.input)
				}
				if _, serr := os.Stat(out); !os.IsNotExist(serr) {
					t.Errorf("the output directory exists after a refusal: %v", serr)
				}
				res = FailedResult(err, o)
			} else {
				if err != nil {
					t.Fatalf("Execute = %v\n%s", err, log.String())
				}
				if !strings.Contains(log.String(), "check      0 errors, 0 warnings, 0 infos on the mainline kernel model\n") {
					t.Errorf("the check line does not pass the deployed state:\n%s", log.String())
				}
				if res, err = run.Result(); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(filepath.Join(out, "plans/6.1.0-56-amd64_1.0-1.plan.json")); err != nil {
					t.Errorf("the release did not ship: %v", err)
				}
			}
			if tt.noFleet || tt.input {
				if res.Fleet != nil {
					t.Errorf("result fleet = %+v, want none", res.Fleet)
				}
				if strings.Contains(log.String(), "fleet ") {
					t.Errorf("a fleet line without a fleet check:\n%s", log.String())
				}
				return
			}
			f := res.Fleet
			if f == nil {
				t.Fatal("result has no fleet")
			}
			want := fleet.Totals{Lines: int64(len(tt.inventory)), Hosts: tt.totals.hosts, Combinations: int(tt.totals.combos),
				FailHosts: tt.totals.fail, PassHosts: tt.totals.pass, UnresolvedHosts: tt.totals.unresolved, OtherKernel: tt.totals.other}
			if f.Totals != want || f.Failed != (tt.refused != nil) || f.Inventory != "fleet/inventory.jsonl" || f.FailOn != cmp.Or(tt.failOn, "error") {
				t.Errorf("result fleet = %+v, want totals %+v, failed %v", f, want, tt.refused != nil)
			}
			if diff := gocmp.Diff(tt.failing, f.Failing); diff != "" {
				t.Errorf("failing combinations (-want +got):\n%s", diff)
			}
			if f.FailingCount != len(tt.failing) {
				t.Errorf("failing_count = %d, want %d", f.FailingCount, len(tt.failing))
			}
			if tt.refused == nil && !strings.Contains(log.String(), "\n           "+tt.line+"\n") {
				t.Errorf("the check stage does not print the fleet line %q:\n%s", tt.line, log.String())
			}
		})
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFleetPathsInside: fleet's inventory and manifests resolve inside
// klpack.yaml's directory, as deployed: does; a link out of it is refused
// when klpack.yaml is read, naming the key.
func TestFleetPathsInside(t *testing.T) {
	outside := t.TempDir()
	write(t, filepath.Join(outside, "inventory.jsonl"), hostEmpty+"\n")
	for _, key := range []string{"inventory", "manifests"} {
		t.Run(key, func(t *testing.T) {
			dir := project(t, []string{"lp_replace.ko"}, "modules:\n  - path: ko/lp_replace.ko\n    layer: cumulative\n"+
				"fleet:\n  inventory: fleet/inventory.jsonl\n  manifests: fleet/manifests\n")
			write(t, filepath.Join(dir, "fleet/manifests/m.manifest.json"), "{}")
			if key == "inventory" {
				if err := os.Symlink(filepath.Join(outside, "inventory.jsonl"), filepath.Join(dir, "fleet/inventory.jsonl")); err != nil {
					t.Fatal(err)
				}
			} else {
				write(t, filepath.Join(dir, "fleet/inventory.jsonl"), hostEmpty+"\n")
				if err := os.RemoveAll(filepath.Join(dir, "fleet/manifests")); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(outside, filepath.Join(dir, "fleet/manifests")); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(t.Context(), filepath.Join(dir, "klpack.yaml"))
			if err == nil || !strings.Contains(err.Error(), "fleet."+key+": fleet/") || !strings.Contains(err.Error(), "escapes") {
				t.Errorf("Load = %v, want fleet.%s refused: its link leads out of the directory", err, key)
			}
		})
	}
}
