package hookabi

import (
	"errors"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

const fn = "lp_hook_meminfo_allowed"

// hookSpec is what the template compiles to, as cilium/ebpf reads it.
func hookSpec() *ebpf.CollectionSpec {
	return &ebpf.CollectionSpec{
		Programs: map[string]*ebpf.ProgramSpec{ProgramName: {
			Name: ProgramName, Type: ebpf.Kprobe, AttachTo: fn, SectionName: "kprobe/" + fn, License: "GPL",
			Instructions: asm.Instructions{asm.FnOverrideReturn.Call(), asm.Mov.Imm(asm.R0, 0), asm.Return()},
		}},
		Maps: map[string]*ebpf.MapSpec{
			ValuesMap: {Name: ValuesMap, Type: ebpf.Hash, KeySize: 8, ValueSize: 8, MaxEntries: 1024},
			CountsMap: {Name: CountsMap, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: NumCounts},
		},
	}
}

// TestValidateSpec breaks one part of the ABI at a time, without clang
// (build's TestValidateFailures breaks the compiled template).
func TestValidateSpec(t *testing.T) {
	if err := ValidateSpec(hookSpec(), fn); err != nil {
		t.Fatalf("ValidateSpec(the template's shape) = %v", err)
	}
	tests := []struct {
		name   string
		mutate func(s *ebpf.CollectionSpec)
		want   string
	}{
		{"no program", func(s *ebpf.CollectionSpec) { delete(s.Programs, ProgramName) },
			"want one program klpack_hook, have none"},
		{"two programs", func(s *ebpf.CollectionSpec) { s.Programs["other"] = s.Programs[ProgramName].Copy() },
			"want one program klpack_hook, have klpack_hook, other"},
		{"type", func(s *ebpf.CollectionSpec) { s.Programs[ProgramName].Type = ebpf.TracePoint },
			"program type TracePoint, want Kprobe"},
		{"attach target", func(s *ebpf.CollectionSpec) { s.Programs[ProgramName].AttachTo = "meminfo_proc_show" },
			`attach target "meminfo_proc_show" (section kprobe/lp_hook_meminfo_allowed), want the hook function "lp_hook_meminfo_allowed"`},
		{"license", func(s *ebpf.CollectionSpec) { s.Programs[ProgramName].License = "MIT" },
			`license "MIT" is not GPL-compatible`},
		{"no override", func(s *ebpf.CollectionSpec) { s.Programs[ProgramName].Instructions[0] = asm.FnKtimeGetNs.Call() },
			"no call to bpf_override_return"},
		{"no values map", func(s *ebpf.CollectionSpec) { delete(s.Maps, ValuesMap) },
			"no map klpack_values"},
		{"values key", func(s *ebpf.CollectionSpec) { s.Maps[ValuesMap].KeySize = 4 },
			"map klpack_values is Hash key 4 value 8 entries 1024, want Hash key 8 value 8 entries > 0"},
		{"values empty", func(s *ebpf.CollectionSpec) { s.Maps[ValuesMap].MaxEntries = 0 },
			"map klpack_values is Hash key 8 value 8 entries 0, want Hash key 8 value 8 entries > 0"},
		{"counts size", func(s *ebpf.CollectionSpec) { s.Maps[CountsMap].MaxEntries = 2 },
			"map klpack_counts is PerCPUArray key 4 value 8 entries 2, want PerCPUArray key 4 value 8 entries 3"},
		{"counts type", func(s *ebpf.CollectionSpec) { s.Maps[CountsMap].Type = ebpf.Array },
			"map klpack_counts is Array key 4 value 8 entries 3"},
		{"every problem", func(s *ebpf.CollectionSpec) { s.Programs[ProgramName].License = "MIT"; delete(s.Maps, CountsMap) },
			`license "MIT" is not GPL-compatible: bpf_override_return is GPL-only; no map klpack_counts`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := hookSpec()
			tt.mutate(s)
			err := ValidateSpec(s, fn)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ValidateSpec = %v, want ErrInvalid with %q", err, tt.want)
			}
		})
	}
}

func TestValidateGarbage(t *testing.T) {
	if spec, err := Validate([]byte("not ELF"), fn); !errors.Is(err, ErrInvalid) || spec != nil {
		t.Errorf("Validate(garbage) = %v, %v; want nil, ErrInvalid", spec, err)
	}
}
