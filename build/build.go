package build

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/templates"
)

// Sentinels callers may test for with errors.Is.
var (
	ErrCompile = errors.New("compile failed")
	ErrInvalid = errors.New("invalid hook object")
	ErrNoHooks = errors.New("no hook points")
)

// What the template defines and the loader relies on.
const (
	ProgramName = "klpack_hook"
	ValuesMap   = "klpack_values" // cgroup id (u64) → return value (s64)
	CountsMap   = "klpack_counts" // per CPU: calls, overrides, refused
	NumCounts   = 3
)

// Options tune a build. The zero value uses clang and llvm-strip from $PATH.
type Options struct {
	Clang string // the clang binary; "" means "clang"
	Strip string // the llvm-strip binary; "" means "llvm-strip"
	// Target, when set, is the kernel the hooks are for: each Object
	// says what it lacks.
	Target *Target
}

// Object is one hook point's BPF program, built and validated.
type Object struct {
	Module string
	Hook   klp.Hook
	Source []byte // the rendered C
	ELF    []byte // the compiled object
	// Lacks is what the target kernel lacks for this hook, empty when
	// nothing is known to be missing.
	Lacks []string
}

// Name is the object's file name, without extension: <module>/<func>.
func (o *Object) Name() string { return o.Module + "/" + o.Hook.Func }

// Build builds every hook point of the livepatch modules, in order:
// modules as given, hooks as the scan sorted them.
func Build(ctx context.Context, mods []*klp.Module, opts *Options) ([]*Object, error) {
	if opts == nil {
		opts = &Options{}
	}
	var out []*Object
	for _, m := range mods {
		if !m.Livepatch {
			return nil, fmt.Errorf("%s: not a livepatch module", m.Name)
		}
		for _, p := range m.Patches {
			for _, h := range p.Hooks {
				o, err := buildHook(ctx, m.Name, h, opts)
				if err != nil {
					return nil, fmt.Errorf("hook %s/%s: %w", m.Name, h.Func, err)
				}
				out = append(out, o)
			}
		}
	}
	if len(out) == 0 {
		return nil, ErrNoHooks
	}
	return out, nil
}

func buildHook(ctx context.Context, module string, h klp.Hook, opts *Options) (*Object, error) {
	errno := h.Errno
	if errno == "" {
		errno = "ERRNO" // a manifest hook on a function off the list
	}
	src, err := templates.Hook(templates.HookData{Module: module, Func: h.Func, Errno: errno})
	if err != nil {
		return nil, err
	}
	obj, err := Compile(ctx, &CompileArgs{Clang: opts.Clang, Strip: opts.Strip, Name: h.Func, Source: src})
	if err != nil {
		return nil, err
	}
	if _, err := Validate(obj, h.Func); err != nil {
		return nil, err
	}
	o := &Object{Module: module, Hook: h, Source: src, ELF: obj}
	if opts.Target != nil {
		o.Lacks = slices.Clone(opts.Target.Lacks)
	}
	if h.NoErrorInjection {
		o.Lacks = append(o.Lacks, h.Func+" on the error-injection list")
	}
	return o, nil
}

// CompileArgs is one compilation.
type CompileArgs struct {
	Clang, Strip string // binaries; "" means clang, llvm-strip
	// Name is the source's file name without .bpf.c, as debug info and
	// BTF line info record it.
	Name   string
	Source []byte
}

// flags are the clang flags klpack owns: BPF target, BTF, warnings as
// errors, no host headers, and file names that do not depend on where the
// build ran.
var flags = []string{
	"-target", "bpf", "-O2", "-g",
	"-Wall", "-Werror", "-nostdinc",
	"-fdebug-compilation-dir=.", "-fno-ident",
}

// Compile compiles args.Source with clang into a BPF object and strips
// its DWARF (llvm-strip -g), keeping BTF. The same source and compiler
// give the same bytes.
func Compile(ctx context.Context, args *CompileArgs) ([]byte, error) {
	clang, strip := cmp.Or(args.Clang, "clang"), cmp.Or(args.Strip, "llvm-strip")
	dir, err := os.MkdirTemp("", "klpack-bpf-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	src, obj := args.Name+".bpf.c", args.Name+".bpf.o"
	if err := os.WriteFile(filepath.Join(dir, src), args.Source, 0o644); err != nil {
		return nil, err
	}
	if err := tool(ctx, dir, clang, append(slices.Clone(flags), "-c", src, "-o", obj)...); err != nil {
		return nil, err
	}
	if err := tool(ctx, dir, strip, "-g", obj); err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(dir, obj))
}

// tool runs one compiler tool in dir; a failure carries its whole output.
func tool(ctx context.Context, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s %s: %v\n%s", ErrCompile, name, strings.Join(args, " "), err, strings.TrimRight(out.String(), "\n"))
	}
	return nil
}

// gplCompatible are the licenses the kernel counts as GPL
// (license_is_gpl_compatible): GPL-only helpers need one.
var gplCompatible = []string{"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL"}

// Validate checks, without loading it, that obj is a hook program for
// function fn: one kprobe program attached to fn, a GPL-compatible
// license, a call to bpf_override_return, and the maps klpack's loader
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
	for _, want := range []ebpf.MapSpec{
		{Name: ValuesMap, Type: ebpf.Hash, KeySize: 8, ValueSize: 8},
		{Name: CountsMap, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: NumCounts},
	} {
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

// Write writes each object's source and ELF under dir as
// <module>/<func>.bpf.c and .bpf.o and returns the paths of the objects.
func Write(dir string, objs []*Object) ([]string, error) {
	var paths []string
	for _, o := range objs {
		base := filepath.Join(dir, o.Module, o.Hook.Func)
		if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(base+".bpf.c", o.Source, 0o644); err != nil {
			return nil, err
		}
		if err := os.WriteFile(base+".bpf.o", o.ELF, 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, base+".bpf.o")
	}
	return paths, nil
}
