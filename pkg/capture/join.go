package capture

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/sysfs"
)

// joinPatch builds the deployed record of one sysfs patch from the best of its
// candidate module files, with what the report should say about it.
func joinPatch(sp *sysfs.Patch, cands []*klp.Module, otherPath string, listedBy map[string][]string) (*deploy.Patch, *klp.Module, []ReportEntry) {
	var out []ReportEntry
	add := func(kind, path, format string, args ...any) {
		out = append(out, ReportEntry{Kind: kind, Patch: sp.Name, Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	p := &deploy.Patch{Enabled: sp.Enabled, Transition: sp.Transition}
	switch inTransition := sp.Transition != nil && *sp.Transition; {
	case !sp.Enabled && !inTransition:
		add(EntryNote, "", "disabled and not in transition: the kernel frees a patch once it is disabled, so the tree was taken while it was being removed")
	case inTransition && sp.Enabled:
		add(EntryNote, "", "in transition, being enabled")
	case inTransition:
		add(EntryNote, "", "in transition, being disabled")
	}
	if len(cands) == 0 {
		why := fmt.Sprintf("no livepatch module file named %s under the module directories", sp.Name)
		if otherPath != "" {
			why = fmt.Sprintf("%s is named %s but is not a livepatch module", otherPath, sp.Name)
		}
		add(EntryUnmatched, "", "%s; recorded from sysfs alone (functions, no scan data)", why)
		if sp.Replace == nil {
			add(EntryNote, "", "replace unknown (sysfs shows it from Linux 6.11); recorded as false")
		}
		p.Module = fromSysfs(sp)
		return p, nil, out
	}
	best, bestDiffs, bestNops := -1, []string(nil), []string(nil)
	for i, m := range cands {
		diffs, nops := compare(sp, m, listedBy)
		if best < 0 || (len(diffs) == 0 && len(bestDiffs) > 0) {
			best, bestDiffs, bestNops = i, diffs, nops
		}
	}
	m := cands[best]
	if len(cands) > 1 {
		var others []string
		for i, c := range cands {
			if i != best {
				others = append(others, c.Path)
			}
		}
		how := "the first that agrees with sysfs"
		if len(bestDiffs) > 0 {
			how = "the first; none agrees with sysfs"
		}
		add(EntryNote, m.Path, "%d files carry this module, using %s (%s); also %s", len(cands), m.Path, how, strings.Join(others, ", "))
	}
	for _, d := range bestDiffs {
		add(EntryMismatch, m.Path, "%s", d)
	}
	if len(bestNops) > 0 {
		add(EntryNote, m.Path, "sysfs also lists %s: nops the kernel adds to a replace patch until its transition completes", strings.Join(bestNops, ", "))
	}
	p.Module = cloneModule(m)
	if len(p.Patches) > 0 {
		kp := p.Patches[0]
		if sp.Replace != nil && kp.ReplaceSource == klp.ReplaceUnknown {
			// The kernel's value is what the scan could not read.
			kp.Replace, kp.ReplaceSource, kp.ReplaceHint = *sp.Replace, klp.ReplaceSysfs, ""
		}
		if sp.Replace != nil && *sp.Replace != kp.Replace {
			if kp.ReplaceSource == klp.ReplaceParam {
				add(EntryNote, m.Path, "replace=%t read from sysfs (module parameter %s)", *sp.Replace, kp.ReplaceParam)
			} else {
				kp.ReplaceSource = klp.ReplaceSysfs
			}
			kp.Replace = *sp.Replace
		}
		if sp.Replaceable != nil {
			if kp.Replaceable != nil && *kp.Replaceable != *sp.Replaceable {
				add(EntryNote, m.Path, "replaceable=%t in sysfs, %t in the module file: the kernel's value is kept (the attribute is writable)", *sp.Replaceable, *kp.Replaceable)
			}
			v := *sp.Replaceable
			kp.Replaceable = &v
		}
		if sp.ReplaceSet != nil {
			v := *sp.ReplaceSet
			kp.ReplaceSet = &v
		}
	}
	for _, o := range sp.Objects {
		if sp.Enabled && o.Patched != nil && !*o.Patched {
			add(EntryNote, "", "object %s is not patched (patched=0): its module is not loaded", o.Name)
		}
	}
	return p, m, out
}

// compare lists how a module file differs from what sysfs shows of the
// loaded patch, and the functions sysfs lists that are nops of a replace
// patch in transition.
func compare(sp *sysfs.Patch, m *klp.Module, listedBy map[string][]string) (diffs, nops []string) {
	want := make(map[string]bool)
	for _, kp := range m.Patches {
		for _, o := range kp.Objects {
			for _, f := range o.Funcs {
				want[klp.KeyOf(&o, &f).String()] = true
			}
		}
	}
	if len(m.Patches) != 1 {
		diffs = append(diffs, fmt.Sprintf("%s declares %d klp_patch structs; the kernel registers one per module", m.Path, len(m.Patches)))
	}
	replace := len(m.Patches) > 0 && m.Patches[0].Replace
	if sp.Replace != nil {
		replace = *sp.Replace
	}
	inTransition := sp.Transition != nil && *sp.Transition
	got := listed(sp)
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if want[k] {
			continue
		}
		if replace && inTransition && len(listedBy[k]) > 1 {
			nops = append(nops, k)
			continue
		}
		diffs = append(diffs, fmt.Sprintf("sysfs lists %s, which %s does not patch", k, m.Path))
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if !got[k] {
			diffs = append(diffs, fmt.Sprintf("%s patches %s, which sysfs does not list", m.Path, k))
		}
	}
	if sp.Replace != nil && len(m.Patches) > 0 {
		kp := m.Patches[0]
		if kp.ReplaceSource != klp.ReplaceParam && kp.ReplaceSource != klp.ReplaceUnknown && kp.Replace != *sp.Replace {
			diffs = append(diffs, fmt.Sprintf("sysfs has replace=%d, %s has replace=%t (%s)", b2i(*sp.Replace), m.Path, kp.Replace, kp.ReplaceSource))
		}
	}
	if sp.ReplaceSet != nil && len(m.Patches) > 0 && m.Patches[0].ReplaceSet != nil && *m.Patches[0].ReplaceSet != *sp.ReplaceSet {
		diffs = append(diffs, fmt.Sprintf("sysfs has replace_set=%d, %s has %d", *sp.ReplaceSet, m.Path, *m.Patches[0].ReplaceSet))
	}
	return diffs, nops
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cloneModule copies a scan record deeply enough that the patch flags can
// be changed.
func cloneModule(m *klp.Module) klp.Module {
	out := *m
	out.Patches = make([]*klp.Patch, len(m.Patches))
	for i, p := range m.Patches {
		c := *p
		out.Patches[i] = &c
	}
	return out
}

// fromSysfs builds the record of a patch known only from sysfs. sysfs
// shows sympos 0 as 1; the record says 0, what modules almost always use.
func fromSysfs(sp *sysfs.Patch) klp.Module {
	kp := &klp.Patch{
		States:      []klp.State{},
		Objects:     []klp.Object{},
		Hooks:       []klp.Hook{},
		Replaceable: sp.Replaceable,
		ReplaceSet:  sp.ReplaceSet,
	}
	if sp.Replace != nil {
		kp.Replace = *sp.Replace
		kp.ReplaceSource = klp.ReplaceSysfs
	}
	for _, o := range sp.Objects {
		obj := klp.Object{Funcs: []klp.Func{}}
		if o.Name != "vmlinux" {
			name := o.Name
			obj.Name = &name
		}
		for _, f := range o.Funcs {
			pos := f.Sympos
			if pos == 1 {
				pos = 0
			}
			obj.Funcs = append(obj.Funcs, klp.Func{OldName: f.Name, OldSympos: pos})
		}
		kp.Objects = append(kp.Objects, obj)
	}
	return klp.Module{
		Name:      sp.Name,
		Livepatch: true,
		Modinfo:   map[string][]string{},
		Patches:   []*klp.Patch{kp},
	}
}

// listed names the functions sp lists as klp.FuncKey strings.
func listed(sp *sysfs.Patch) map[string]bool {
	out := make(map[string]bool)
	for k := range sp.Keys() {
		out[k.String()] = true
	}
	return out
}

func findPatch(sps []*sysfs.Patch, name string) (*sysfs.Patch, bool) {
	for _, sp := range sps {
		if sp.Name == name {
			return sp, true
		}
	}
	return nil, false
}
