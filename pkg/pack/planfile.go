package pack

import (
	"fmt"
	"slices"
	"strings"

	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/order"
)

// PlanFileVersion is the first line of the plan file the loader reads;
// a loader that does not know the version falls back to syncing.
const PlanFileVersion = "klpack-plan 1"

// PlanFile renders the release's plan as the line-based file every patch
// package of the release installs at <Dir>/plan, the same bytes in each,
// for the POSIX-sh loader to execute (it reads no JSON):
//
//	klpack-plan 1
//	release VERSION
//	names NAME...            every module the plan mentions
//	start                    the state the plan was made for:
//	patches NAME=ENABLED...  the /sys/kernel/livepatch directories, stack order
//	modules NAME...          the livepatch modules loaded, sorted
//	load NAME [FILE]         each step, then the state after it
//	patches ...
//	modules ...
//	end
//
// A load's FILE is where the release's package of that module installs
// it; a load without one re-loads a deployed patch another package
// installs (an off-band patch a replace removed), which the loader finds
// by its module name in the installed order files. nil, nil when the
// release has no plan with steps and a start: the loader then syncs.
func PlanFile(r *Release) ([]byte, error) {
	p := r.Plan
	if p == nil || p.Steps == nil || p.Start == nil || !p.OK {
		return nil, nil
	}
	files := map[string]string{}
	for _, s := range r.Specs() {
		files[s.Module.Record.Name] = s.Dir() + "/" + s.Module.Record.Name + koSuffix(s.Module.File)
	}
	names := map[string]bool{}
	var b strings.Builder
	expect := func(e *order.Expect) error {
		b.WriteString("patches")
		for _, p := range e.Patches {
			if err := klp.CheckModuleName(p.Name); err != nil {
				return err
			}
			names[p.Name] = true
			v := "0"
			if p.Enabled {
				v = "1"
			}
			b.WriteString(" " + p.Name + "=" + v)
		}
		b.WriteString("\nmodules")
		mods := slices.Sorted(slices.Values(e.Modules))
		for _, m := range mods {
			if err := klp.CheckModuleName(m); err != nil {
				return err
			}
			names[m] = true
			b.WriteString(" " + m)
		}
		b.WriteString("\n")
		return nil
	}
	b.WriteString("start\n")
	if err := expect(p.Start); err != nil {
		return nil, fmt.Errorf("%w: plan start: %w", ErrBadRelease, err)
	}
	for i, st := range p.Steps {
		if err := klp.CheckModuleName(st.Name); err != nil {
			return nil, fmt.Errorf("%w: plan step %d: %w", ErrBadRelease, i+1, err)
		}
		names[st.Name] = true
		switch st.Action {
		case order.ActionLoad:
			b.WriteString("load " + st.Name)
			if f, ok := files[st.Name]; ok {
				b.WriteString(" " + f)
			}
		case order.ActionDisable, order.ActionUnload:
			b.WriteString(st.Action + " " + st.Name)
		default:
			return nil, fmt.Errorf("%w: plan step %d: action %q", ErrBadRelease, i+1, st.Action)
		}
		b.WriteString("\n")
		if err := expect(&st.Expect); err != nil {
			return nil, fmt.Errorf("%w: plan step %d: %w", ErrBadRelease, i+1, err)
		}
	}
	b.WriteString("end\n")
	head := PlanFileVersion + "\nrelease " + r.Version + "\nnames"
	for _, n := range slices.Sorted(func(yield func(string) bool) {
		for n := range names {
			if !yield(n) {
				return
			}
		}
	}) {
		head += " " + n
	}
	return []byte(head + "\n" + b.String()), nil
}
