package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/internal/yamlerr"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

// SimulateSchema names the version of the document `klpack simulate
// --json` prints.
const SimulateSchema = "klpack.simulate/v1"

// Scenario is a starting state and the steps to replay on it. Paths in it
// are relative to the scenario file.
type Scenario struct {
	KernelModel string `yaml:"kernel_model" json:"kernel_model"`
	Deployed    string `yaml:"deployed" json:"deployed"`
	// Lockdown is the kernel's lockdown= boot mode (integrity or
	// confidentiality); unsigned modules then do not load.
	Lockdown string `yaml:"lockdown" json:"lockdown,omitempty"`
	// Kernels names the e2e kernels the scenario boots on (all when
	// empty): modules built for one kernel only, such as those the real
	// livepatch tools made for the test kernel, load nowhere else. The
	// simulator ignores it.
	Kernels []string `yaml:"kernels" json:"kernels,omitempty"`
	// Tasks are the kernel threads the hold and wake steps name.
	Tasks []Task         `yaml:"tasks" json:"tasks,omitempty"`
	Steps []ScenarioStep `yaml:"steps" json:"steps"`
}

// Task is a kernel thread of a module that a hold step puts to sleep inside
// a function, in the code that function runs then, and a wake step lets
// go. In the guest the module's "hold" parameter does it (e2e_hold).
type Task struct {
	// Name is the module whose thread it is.
	Name     string `yaml:"name" json:"name"`
	Object   string `yaml:"object" json:"object"` // vmlinux or a module
	Function string `yaml:"function" json:"function"`
}

func (t Task) key() klp.FuncKey {
	return klp.FuncKey{Object: t.Object, Name: t.Function, Sympos: klp.Sympos(0)}
}

// ScenarioStep holds exactly one of its actions. Force writes 1 to a
// patch's force file; Hold and Wake name a task; Fail makes a loaded
// livepatch module's pre_patch callbacks fail from then on (the e2e
// modules' pre_patch_ret parameter), and Failing does so for the module a
// load step loads, before it enables its patch.
type ScenarioStep struct {
	Load    string `yaml:"load" json:"load,omitempty"`
	Enable  string `yaml:"enable" json:"enable,omitempty"`
	Disable string `yaml:"disable" json:"disable,omitempty"`
	Unload  string `yaml:"unload" json:"unload,omitempty"`
	Force   string `yaml:"force" json:"force,omitempty"`
	Hold    string `yaml:"hold" json:"hold,omitempty"`
	Wake    string `yaml:"wake" json:"wake,omitempty"`
	Fail    string `yaml:"fail" json:"fail,omitempty"`
	// Sysctl sets kernel.ftrace_enabled=0 or 1; Trace turns on the
	// function tracer for one function.
	Sysctl  string `yaml:"sysctl" json:"sysctl,omitempty"`
	Trace   string `yaml:"trace" json:"trace,omitempty"`
	Failing bool   `yaml:"failing" json:"failing,omitempty"`
}

// Action returns the step's kind (load, enable, disable, unload, force,
// hold or wake) and its argument.
func (s ScenarioStep) Action() (kind, arg string, err error) {
	n := 0
	for _, c := range []struct{ k, v string }{{"load", s.Load}, {"enable", s.Enable}, {"disable", s.Disable},
		{"unload", s.Unload}, {"force", s.Force}, {"hold", s.Hold}, {"wake", s.Wake}, {"fail", s.Fail},
		{"sysctl", s.Sysctl}, {"trace", s.Trace}} {
		if c.v != "" {
			kind, arg = c.k, c.v
			n++
		}
	}
	if n != 1 {
		return "", "", errors.New("a step is exactly one of load, enable, disable, unload, force, hold, wake, fail, sysctl, trace")
	}
	if s.Failing && kind != "load" {
		return "", "", errors.New("failing goes with load only")
	}
	return kind, arg, nil
}

// MaxScenarioSize bounds a scenario file. Scenarios are written by hand:
// a thousand steps are some 40 KiB. The YAML decoder holds a node tree
// several times the size of its input, so the bound is kept small.
const MaxScenarioSize = 1 << 20

// ReadScenario reads a YAML or JSON scenario and makes its paths absolute.
// A file that is not regular or is larger than MaxScenarioSize is refused
// before it is read.
func ReadScenario(path string) (*Scenario, error) {
	data, err := safeio.ReadFile(path, MaxScenarioSize)
	if err != nil {
		return nil, err
	}
	sc, err := DecodeScenario(data, path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	sc.Deployed = abs(sc.Deployed)
	for i := range sc.Steps {
		sc.Steps[i].Load = abs(sc.Steps[i].Load)
	}
	return sc, nil
}

// ParseScenario decodes a scenario from r as DecodeScenario does, for
// callers with no file name.
func ParseScenario(r io.Reader) (*Scenario, error) {
	b, err := safeio.ReadAll(r, MaxScenarioSize)
	if err != nil {
		return nil, err
	}
	return decodeScenario(b)
}

// DecodeScenario decodes a scenario, name being what errors call it.
// Unknown keys, repeated keys and a second document are errors, as are
// names the kernel would not give a module and paths with control
// characters.
func DecodeScenario(data []byte, name string) (*Scenario, error) {
	sc, err := decodeScenario(data)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", name, err)
	}
	return sc, nil
}

