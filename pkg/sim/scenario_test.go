package sim

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

func TestDecodeScenarioBad(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"duplicate key", "steps:\n  - unload: a\nsteps:\n  - unload: b\n", `mapping key "steps" already defined`},
		{"duplicate key, JSON", `{"steps":[{"unload":"a"}],"steps":[]}`, `mapping key "steps" already defined`},
		{"duplicate step key", "steps:\n  - {unload: a, unload: b}\n", `mapping key "unload" already defined`},
		{"second document", "steps:\n  - unload: a\n---\nsteps:\n  - load: /dev/zero\n", "a second YAML document"},
		{"unknown key", "steps:\n  - unload: a\nkernel: x\n", "field kernel not found"},
		{"two actions", "steps:\n  - {unload: a, enable: a}\n", "steps[0]: a step is exactly one of"},
		{"name with ESC", "steps:\n  - enable: \"a\\e[31m\"\n", `steps[0]: enable: module name "a\x1b[31m"`},
		{"name with newline", "steps:\n  - disable: \"a\\nb\"\n", `steps[0]: disable: module name "a\nb"`},
		{"name as path", "steps:\n  - unload: ../x\n", "steps[0]: unload: module name"},
		{"load path with newline", "steps:\n  - load: \"x\\n.ko\"\n", `steps[0]: load: "x\n.ko": control character`},
		{"deployed with ESC", "deployed: \"\\e]0;x\\a\"\nsteps:\n  - unload: a\n", "deployed:"},
		{"kernels with ESC", "kernels: [\"\\e\"]\nsteps:\n  - unload: a\n", "kernels[0]:"},
		{"no steps", "kernel_model: hybrid\n", "steps: none"},
		{"model", "kernel_model: kpatch\nsteps:\n  - unload: a\n", `kernel_model: unknown model "kpatch"`},
		{"hold of no task", "steps:\n  - hold: t\n", `steps[0]: hold: "t" is not one of the scenario's tasks`},
		{"wake of no task", "tasks:\n  - {name: t, object: vmlinux, function: f}\nsteps:\n  - wake: u\n", `steps[0]: wake: "u" is not one of`},
		{"task twice", "tasks:\n  - {name: t, object: vmlinux, function: f}\n  - {name: t, object: vmlinux, function: g}\nsteps:\n  - hold: t\n", `tasks[1]: "t": named twice`},
		{"task object as path", "tasks:\n  - {name: t, object: ../m, function: f}\nsteps:\n  - hold: t\n", `tasks[0]: "t": module name`},
		{"task function with a comma", "tasks:\n  - {name: t, object: m, function: \"f,2\"}\nsteps:\n  - hold: t\n", `tasks[0]: "t": function "f,2" is not a symbol name`},
		{"task without function", "tasks:\n  - {name: t, object: m}\nsteps:\n  - hold: t\n", `function "" is not a symbol name`},
		{"force as path", "steps:\n  - force: ../x\n", "steps[0]: force: module name"},
		{"failing without load", "steps:\n  - {enable: a, failing: true}\n", "steps[0]: failing goes with load only"},
		{"failing alone", "steps:\n  - {failing: true}\n", "steps[0]: a step is exactly one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := DecodeScenario([]byte(tt.doc), "s.yaml")
			if err == nil || !strings.HasPrefix(err.Error(), "file s.yaml: scenario: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("DecodeScenario() = %+v, %v; want an error naming s.yaml with %q", sc, err, tt.want)
			}
		})
	}
}

// TestReadScenarioNotRegular: a FIFO would block the open and the read
// forever, a device never ends; both are refused before any read, as is a
// file over the limit.
func TestReadScenarioNotRegular(t *testing.T) {
	fifo, huge := testutil.HostileFiles(t, MaxScenarioSize+1)
	for _, tt := range []struct{ path, want string }{
		{fifo, fifo + ": not a regular file (a FIFO)"},
		{"/dev/zero", "/dev/zero: not a regular file (a character device)"},
		{huge, huge + ": data exceeds limit"},
	} {
		if _, err := ReadScenario(tt.path); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ReadScenario(%s) = %v, want %q", tt.path, err, tt.want)
		}
	}
	if _, err := ReadScenario(huge); !errors.Is(err, safeio.ErrTooLarge) {
		t.Errorf("ReadScenario(huge) = %v, want ErrTooLarge", err)
	}
}

