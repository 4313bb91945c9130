package order

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Actions of an Op, what the host does to the kernel.
const (
	ActionDisable = "disable" // echo 0 > /sys/kernel/livepatch/<name>/enabled
	ActionUnload  = "unload"  // rmmod <name>
	ActionLoad    = "load"    // insmod <path>
)

// ErrBadPlan is a plan document that cannot be used.
var ErrBadPlan = errors.New("bad plan document")

// ParsePlan decodes a klpack.plan/v1 document. Like every v1 reader it
// ignores fields it does not know (a newer klpack may add them) and
// refuses another schema, a wrong type and an unknown action.
func ParsePlan(r io.Reader) (*Plan, error) {
	var p Plan
	if err := json.NewDecoder(r).Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPlan, err)
	}
	if p.Schema != PlanSchema {
		return nil, fmt.Errorf("%w: schema %q, want %q", ErrBadPlan, p.Schema, PlanSchema)
	}
	for i, op := range p.Ops {
		switch op.Action {
		case ActionDisable, ActionUnload, ActionLoad:
		default:
			return nil, fmt.Errorf("%w: ops[%d]: action %q, want %s, %s or %s", ErrBadPlan, i, op.Action, ActionDisable, ActionUnload, ActionLoad)
		}
		if op.Name == "" {
			return nil, fmt.Errorf("%w: ops[%d]: no name", ErrBadPlan, i)
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
