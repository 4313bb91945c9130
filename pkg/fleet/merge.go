package fleet

import (
	"encoding/binary"
	"slices"
)

// Merge folds the combinations whose deployed sets resolve the same. The
// reader groups lines by the strings they give, bounded by the
// combinations, and one package version has several spellings (klpack's
// 1.2_1, rpm's 1.2_1-1, dpkg's 1.2.1): hosts running the very same
// modules may sit in several combinations, each checked and counted
// apart. Two patches-form combinations are one when they have the same
// kernel and build ID and, patch by patch in load order, the same
// manifest (package and the manifest's own version), enabled, transition
// (known or not) and load order.
//
// The first combination by FirstLine stands for those merged into it: its
// hosts are their sum, its examples the first MaxExamples by line, and
// its patches name each version as the manifest does. Combinations that
// do not resolve, and captures (the state form, which carry their own
// records), are kept as they are. cs is not modified; the result keeps its
// order.
func Merge(cs []*Combination, ms *Manifests) []*Combination {
	out := make([]*Combination, 0, len(cs))
	byKey := map[string]*Combination{}
	var key []byte
	for _, c := range cs {
		var ok bool
		if key, ok = resolvedKey(key[:0], c, ms); !ok {
			out = append(out, c)
			continue
		}
		have := byKey[string(key)]
		if have == nil {
			have = canonical(c, ms)
			byKey[string(key)] = have
			out = append(out, have)
			continue
		}
		have.absorb(c)
	}
	return out
}

// resolvedKey appends to k the identity of c's deployed set as the
// manifests resolve it; false when c is a capture or a patch does not
// resolve (State says why, once per combination, when it is checked).
func resolvedKey(k []byte, c *Combination, ms *Manifests) ([]byte, bool) {
	if c.State != nil || ms == nil {
		return k, false
	}
	// Length-prefixed, as the reader's key: no two sets share one.
	put := func(s string) {
		k = binary.AppendUvarint(k, uint64(len(s)))
		k = append(k, s...)
	}
	put(c.Kernel)
	put(c.BuildID)
	for i, p := range c.Patches {
		m := ms.Lookup(p.Package, p.Version)
		if m == nil || m.Module.Name != p.Module || m.Kernel != c.Kernel {
			return k, false
		}
		put(m.Package.Name)
		put(m.Package.Version)
		flags := byte(0)
		if p.Enabled {
			flags |= 1
		}
		if p.Transition {
			flags |= 2
		}
		if i < len(c.unknownTransition) && c.unknownTransition[i] {
			flags |= 4
		}
		k = append(k, flags)
		k = binary.AppendUvarint(k, uint64(p.LoadOrder))
	}
	return k, true
}

// canonical is a copy of a resolving c whose patches name each version
// as its manifest does, and whose examples it may extend.
func canonical(c *Combination, ms *Manifests) *Combination {
	cp := *c
	cp.Patches = slices.Clone(c.Patches)
	for i := range cp.Patches {
		cp.Patches[i].Version = ms.Lookup(cp.Patches[i].Package, cp.Patches[i].Version).Package.Version
	}
	cp.Examples = slices.Clone(c.Examples)
	return &cp
}
