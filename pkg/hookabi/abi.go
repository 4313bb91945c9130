package hookabi

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// ErrInvalid means an object is not a hook program klpack can load.
var ErrInvalid = errors.New("invalid hook object")

// What the template defines and the host runtime pins and reads.
const (
	ProgramName = "klpack_hook"
	// ValuesMap maps a cgroup v2 id (u64, as bpf_get_current_cgroup_id
	// returns it) to the value the hook function returns there (s64).
	ValuesMap = "klpack_values"
	// CountsMap holds, per CPU, a u64 counter per Count key.
	CountsMap = "klpack_counts"
)

// The keys of CountsMap, in the template's order (enum KLPACK_CALLS...).
const (
	CountCalls     uint32 = iota // calls of the hook function
	CountOverrides               // calls whose return value the program replaced
	CountRefused                 // values refused: outside what the function's error type returns
	NumCounts                    // CountsMap's size
)

// maps is the layout Validate wants; MaxEntries 0 means "any but 0".
var maps = []ebpf.MapSpec{
	{Name: ValuesMap, Type: ebpf.Hash, KeySize: 8, ValueSize: 8},
	{Name: CountsMap, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: NumCounts},
}

// gplCompatible are the licenses the kernel counts as GPL
// (license_is_gpl_compatible): GPL-only helpers need one.
var gplCompatible = []string{"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL"}

// Validate checks, without loading it, that obj is a hook program for
// function fn: one kprobe program attached to fn, a GPL-compatible
// license, a call to bpf_override_return, and the maps the host runtime
// expects. A failure lists every problem and matches ErrInvalid.
func Validate(obj []byte, fn string) (*ebpf.CollectionSpec, error) {
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(obj))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := ValidateSpec(spec, fn); err != nil {
		return nil, err
	}
	return spec, nil
}

// ValidateSpec is Validate on an object already read.
func ValidateSpec(spec *ebpf.CollectionSpec, fn string) error {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	p := spec.Programs[ProgramName]
	if p == nil || len(spec.Programs) != 1 {
		bad("want one program %s, have %s", ProgramName, strings.Join(sortedKeys(spec.Programs), ", "))
	}
	if p != nil {
		if p.Type != ebpf.Kprobe {
			bad("program type %s, want %s", p.Type, ebpf.Kprobe)
		}
		if p.AttachTo != fn {
			bad("attach target %q (section %s), want the hook function %q", p.AttachTo, p.SectionName, fn)
		}
		if !slices.Contains(gplCompatible, p.License) {
			bad("license %q is not GPL-compatible: bpf_override_return is GPL-only", p.License)
		}
		if !slices.ContainsFunc(p.Instructions, func(ins asm.Instruction) bool {
			return ins.IsBuiltinCall() && asm.BuiltinFunc(ins.Constant) == asm.FnOverrideReturn
		}) {
			bad("no call to bpf_override_return: the program cannot override %s", fn)
		}
	}
	for _, want := range maps {
		m := spec.Maps[want.Name]
		switch {
		case m == nil:
			bad("no map %s", want.Name)
		case m.Type != want.Type || m.KeySize != want.KeySize || m.ValueSize != want.ValueSize ||
			want.MaxEntries != 0 && m.MaxEntries != want.MaxEntries || m.MaxEntries == 0:
			bad("map %s is %s key %d value %d entries %d, want %s key %d value %d entries %s",
				want.Name, m.Type, m.KeySize, m.ValueSize, m.MaxEntries, want.Type, want.KeySize, want.ValueSize, entries(want.MaxEntries))
		}
	}
	if len(probs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(probs, "; "))
	}
	return nil
}

func entries(n uint32) string {
	if n == 0 {
		return "> 0"
	}
	return fmt.Sprint(n)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	if len(out) == 0 {
		return []string{"none"}
	}
	return out
}
