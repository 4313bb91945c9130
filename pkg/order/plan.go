package order

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/internal/strictjson"
	"github.com/klpack/klpack/pkg/klp"
)

// Actions of an Op, what the host does to the kernel.
const (
	ActionDisable = "disable" // echo 0 > /sys/kernel/livepatch/<name>/enabled
	ActionUnload  = "unload"  // rmmod <name>
	ActionLoad    = "load"    // insmod <path>
)

// ErrBadPlan is a plan document that cannot be used.
var ErrBadPlan = errors.New("bad plan document")

// MaxPlanSize bounds a plan document: an operation per candidate and per
// disabled patch, and the findings of one check, are a few KiB; the
// steps, each with the whole state after it, grow with the square of the
// modules a replace frees (about a thousand fit).
const MaxPlanSize = 16 << 20

// ReadPlan reads the klpack.plan/v1 document at path. A file that is not
// regular or is larger than MaxPlanSize is refused before it is read.
func ReadPlan(path string) (*Plan, error) {
	data, err := safeio.ReadFile(path, MaxPlanSize)
	if errors.Is(err, safeio.ErrTooLarge) || errors.As(err, new(*safeio.NotRegularError)) {
		return nil, fmt.Errorf("%w: %w", ErrBadPlan, err)
	}
	if err != nil {
		return nil, err
	}
	return ParsePlan(data, path)
}

// ParsePlan decodes a klpack.plan/v1 document, name being what errors
// call it. Like every v1 reader it ignores fields it does not know (a
// newer klpack may add them); it refuses another schema, what strictjson
// refuses (a repeated key, a wrong type), an unknown action, a name the
// kernel would not give a module and a path with control characters.
func ParsePlan(data []byte, name string) (*Plan, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("file %s: %w: %s", name, ErrBadPlan, fmt.Sprintf(format, args...))
	}
	if _, err := strictjson.Check(data, reflect.TypeFor[Plan]()); err != nil {
		return nil, bad("%v", err)
	}
	var p Plan
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, bad("%v", err)
	}
	if p.Schema != PlanSchema {
		return nil, bad("schema: %s, want %q", safetext.Quote(p.Schema), PlanSchema)
	}
	for i, op := range p.Ops {
		if err := checkAction(op.Action, op.Name, op.Path, false); err != nil {
			return nil, bad("ops[%d].%v", i, err)
		}
	}
	if p.Start != nil {
		if err := checkExpect(p.Start); err != nil {
			return nil, bad("start.%v", err)
		}
	}
	for i, st := range p.Steps {
		if err := checkAction(st.Action, st.Name, st.Path, true); err != nil {
			return nil, bad("steps[%d].%v", i, err)
		}
		if err := checkExpect(&st.Expect); err != nil {
			return nil, bad("steps[%d].expect.%v", i, err)
		}
	}
	return &p, nil
}

// checkAction checks an op or a step; a step loads a path, and only a
// load has one. Errors start with the field they are about.
func checkAction(action, name, path string, step bool) error {
	switch action {
	case ActionDisable, ActionUnload, ActionLoad:
	default:
		return fmt.Errorf("action: %s, want %s, %s or %s", safetext.Quote(action), ActionDisable, ActionUnload, ActionLoad)
	}
	if err := klp.CheckModuleName(name); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if err := safetext.Check(path); err != nil {
		return fmt.Errorf("path: %s: %w", strconv.Quote(path), err)
	}
	if step && (action == ActionLoad) != (path != "") {
		if path == "" {
			return errors.New("path: a load step needs the module's path")
		}
		return fmt.Errorf("path: %s: only a load step has a path", strconv.Quote(path))
	}
	return nil
}

// checkExpect checks an expected state: both lists there, and each name
// a module name listed once, or the host could not compare its sysfs
// with it.
func checkExpect(e *Expect) error {
	// An expectation left out would read as "no patch, no module": the
	// host would take a healthy kernel for a divergence, or the reverse.
	if e.Patches == nil {
		return errors.New("patches: missing, want a list (empty when none)")
	}
	if e.Modules == nil {
		return errors.New("modules: missing, want a list (empty when none)")
	}
	seen := map[string]bool{}
	for i, p := range e.Patches {
		if err := klp.CheckModuleName(p.Name); err != nil {
			return fmt.Errorf("patches[%d].name: %w", i, err)
		}
		if seen[p.Name] {
			return fmt.Errorf("patches[%d].name: %s listed twice", i, p.Name)
		}
		seen[p.Name] = true
	}
	clear(seen)
	for i, m := range e.Modules {
		if err := klp.CheckModuleName(m); err != nil {
			return fmt.Errorf("modules[%d]: %w", i, err)
		}
		if seen[m] {
			return fmt.Errorf("modules[%d]: %s listed twice", i, m)
		}
		seen[m] = true
	}
	return nil
}

// Loads names the modules the plan loads, in order.
func (p *Plan) Loads() []string {
	var out []string
	for _, op := range p.Ops {
		if op.Action == ActionLoad {
			out = append(out, op.Name)
		}
	}
	return out
}
