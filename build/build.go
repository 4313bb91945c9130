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

	"github.com/klpack/klpack/pkg/hookabi"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/templates"
)

// Sentinels callers may test for with errors.Is; a validation failure
// matches hookabi.ErrInvalid.
var (
	ErrCompile = errors.New("compile failed")
	ErrNoHooks = errors.New("no hook points")
)

// Options tune a build. The zero value uses clang and llvm-strip from $PATH.
type Options struct {
	Clang string // the clang binary; "" means "clang"
	Strip string // the llvm-strip binary; "" means "llvm-strip"
	// Target, when set, is the kernel the hooks are for: each Object
	// says what it lacks.
	Target *hookabi.Target
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
	if _, err := hookabi.Validate(obj, h.Func); err != nil {
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
