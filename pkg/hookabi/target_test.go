package hookabi

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/testutil"
)

func TestTarget(t *testing.T) {
	all := "CONFIG_KPROBES=y\nCONFIG_BPF_EVENTS=y\nCONFIG_FUNCTION_ERROR_INJECTION=y\nCONFIG_BPF_KPROBE_OVERRIDE=y\n"
	tests := []struct {
		name, config string
		want         []string
	}{
		{"all", all, []string{}},
		{"debian", "CONFIG_KPROBES=y\nCONFIG_BPF_EVENTS=y\n# CONFIG_FUNCTION_ERROR_INJECTION is not set\n", []string{"CONFIG_FUNCTION_ERROR_INJECTION", "CONFIG_BPF_KPROBE_OVERRIDE"}},
		{"module is not enough", strings.Replace(all, "CONFIG_KPROBES=y", "CONFIG_KPROBES=m", 1), []string{"CONFIG_KPROBES"}},
	}
	for _, tt := range tests {
		got, err := ReadKernelConfig(strings.NewReader(tt.config), "config")
		if err != nil || !cmp.Equal(got.Lacks, tt.want) {
			t.Errorf("%s: ReadKernelConfig = %v, %v; want lacks %v", tt.name, got, err, tt.want)
		}
	}
	if _, err := ReadKernelConfig(strings.NewReader("hello\n"), "x"); err == nil {
		t.Error("ReadKernelConfig(not a config) = nil error")
	}

	// A BTF holding the functions each option compiles in.
	var types []btf.Type
	for _, r := range requirements {
		types = append(types, &btf.Func{Name: r.btfFn, Type: &btf.FuncProto{Return: &btf.Void{}}, Linkage: btf.GlobalFunc})
	}
	b, err := btf.NewBuilder(types, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := TargetFromBTF(spec, "full"); err != nil || len(got.Lacks) != 0 {
		t.Errorf("TargetFromBTF(full) = %v, %v; want nothing lacking", got, err)
	}

	// ReadTarget: from files, either or both.
	dir := t.TempDir()
	config, full := filepath.Join(dir, "config"), filepath.Join(dir, "btf")
	os.WriteFile(config, []byte(tests[1].config), 0o644)
	os.WriteFile(full, raw, 0o644)
	if got, err := ReadTarget("", ""); got != nil || err != nil {
		t.Errorf("ReadTarget(nothing) = %v, %v; want nil, nil", got, err)
	}
	for _, tt := range []struct {
		config, btf string
		source      string
		lacks       []string
	}{
		{config, "", "config " + config, tests[1].want},
		{"", full, "btf " + full, []string{}},
		{config, full, "config " + config + ", btf " + full, tests[1].want},
	} {
		got, err := ReadTarget(tt.config, tt.btf)
		if err != nil || got.Source != tt.source || !cmp.Equal(got.Lacks, tt.lacks) {
			t.Errorf("ReadTarget(%q, %q) = %+v, %v; want %s lacking %v", tt.config, tt.btf, got, err, tt.source, tt.lacks)
		}
	}
	if _, err := ReadTarget("", config); err == nil || !strings.HasPrefix(err.Error(), "file "+config+": ") {
		t.Errorf("ReadTarget(a config as BTF) = %v, want an error naming the file", err)
	}
}

// TestTargetDebian reads the real Debian 6.12 kernel: it has kprobes and
// BPF events but neither option hooks need, by its config and by its BTF.
func TestTargetDebian(t *testing.T) {
	dir := "/usr/src/linux-headers-6.12.117+deb12-amd64"
	if _, err := os.Stat(filepath.Join(dir, "vmlinux")); err != nil {
		testutil.Missing(t, "linux-headers-6.12.117+deb12-amd64 not installed (make install-deps)")
	}
	f, err := os.Open(filepath.Join(dir, ".config"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := ReadKernelConfig(f, ".config")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := btf.LoadSpec(filepath.Join(dir, "vmlinux"))
	if err != nil {
		t.Fatal(err)
	}
	fromBTF, err := TargetFromBTF(spec, "vmlinux")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"CONFIG_FUNCTION_ERROR_INJECTION", "CONFIG_BPF_KPROBE_OVERRIDE"}
	for _, got := range []*Target{cfg, fromBTF, cfg.Merge(fromBTF)} {
		if !cmp.Equal(got.Lacks, want) {
			t.Errorf("%s lacks %v, want %v", got.Source, got.Lacks, want)
		}
	}
}

// TestLoadBTFBound: raw BTF over maxBTF (a sparse file) is refused before
// the parser reads it, naming the file.
func TestLoadBTFBound(t *testing.T) {
	p := filepath.Join(t.TempDir(), "btf")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, maxBTF+1); err != nil {
		t.Fatal(err)
	}
	_, err := LoadBTF(p)
	if !errors.Is(err, safeio.ErrTooLarge) || !strings.Contains(err.Error(), p) {
		t.Errorf("LoadBTF(%d bytes) = %v, want %v naming the file", maxBTF+1, err, safeio.ErrTooLarge)
	}
}
