package capture

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/sysfs"
)

// kernelRelease sets the release and returns the mismatches of the
// matched modules' vermagic with it.
func kernelRelease(st *deploy.State, rep *CaptureReport, sps []*sysfs.Patch, matched map[string]*klp.Module, opt string) ([]ReportEntry, error) {
	release := strings.TrimSpace(opt)
	rep.ReleaseSource = "option"
	if release == "" {
		// The most common release among the matched modules; a kernel
		// refuses modules of another release, so more than one means some
		// files are not the ones loaded.
		count := make(map[string]int)
		for _, m := range matched {
			if r := klp.KernelRelease(m.Vermagic); r != "" {
				count[r]++
			}
		}
		for _, r := range slices.Sorted(maps.Keys(count)) {
			if release == "" || count[r] > count[release] {
				release = r
			}
		}
		if release == "" {
			return nil, errors.New("kernel release unknown: no module file matched a patch in sysfs; give the release")
		}
		rep.ReleaseSource = "vermagic"
		rep.add(EntryInfo, "", "", "kernel release %s, from the vermagic of the matched modules", release)
	} else {
		rep.add(EntryInfo, "", "", "kernel release %s, as given", release)
	}
	st.Kernel.Release = release
	rep.KernelRelease = release
	var out []ReportEntry
	for _, sp := range sps {
		m := matched[sp.Name]
		if m == nil {
			continue
		}
		if r := klp.KernelRelease(m.Vermagic); r != release {
			out = append(out, ReportEntry{Kind: EntryMismatch, Patch: sp.Name, Path: m.Path,
				Msg: fmt.Sprintf("%s is built for %q, the kernel is %s", m.Path, r, release)})
		}
	}
	return out, nil
}

func kernelModel(st *deploy.State, rep *CaptureReport, sps []*sysfs.Patch, opt string) {
	model, source, why := opt, "option", "as given"
	if model == "" {
		source = "sysfs"
		var set, replaceable bool
		for _, sp := range sps {
			set = set || sp.ReplaceSet != nil
			replaceable = replaceable || sp.Replaceable != nil
		}
		switch {
		case set:
			model, why = deploy.ModelReplaceSet, "sysfs shows replace_set"
		case replaceable:
			model, why = deploy.ModelHybrid, "sysfs shows replaceable"
		case len(sps) > 0:
			model, why = deploy.ModelMainline, "sysfs shows neither replaceable nor replace_set"
		default:
			source, why = "default", "no patch in sysfs to tell; left to the default of the release"
		}
	}
	st.Kernel.Model = model
	rep.KernelModel = model
	rep.ModelSource = source
	if model == "" {
		rep.add(EntryInfo, "", "", "kernel model not set: %s", why)
		return
	}
	rep.add(EntryInfo, "", "", "kernel model %s, %s", model, why)
}

func loadOrder(st *deploy.State, rep *CaptureReport, sps []*sysfs.Patch, given []string) error {
	byName := make(map[string]*deploy.Patch, len(st.Patches))
	for i, p := range st.Patches {
		byName[sps[i].Name] = p
	}
	have, seen := 0, make(map[int]bool)
	for _, sp := range sps {
		if sp.StackOrder != nil && !seen[*sp.StackOrder] {
			seen[*sp.StackOrder] = true
			have++
		}
	}
	if len(sps) > 0 && have == len(sps) {
		for _, sp := range sps {
			byName[sp.Name].LoadOrder = *sp.StackOrder
		}
		rep.OrderSource = OrderStackOrder
		rep.add(EntryInfo, "", "", "load order from stack_order")
		if len(given) > 0 && !slices.Equal(given, namesByOrder(st.Patches)) {
			rep.add(EntryNote, "", "", "the order given (%s) differs from stack_order (%s); using stack_order",
				strings.Join(given, ", "), strings.Join(namesByOrder(st.Patches), ", "))
		}
		return nil
	}
	if countStackOrder(sps) > 0 {
		rep.add(EntryNote, "", "", "stack_order missing on some patches or repeated; ignoring it (was the tree copied while patches changed?)")
	}
	if len(given) > 0 {
		if err := checkOrder(given, sps); err != nil {
			return err
		}
		for i, name := range given {
			byName[name].LoadOrder = i + 1
		}
		rep.OrderSource = OrderOption
		rep.add(EntryInfo, "", "", "load order as given: %s", strings.Join(given, ", "))
		return nil
	}
	names := make([]string, len(sps))
	for i, sp := range sps {
		names[i] = sp.Name
	}
	slices.Sort(names)
	why := "sorted by name"
	if st.Kernel.Model == deploy.ModelMainline || st.Kernel.Model == "" {
		var first []string
		for _, name := range names {
			p := byName[name]
			if p.Enabled && p.Transition != nil && !*p.Transition && len(p.Patches) > 0 && p.Patches[0].Replace {
				first = append(first, name)
			}
		}
		if len(first) == 1 {
			names = slices.DeleteFunc(names, func(n string) bool { return n == first[0] })
			names = slices.Insert(names, 0, first[0])
			why += fmt.Sprintf(", but %s first: an enabled atomic-replace patch out of transition, so the kernel freed every older patch", first[0])
		}
	}
	for i, name := range names {
		byName[name].LoadOrder = i + 1
	}
	rep.OrderSource = OrderGuess
	if len(sps) > 0 {
		rep.add(EntryInfo, "", "", "load order guessed (no stack_order before Linux 6.13; give the order to be exact): %s", why)
	}
	return nil
}

func countStackOrder(sps []*sysfs.Patch) int {
	n := 0
	for _, sp := range sps {
		if sp.StackOrder != nil {
			n++
		}
	}
	return n
}

func namesByOrder(ps []*deploy.Patch) []string {
	c := slices.Clone(ps)
	deploy.SortPatches(c)
	out := make([]string, len(c))
	for i, p := range c {
		out[i] = p.Name
	}
	return out
}

// checkOrder requires the given order to name every patch in sysfs once.
func checkOrder(given []string, sps []*sysfs.Patch) error {
	seen := make(map[string]bool)
	for _, name := range given {
		if _, ok := findPatch(sps, name); !ok {
			return fmt.Errorf("load order: %s is not a patch in sysfs", name)
		}
		if seen[name] {
			return fmt.Errorf("load order: %s given twice", name)
		}
		seen[name] = true
	}
	for _, sp := range sps {
		if !seen[sp.Name] {
			return fmt.Errorf("load order: %s is in sysfs but not in the order given", sp.Name)
		}
	}
	return nil
}
