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
// disabled patch, and the findings of one check, are a few KiB.
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
		switch op.Action {
		case ActionDisable, ActionUnload, ActionLoad:
		default:
			return nil, bad("ops[%d].action: %s, want %s, %s or %s", i, safetext.Quote(op.Action), ActionDisable, ActionUnload, ActionLoad)
		}
		if err := klp.CheckModuleName(op.Name); err != nil {
			return nil, bad("ops[%d].name: %v", i, err)
		}
		if err := safetext.Check(op.Path); err != nil {
			return nil, bad("ops[%d].path: %s: %v", i, strconv.Quote(op.Path), err)
		}
	}
	return &p, nil
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
