package hooks

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/cilium/ebpf"

	"github.com/klpack/klpack/pkg/hookabi"
)

// Status is what one pinned hook is doing.
type Status struct {
	Hook string `json:"hook"`
	// Linked are the modules whose copy of the function has a probe.
	Linked []string `json:"linked"`
	// Live are the modules whose copy runs now (see Host.Live).
	Live []string `json:"live"`
	// Bypassed are live copies without a probe: calls there are not
	// overridden. Stale are probes on copies that no longer run. Both
	// are what Sync repairs.
	Bypassed []string `json:"bypassed"`
	Stale    []string `json:"stale"`
	Calls    uint64   `json:"calls"`
	// Overrides counts calls whose return value the program replaced;
	// Refused, values outside what the function's error type returns.
	Overrides uint64  `json:"overrides"`
	Refused   uint64  `json:"refused"`
	Values    []Value `json:"values"`
	// Problem is set when the hook's state could not be read.
	Problem string `json:"problem,omitempty"`
}

// OK says whether the hook is on exactly the code that runs: no live copy
// bypassed, no stale probe, nothing unreadable.
func (s *Status) OK() bool {
	return s.Problem == "" && len(s.Bypassed) == 0 && len(s.Stale) == 0
}

// Value is the return value a hook forces in one cgroup.
type Value struct {
	Cgroup uint64 `json:"cgroup"`
	// Path is the cgroup's directory when found under Host.Cgroup.
	Path  string `json:"path,omitempty"`
	Value int64  `json:"value"`
}

// Status reads every pinned hook.
func (h *Host) Status() ([]*Status, error) {
	root, err := h.pins()
	if root == nil || err != nil {
		return nil, err
	}
	defer root.Close()
	fns, err := h.hooks(root)
	if err != nil {
		return nil, err
	}
	var paths map[uint64]string
	out := make([]*Status, 0, len(fns))
	for _, fn := range fns {
		s, err := h.status(root, fn)
		if err != nil {
			return nil, fmt.Errorf("hook %s: %w", fn, err)
		}
		if len(s.Values) > 0 && paths == nil {
			paths = cgroupPaths(h.Cgroup)
		}
		for i := range s.Values {
			s.Values[i].Path = paths[s.Values[i].Cgroup]
		}
		out = append(out, s)
	}
	return out, nil
}

func (h *Host) status(root *os.Root, fn string) (*Status, error) {
	s := &Status{Hook: fn}
	var err error
	if s.Linked, err = h.links(root, fn); err != nil {
		return nil, err
	}
	s.Live, err = h.Live(fn)
	if err != nil && !errors.Is(err, ErrNotLive) && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err != nil {
		s.Problem = err.Error()
	}
	for _, m := range s.Live {
		if !slices.Contains(s.Linked, m) {
			s.Bypassed = append(s.Bypassed, m)
		}
	}
	for _, m := range s.Linked {
		if !slices.Contains(s.Live, m) {
			s.Stale = append(s.Stale, m)
		}
	}
	counts, err := h.openMap(fn, hookabi.CountsMap)
	if err != nil {
		return nil, err
	}
	defer counts.Close()
	for key, dst := range map[uint32]*uint64{hookabi.CountCalls: &s.Calls, hookabi.CountOverrides: &s.Overrides, hookabi.CountRefused: &s.Refused} {
		var per []uint64
		if err := counts.Lookup(key, &per); err != nil {
			return nil, fmt.Errorf("reading %s: %w", hookabi.CountsMap, err)
		}
		for _, n := range per {
			*dst += n
		}
	}
	values, err := h.openMap(fn, hookabi.ValuesMap)
	if err != nil {
		return nil, err
	}
	defer values.Close()
	var (
		id  uint64
		v   int64
		its = values.Iterate()
	)
	for its.Next(&id, &v) {
		s.Values = append(s.Values, Value{Cgroup: id, Value: v})
	}
	if err := its.Err(); err != nil && !errors.Is(err, ebpf.ErrIterationAborted) {
		return nil, fmt.Errorf("reading %s: %w", hookabi.ValuesMap, err)
	}
	slices.SortFunc(s.Values, func(a, b Value) int { return cmp.Compare(a.Cgroup, b.Cgroup) })
	return s, nil
}

// cgroupPaths maps cgroup ids to directories under root. A missing or
// unreadable hierarchy leaves ids unnamed.
func cgroupPaths(root string) map[uint64]string {
	out := map[uint64]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if fi, err := os.Stat(p); err == nil {
			if id, ok := inode(fi); ok {
				out[id] = p
			}
		}
		return nil
	})
	return out
}