// TestSimulateBadPaths: the files a scenario names are opened as
// ReadScenario opens it: a FIFO as the deployed state fails at once,
// naming it.
func TestSimulateBadPaths(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "state.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(path, []byte("deployed: state.json\nsteps:\n  - unload: a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := ReadScenario(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Simulate(sc, "", func(string) (*klp.Module, error) { return nil, nil })
	if want := "file " + filepath.Join(dir, "state.json") + ": not a regular file (a FIFO)"; err == nil || err.Error() != want {
		t.Errorf("Simulate(FIFO state) = %v, want %q", err, want)
	}
	// A loader that returns no record is an error, not a panic.
	sc = &Scenario{Steps: []ScenarioStep{{Load: "x.ko"}}}
	if _, err := Simulate(sc, "", func(string) (*klp.Module, error) { return nil, nil }); err == nil || !strings.Contains(err.Error(), "file x.ko: no module record") {
		t.Errorf("Simulate(nil record) = %v", err)
	}
}

// TestNoRecord: the simulator refuses what it cannot replay instead of
// dereferencing it.
func TestNoRecord(t *testing.T) {
	s, _ := New(deploy.ModelMainline)
	for _, m := range []*klp.Module{nil, {Name: "x", Livepatch: true, Patches: []*klp.Patch{nil}}} {
		if st := s.Apply(Action{Kind: "load", Name: "x", Module: m}); st.Accepted || st.Cause != CauseNoRecord {
			t.Errorf("Apply(load %+v) = %+v, want refused, %s", m, st, CauseNoRecord)
		}
	}
	for _, st := range []*deploy.State{
		{Patches: []*deploy.Patch{nil}},
		{Patches: []*deploy.Patch{{Module: klp.Module{Name: "x", Livepatch: true, Patches: []*klp.Patch{nil}}, Enabled: true}}},
	} {
		if err := s.Deploy(st); err == nil {
			t.Errorf("Deploy(%+v) = nil, want an error", st)
		}
	}
}

// FuzzScenario: an accepted scenario encodes to YAML that decodes to the
// same scenario, every step one action on a valid name; a refused one is
// an error naming the file.
func FuzzScenario(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join(testutil.Root(), "testdata", "scenarios", "*.yaml"))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"kernel_model":"replace-set","lockdown":"none","steps":[{"load":"a.ko"},{"enable":"a"}]}`))
	f.Add([]byte("steps:\n  - unload: a\n---\nsteps: []\n"))
	f.Add([]byte("steps:\n  - unload: a\n  - unload: a\nsteps: []\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := DecodeScenario(data, "fuzz.yaml")
		if err != nil {
			if sc != nil || !strings.HasPrefix(err.Error(), "file fuzz.yaml: ") {
				t.Fatalf("DecodeScenario() = %v, %v; want an error naming fuzz.yaml", sc, err)
			}
			return
		}
		for i, st := range sc.Steps {
			kind, arg, err := st.Action()
			if err != nil {
				t.Fatalf("steps[%d] accepted: %v", i, err)
			}
			if kind != "load" && klp.CheckModuleName(arg) != nil {
				t.Fatalf("steps[%d] accepted: %s %q", i, kind, arg)
			}
		}
		out, err := yaml.Marshal(sc)
		if err != nil {
			t.Fatalf("Marshal(accepted) = %v", err)
		}
		again, err := DecodeScenario(out, "again.yaml")
		if err != nil {
			t.Fatalf("DecodeScenario(Marshal(accepted)) = %v\n%s", err, out)
		}
		if diff := cmp.Diff(sc, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// TestWriteTextQuotes: names from modules reach the terminal as one
// visible token each, whatever they hold.
func TestWriteTextQuotes(t *testing.T) {
	s := &Simulation{KernelModel: deploy.ModelMainline,
		Initial: Step{Stack: []StackEntry{{Name: "a\x1b[31m"}}, Funcs: map[string]string{"vmlinux/f\n,1": "a\x1b[31m"}},
		Steps: []Step{{Action: "load", Target: "b\nstep 9: load x: accepted", Accepted: false, Errno: EINVAL, Reason: "r\r",
			Events: []Event{{Function: "f\x07", From: "original", To: "b\n", Why: "w\x1b"}}}},
	}
	var out bytes.Buffer
	if err := WriteText(&out, s); err != nil {
		t.Fatal(err)
	}
	want := `kernel model: mainline

initial state
  stack:           "a\x1b[31m"
  "vmlinux/f\n,1"  "a\x1b[31m"

step 1: load "b\nstep 9: load x: accepted": refused (EINVAL): "r\r"
  stack:  (none)
  HAZARD "f\a": original -> "b\n": "w\x1b"
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("WriteText (-want +got):\n%s", diff)
	}
}
