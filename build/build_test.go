package build

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/hookabi"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/templates"
)

func needTools(t *testing.T) {
	t.Helper()
	testutil.NeedTool(t, "clang")
	testutil.NeedTool(t, "llvm-strip")
}

func hookModule(t *testing.T) *klp.Module {
	t.Helper()
	m, err := elfscan.Open(filepath.Join(testutil.Root(), "testdata", "ko", "6.12.117+deb12-amd64", "lp_hook.ko"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBuildTestdata builds the hooks of testdata's lp_hook twice: both
// validate, and the second build is byte for byte the first.
func TestBuildTestdata(t *testing.T) {
	needTools(t)
	m := hookModule(t)
	var builds [2][]*Object
	for i := range builds {
		objs, err := Build(context.Background(), []*klp.Module{m}, nil)
		if err != nil {
			t.Fatalf("Build = %+v", err)
		}
		builds[i] = objs
	}
	var names []string
	for i, o := range builds[0] {
		names = append(names, o.Name())
		if !bytes.Equal(o.ELF, builds[1][i].ELF) {
			t.Errorf("%s: two builds differ", o.Name())
		}
		spec, err := hookabi.Validate(o.ELF, o.Hook.Func)
		if err != nil {
			t.Fatal(err)
		}
		if got := spec.Programs[hookabi.ProgramName].SectionName; got != "kprobe/"+o.Hook.Func {
			t.Errorf("%s: section %q", o.Name(), got)
		}
		if len(o.Lacks) != 0 {
			t.Errorf("%s: lacks %v without a target", o.Name(), o.Lacks)
		}
	}
	if want := []string{"lp_hook/lp_hook_meminfo_allowed", "lp_hook/lp_hook_meminfo_extra"}; !cmp.Equal(names, want) {
		t.Errorf("built %v, want %v", names, want)
	}
	dir := t.TempDir()
	paths, err := Write(dir, builds[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if _, err := os.Stat(strings.TrimSuffix(p, ".o") + ".c"); err != nil {
			t.Error(err)
		}
	}
}

func TestBuildInputs(t *testing.T) {
	m := hookModule(t)
	notLP := &klp.Module{Name: "plain"}
	noHooks := &klp.Module{Name: "lp", Livepatch: true, Patches: []*klp.Patch{{Hooks: []klp.Hook{}}}}
	badName := &klp.Module{Name: "lp", Livepatch: true, Patches: []*klp.Patch{{Hooks: []klp.Hook{{Object: "lp", Func: "f; rm", Errno: "ERRNO"}}}}}
	if _, err := Build(context.Background(), []*klp.Module{m, notLP}, nil); err == nil || !strings.Contains(err.Error(), "plain: not a livepatch module") {
		t.Errorf("Build(not a livepatch) = %v", err)
	}
	if _, err := Build(context.Background(), []*klp.Module{noHooks}, nil); !errors.Is(err, ErrNoHooks) {
		t.Errorf("Build(no hooks) = %v, want ErrNoHooks", err)
	}
	if _, err := Build(context.Background(), []*klp.Module{badName}, nil); !errors.Is(err, templates.ErrBadValue) {
		t.Errorf("Build(bad function name) = %v, want templates.ErrBadValue", err)
	}
}

// TestValidateFailures compiles broken variants of the rendered template
// and checks that validation names what is wrong.
func TestValidateFailures(t *testing.T) {
	needTools(t)
	const fn = "lp_hook_meminfo_allowed"
	src, err := templates.Hook(templates.HookData{Module: "lp_hook", Func: fn, Errno: "ERRNO"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		old, new string
		want     string
	}{
		{"wrong license", `SEC("license") = "GPL"`, `SEC("license") = "Proprietary"`,
			`license "Proprietary" is not GPL-compatible: bpf_override_return is GPL-only`},
		{"wrong attach target", `SEC("kprobe/` + fn + `")`, `SEC("kprobe/meminfo_proc_show")`,
			`attach target "meminfo_proc_show" (section kprobe/meminfo_proc_show), want the hook function "lp_hook_meminfo_allowed"`},
		{"missing helper", "bpf_override_return(ctx, (__u64)*v);", "if (0) bpf_override_return(ctx, 0);",
			"no call to bpf_override_return: the program cannot override lp_hook_meminfo_allowed"},
		{"wrong program type", `SEC("kprobe/` + fn + `")`, `SEC("tracepoint/syscalls/sys_enter_read")`,
			"program type TracePoint, want Kprobe"},
		{"wrong map", "__uint(type, BPF_MAP_TYPE_HASH);", "__uint(type, 2);",
			"map klpack_values is Array key 8 value 8 entries 1024, want Hash key 8 value 8 entries > 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(src, []byte(tt.old)) {
				t.Fatalf("template has no %q", tt.old)
			}
			bad := bytes.Replace(src, []byte(tt.old), []byte(tt.new), 1)
			obj, err := Compile(context.Background(), &CompileArgs{Name: fn, Source: bad})
			if err != nil {
				t.Fatal(err)
			}
			_, err = hookabi.Validate(obj, fn)
			if !errors.Is(err, hookabi.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want ErrInvalid with %q", err, tt.want)
			}
		})
	}
}

// TestCompileError: clang's diagnostics come back in full.
func TestCompileError(t *testing.T) {
	needTools(t)
	_, err := Compile(context.Background(), &CompileArgs{Name: "broken", Source: []byte("int f(void) { return undeclared_thing; }\n")})
	if !errors.Is(err, ErrCompile) {
		t.Fatalf("Compile = %v, want ErrCompile", err)
	}
	for _, want := range []string{"clang -target bpf -O2 -g", "broken.bpf.c:1:22: error: use of undeclared identifier 'undeclared_thing'", "1 error generated."} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