func decodeScenario(b []byte) (*Scenario, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var sc Scenario
	if err := dec.Decode(&sc); err != nil {
		return nil, fmt.Errorf("scenario: %s", yamlerr.Decode(b, err))
	}
	// The decoder reads one document; what follows a "---" would be
	// silently left out of the run.
	var next yaml.Node
	if err := dec.Decode(&next); err != io.EOF {
		return nil, errors.New("scenario: a second YAML document (after ---): a scenario is one document")
	}
	if sc.KernelModel != "" && !deploy.ValidModel(sc.KernelModel) {
		return nil, fmt.Errorf("scenario: kernel_model: unknown model %q", sc.KernelModel)
	}
	switch sc.Lockdown {
	case "", "none", "integrity", "confidentiality":
	default:
		return nil, fmt.Errorf("scenario: lockdown: %q is not none, integrity or confidentiality", sc.Lockdown)
	}
	if sc.Lockdown == "none" {
		sc.Lockdown = ""
	}
	if err := safetext.Check(sc.Deployed); err != nil {
		return nil, fmt.Errorf("scenario: deployed: %q: %w", sc.Deployed, err)
	}
	for i, k := range sc.Kernels {
		if err := safetext.Check(k); err != nil {
			return nil, fmt.Errorf("scenario: kernels[%d]: %q: %w", i, k, err)
		}
	}
	tasks := map[string]bool{}
	for i, t := range sc.Tasks {
		err := klp.CheckModuleName(t.Name)
		if err == nil && tasks[t.Name] {
			err = errors.New("named twice")
		}
		if err == nil && t.Object != klp.VmlinuxName {
			err = klp.CheckModuleName(t.Object)
		}
		if err == nil && !symbolName(t.Function) {
			err = fmt.Errorf("function %q is not a symbol name", t.Function)
		}
		if err != nil {
			return nil, fmt.Errorf("scenario: tasks[%d]: %q: %w", i, t.Name, err)
		}
		tasks[t.Name] = true
	}
	if len(sc.Steps) == 0 {
		return nil, errors.New("scenario: steps: none")
	}
	for i, st := range sc.Steps {
		kind, arg, err := st.Action()
		switch {
		case err != nil:
		case kind == "load":
			if err = safetext.Check(arg); err != nil {
				err = fmt.Errorf("load: %q: %w", arg, err)
			}
		case (kind == "hold" || kind == "wake") && !tasks[arg]:
			err = fmt.Errorf("%s: %q is not one of the scenario's tasks", kind, arg)
		case kind == "sysctl":
			if arg != FtraceEnabled+"=0" && arg != FtraceEnabled+"=1" {
				err = fmt.Errorf("sysctl: %q: only %s=0 or =1", arg, FtraceEnabled)
			}
		case kind == "trace":
			if !symbolName(arg) {
				err = fmt.Errorf("trace: %q is not a symbol name", arg)
			}
		default:
			if err = klp.CheckModuleName(arg); err != nil {
				err = fmt.Errorf("%s: %w", kind, err)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("scenario: steps[%d]: %w", i, err)
		}
	}
	return &sc, nil
}

// Simulation is the replay of a scenario, step by step.
type Simulation struct {
	Schema      string `json:"schema"`
	KernelModel string `json:"kernel_model"`
	// Initial is the state before the first step.
	Initial Step   `json:"initial"`
	Steps   []Step `json:"steps"`
}

// Loader turns a load step's path (a module or a scan document) into the
// module record; the CLI passes one backed by elfscan.
type Loader func(path string) (*klp.Module, error)

// Simulate replays sc. model, when not empty, overrides the scenario's and
// the deployed state's.
func Simulate(sc *Scenario, model string, load Loader) (*Simulation, error) {
	var st *deploy.State
	if sc.Deployed != "" {
		var err error
		if st, err = deploy.ReadState(sc.Deployed); err != nil {
			return nil, err
		}
	}
	if model == "" {
		model = sc.KernelModel
	}
	model = deploy.ModelFor(model, st)
	sim, err := New(model)
	if err != nil {
		return nil, err
	}
	sim.SetLockdown(sc.Lockdown)
	if st == nil {
		// The kernel starts empty: modules load in steps.
		sim.TrackModules()
	}
	out := &Simulation{Schema: SimulateSchema, KernelModel: model, Steps: []Step{}}
	if st != nil {
		if err := sim.Deploy(st); err != nil {
			return nil, fmt.Errorf("file %s: %w", sc.Deployed, err)
		}
	}
	out.Initial = sim.snapshot()
	for i, step := range sc.Steps {
		kind, arg, _ := step.Action()
		a := Action{Kind: kind, Name: arg, Failing: step.Failing}
		if kind == "hold" {
			j := slices.IndexFunc(sc.Tasks, func(t Task) bool { return t.Name == arg })
			a.Func = sc.Tasks[j].key()
		}
		if kind == "load" {
			m, err := load(arg)
			if err == nil && m == nil {
				err = fmt.Errorf("file %s: no module record", arg)
			}
			if err != nil {
				return nil, fmt.Errorf("steps[%d]: %w", i, err)
			}
			a.Module, a.Name = m, m.Name
		}
		out.Steps = append(out.Steps, sim.Apply(a))
	}
	return out, nil
}

// snapshot is the state as a step with no action.
func (s *Sim) snapshot() Step {
	st := Step{Action: "initial", Accepted: true, Stack: s.stack(), Funcs: map[string]string{}, Events: []Event{}}
	for _, fs := range s.seen {
		if fs.top != nil {
			st.Funcs[fs.key.String()] = s.running(fs, nil)
		}
	}
	return st
}

// symbolName reports whether s can be a function's name in sysfs and
// tracefs: not empty, no control character, no space, slash or comma.
func symbolName(s string) bool {
	return s != "" && safetext.Check(s) == nil && !strings.ContainsAny(s, " \t/,")
}
