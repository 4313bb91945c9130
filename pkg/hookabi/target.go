package hookabi

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/cilium/ebpf/btf"
	"github.com/klpack/klpack/internal/safeio"
)

// Target is what a kernel lacks for BPF hooks to override functions.
type Target struct {
	// Source names what the answer came from: "config FILE", "btf FILE".
	Source string
	// Lacks lists the missing kernel options, CONFIG_* names in the order
	// of requirements; empty when the kernel has them all.
	Lacks []string
}

// requirement is one kernel option hooks need, with what shows it in a
// vmlinux BTF (a function only that option compiles in), or "" when
// BTF cannot tell.
type requirement struct {
	option string
	btfFn  string
}

// requirements: kprobes and BPF programs on them; the error-injection
// list (lib/error-inject.c); bpf_override_return (kernel/trace/bpf_trace.c).
var requirements = []requirement{
	{"CONFIG_KPROBES", "register_kprobe"},
	{"CONFIG_BPF_EVENTS", "trace_call_bpf"},
	{"CONFIG_FUNCTION_ERROR_INJECTION", "within_error_injection_list"},
	{"CONFIG_BPF_KPROBE_OVERRIDE", "bpf_override_return"},
}

// ReadTarget reads what a kernel lacks from its .config at configPath,
// its vmlinux BTF (an ELF or raw BTF) at btfPath, or both; an empty path
// is not read, and nil means neither was given.
func ReadTarget(configPath, btfPath string) (*Target, error) {
	var t *Target
	if configPath != "" {
		f, _, err := safeio.Open(configPath)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if t, err = ReadKernelConfig(f, configPath); err != nil {
			return nil, err
		}
	}
	if btfPath != "" {
		spec, err := LoadBTF(btfPath)
		if err != nil {
			return nil, err
		}
		b, err := TargetFromBTF(spec, btfPath)
		if err != nil {
			return nil, err
		}
		t = t.Merge(b)
	}
	return t, nil
}

// maxBTF bounds the BTF klpack reads: a kernel's is a few MB
// (/sys/kernel/btf/vmlinux), and the parser holds it whole.
const maxBTF = 64 << 20

// LoadBTF reads the BTF of a vmlinux ELF or a raw BTF file (such as
// /sys/kernel/btf/vmlinux) at path, which must be a regular file; a
// .BTF section or raw file over maxBTF is refused before it is read.
func LoadBTF(path string) (*btf.Spec, error) {
	f, st, err := safeio.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := st.Size()
	if size == 0 {
		return nil, fmt.Errorf("file %s: empty, where a vmlinux or its BTF belongs", path)
	}
	if ef, err := elf.NewFile(f); err == nil {
		size = 0
		if s := ef.Section(".BTF"); s != nil {
			size = int64(s.Size)
		}
	}
	if size > maxBTF {
		return nil, fmt.Errorf("%s: %w: %d bytes of BTF, the limit is %d", path, safeio.ErrTooLarge, size, maxBTF)
	}
	spec, err := btf.LoadSpecFromReader(f)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", path, err)
	}
	return spec, nil
}

// ReadKernelConfig reads a kernel .config from r; name is its file name.
func ReadKernelConfig(r io.Reader, name string) (*Target, error) {
	set := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	lines, blank := 0, true
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		blank = blank && line == ""
		if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "CONFIG_") {
			set[k] = v == "y"
			lines++
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("kernel config %s: %w", name, err)
	}
	if blank {
		return nil, fmt.Errorf("kernel config %s: empty", name)
	}
	if lines == 0 {
		return nil, fmt.Errorf("kernel config %s: no CONFIG_ lines: not a kernel .config", name)
	}
	t := &Target{Source: "config " + name, Lacks: []string{}}
	for _, req := range requirements {
		if !set[req.option] {
			t.Lacks = append(t.Lacks, req.option)
		}
	}
	return t, nil
}

// TargetFromBTF tells from a kernel's vmlinux BTF which options it lacks:
// each leaves a function of its own in BTF.
func TargetFromBTF(spec *btf.Spec, name string) (*Target, error) {
	t := &Target{Source: "btf " + name, Lacks: []string{}}
	for _, req := range requirements {
		var fn *btf.Func
		err := spec.TypeByName(req.btfFn, &fn)
		switch {
		case errors.Is(err, btf.ErrNotFound):
			t.Lacks = append(t.Lacks, req.option)
		case err != nil:
			return nil, fmt.Errorf("btf %s: %s: %w", name, req.btfFn, err)
		}
	}
	return t, nil
}

// Merge combines what two sources say a kernel lacks.
func (t *Target) Merge(o *Target) *Target {
	if t == nil {
		return o
	}
	if o == nil {
		return t
	}
	m := &Target{Source: t.Source + ", " + o.Source, Lacks: []string{}}
	for _, req := range requirements {
		for _, l := range [][]string{t.Lacks, o.Lacks} {
			if slices.Contains(l, req.option) && !slices.Contains(m.Lacks, req.option) {
				m.Lacks = append(m.Lacks, req.option)
			}
		}
	}
	return m
}
