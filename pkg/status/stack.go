package status

import (
	"maps"
	"slices"

	"github.com/klpack/klpack/pkg/capture"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/sysfs"
)

// stack is the kernel's patch stack as sysfs and capture show it.
type stack struct {
	// order holds the patches bottom first (capture's load order).
	order []*layer
	// byKey holds, per function key, the patches that list it, bottom
	// first: the kernel's func_stack of that function, upside down.
	byKey map[string][]*layer
	// keys are the parts of each key.
	keys map[string]klp.FuncKey
	// trans is the patch in transition; nil when none.
	trans *layer
}

// layer is one patch of the stack.
type layer struct {
	sp  *sysfs.Patch
	dp  *deploy.Patch
	pos int
	// funcs are the functions it lists in sysfs, with the name of its new
	// function where the module record tells ("" when not).
	funcs map[string]string
	// known says the module record came from a module file, so a listed
	// function it does not patch is a nop of a replace patch.
	known bool
}

func newStack(tree *sysfs.Tree, state *deploy.State) *stack {
	byName := make(map[string]*deploy.Patch, len(state.Patches))
	for _, p := range state.Patches {
		byName[p.Name] = p
	}
	sk := &stack{byKey: make(map[string][]*layer), keys: make(map[string]klp.FuncKey)}
	for _, sp := range tree.Patches {
		dp := byName[sp.Name]
		if dp == nil {
			continue // capture keeps every sysfs patch; never nil
		}
		l := &layer{sp: sp, dp: dp, pos: dp.LoadOrder, funcs: make(map[string]string), known: dp.Path != ""}
		declared := make(map[string]string)
		for _, kp := range dp.Patches {
			for _, o := range kp.Objects {
				for _, f := range o.Funcs {
					declared[klp.KeyOf(&o, &f).String()] = f.NewFunc
				}
			}
		}
		for _, o := range sp.Objects {
			if o.Patched != nil && !*o.Patched {
				// Its module is not loaded: nothing of it is on a
				// func_stack (klp_check_stack skips such objects too).
				continue
			}
			for _, f := range o.Funcs {
				fk := keyOf(o, f)
				k := fk.String()
				sk.keys[k] = fk
				nf, ok := declared[k]
				switch {
				case ok:
					l.funcs[k] = nf
				case l.known:
					l.funcs[k] = nopFunc
				default:
					l.funcs[k] = ""
				}
			}
		}
		if sp.Transition != nil && *sp.Transition {
			sk.trans = l
		}
		sk.order = append(sk.order, l)
	}
	slices.SortStableFunc(sk.order, func(a, b *layer) int { return a.pos - b.pos })
	for _, l := range sk.order {
		for _, k := range slices.Sorted(maps.Keys(l.funcs)) {
			sk.byKey[k] = append(sk.byKey[k], l)
		}
	}
	return sk
}

// nopFunc marks a function a replace patch lists but does not patch: the
// nop the kernel adds, which runs the original code.
const nopFunc = "\x00nop"

// code is whose code l runs for k: l's, or the original for a nop.
func (l *layer) code(k string) string {
	if l.funcs[k] == nopFunc {
		return Original
	}
	return l.sp.Name
}

// top is the code that runs k when on the func_stack are the patches
// for which on says so: the topmost one's.
func (sk *stack) top(k string, on func(*layer) bool) string {
	ls := sk.byKey[k]
	for i := len(ls) - 1; i >= 0; i-- {
		if on(ls[i]) {
			return ls[i].code(k)
		}
	}
	return Original
}

// enabled is a patch whose code runs once transitions are over.
func enabled(l *layer) bool { return l.sp.Enabled }

// checked is the code whose frames block the transition for k, as
// kernel/livepatch/transition.c's klp_check_stack_func decides: when
// unpatching, the transition patch's new function (a nop's is the
// original); when patching, the function below it on the func_stack, or
// the original when it is alone there.
func (sk *stack) checked(k string) (code string, l *layer) {
	t := sk.trans
	if !t.sp.Enabled {
		return t.code(k), t
	}
	ls := sk.byKey[k]
	i := slices.Index(ls, t)
	for j := i - 1; j >= 0; j-- {
		// The func_stack holds the patches whose objects are patched:
		// enabled ones (a disabled patch out of transition is being freed).
		if ls[j].sp.Enabled {
			return ls[j].code(k), ls[j]
		}
	}
	return Original, nil
}

// fillPatches fills Patches in stack order and Packages, joining each
// package with the patch of its module.
func fillPatches(st *Status, sk *stack, pkgs []capture.Package) {
	byModule := make(map[string][]*Package)
	for _, cp := range pkgs {
		p := &Package{Name: cp.Name, Version: cp.Version, Layer: cp.Layer, Module: cp.Module, Manifest: cp.Manifest}
		byModule[p.Module] = append(byModule[p.Module], p)
		st.Packages = append(st.Packages, p)
	}
	for i, l := range sk.order {
		p := &Patch{Name: l.sp.Name, ModuleFile: l.dp.Path, Position: i + 1, Enabled: l.sp.Enabled,
			Transition: l.sp.Transition, Replace: l.sp.Replace, StackOrder: l.sp.StackOrder}
		for _, pkg := range byModule[p.Name] {
			pkg.Loaded, pkg.Enabled = true, l.sp.Enabled
		}
		if ps := byModule[p.Name]; len(ps) == 1 {
			p.Package, p.Layer = ps[0], ps[0].Layer
		}
		st.Patches = append(st.Patches, p)
	}
}

// fillFunctions fills Functions.
func fillFunctions(st *Status, sk *stack) {
	for _, k := range slices.Sorted(maps.Keys(sk.byKey)) {
		ls := sk.byKey[k]
		fk := sk.keys[k]
		f := &Function{Key: k, Object: fk.Object, Name: fk.Name, Sympos: fk.Sympos, Runs: sk.top(k, enabled)}
		for _, l := range ls {
			f.Patches = append(f.Patches, l.sp.Name)
		}
		if t := sk.trans; t != nil {
			if _, ok := t.funcs[k]; ok {
				// Before the transition the patch was on the stack when
				// unpatching, and off it when patching.
				old := sk.top(k, func(l *layer) bool {
					if l == t {
						return !t.sp.Enabled
					}
					return l.sp.Enabled
				})
				if old != f.Runs {
					f.Old = old
				}
			}
		}
		st.Functions = append(st.Functions, f)
	}
}
