package check

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

// TestNotLivepatch: a candidate the rules cannot load (a plain module, a
// record without its klp_patch) is bad input naming its file, never a
// dereference of what is not there.
func TestNotLivepatch(t *testing.T) {
	good := lp{name: "lp_good", replace: true, funcs: []string{"a"}}.module()
	plain := &klp.Module{Path: "testdata/klp_user.ko", Name: "klp_user", Patches: []*klp.Patch{}}
	flagged := &klp.Module{Path: "flag.json", Name: "flag", Livepatch: true}
	nullPatch := &klp.Module{Path: "null.json", Name: "null", Livepatch: true, Patches: []*klp.Patch{nil}}
	// A crafted scan record: patches, but not marked a livepatch.
	unmarked := &klp.Module{Path: "unmarked.json", Name: "unmarked", Patches: []*klp.Patch{{}}}
	tests := []struct {
		name string
		in   *Input
		want string
	}{
		{"plain module", &Input{Candidates: []*klp.Module{plain}}, "file testdata/klp_user.ko: module klp_user is no livepatch"},
		{"after a livepatch", &Input{Candidates: []*klp.Module{good, plain}}, "file testdata/klp_user.ko: module klp_user is no livepatch"},
		{"livepatch without patches", &Input{Candidates: []*klp.Module{flagged}}, "file flag.json: module flag is no livepatch"},
		{"patches but no livepatch", &Input{Candidates: []*klp.Module{unmarked}}, "file unmarked.json: module unmarked is no livepatch"},
		{"null patch", &Input{Candidates: []*klp.Module{nullPatch}}, "file null.json: module null: patches[0] is null"},
		{"null candidate", &Input{Candidates: []*klp.Module{good, nil}}, "candidate 2: no module record"},
		{"null deployed patch", &Input{DeployedPath: "s.json", Deployed: &deploy.State{Kernel: deploy.Kernel{Release: "r"}, Patches: []*deploy.Patch{nil}}, Candidates: []*klp.Module{good}}, "file s.json: patches[0]: null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Check(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check() = %+v, %v; want an error with %q", rep, err, tt.want)
			}
		})
	}
	// A livepatch that patches nothing is the kernel's to refuse: a
	// finding, not an error.
	empty := &klp.Module{Path: "empty.ko", Name: "empty", Livepatch: true, Patches: []*klp.Patch{{}}}
	rep, err := Check(&Input{Candidates: []*klp.Module{empty}})
	if err != nil || !slices.ContainsFunc(rep.Findings, func(f Finding) bool { return f.Rule == RuleKernelRefuses && f.File == "empty.ko" }) {
		t.Errorf("Check(no functions) = %+v, %v; want %s on empty.ko", rep, err, RuleKernelRefuses)
	}
}

// TestWriteTextQuotes: names and reasons from outside reach the terminal
// as one visible token each, whatever they hold.
func TestWriteTextQuotes(t *testing.T) {
	rep := &Report{Release: "6.1\x1b[2J", KernelModel: "mainline", Findings: []Finding{{
		Rule: RuleDropsFunctions, Name: "drops", Severity: Warning, Message: "x\nerror KLP001 forged: y",
		Patches: []string{"a\x1b[31m", "b"}, Functions: []string{"vmlinux/f\n,1"}, Why: "w",
		Acknowledged: true, AckReason: "r\r",
	}}}
	var out bytes.Buffer
	if err := WriteText(&out, rep); err != nil {
		t.Fatal(err)
	}
	want := `kernel "6.1\x1b[2J", model mainline: 0 errors, 0 warnings, 0 infos, 1 acknowledged

warning ` + RuleDropsFunctions + ` drops: "x\nerror KLP001 forged: y" (acknowledged: "r\r")
  patches:   "a\x1b[31m", b
  functions: "vmlinux/f\n,1"
  why:       w
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("WriteText (-want +got):\n%s", diff)
	}
}

func TestParseAcksBad(t *testing.T) {
	const head = "acks:\n  - rule: KLP004\n"
	tests := []struct{ name, doc, want string }{
		{"duplicate key", head + "    reason: a\n    reason: b\n", `mapping key "reason" already defined`},
		{"duplicate key, JSON", `{"acks":[],"acks":[{"rule":"KLP004","reason":"x"}]}`, `mapping key "acks" already defined`},
		{"second document", head + "    reason: a\n---\nacks:\n  - rule: KLP001\n    reason: b\n", "a second YAML document"},
		{"unknown rule", "acks:\n  - rule: \"\\e[2J\"\n    reason: x\n", `acks[0].rule: unknown rule "\x1b[2J"`},
		{"patch name", head + "    patch: \"a\\nb\"\n    reason: x\n", `acks[0].patch: module name "a\nb"`},
		{"function with ESC", head + "    function: \"\\e[31m\"\n    reason: x\n", `acks[0].function: "\x1b[31m": control character`},
		{"reason with newline", head + "    reason: \"x\\nerror KLP001: forged\"\n", `acks[0].reason: "x\nerror KLP001: forged": control character`},
		{"no reason", head + "    reason: \"  \"\n", "acks[0].reason: an acknowledgement needs a reason"},
		{"unknown key", head + "    reason: x\n    until: never\n", "field until not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acks, err := ParseAcks([]byte(tt.doc), "ack.yaml")
			if err == nil || !strings.HasPrefix(err.Error(), "file ack.yaml: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseAcks() = %+v, %v; want an error naming ack.yaml with %q", acks, err, tt.want)
			}
		})
	}
}

// TestReadNotRegular: a FIFO where a file is expected would block the
// open and the read forever; each reader refuses it, and a file over its
// limit, before reading, naming the file.
func TestReadNotRegular(t *testing.T) {
	fifo, huge := testutil.HostileFiles(t, MaxSymbolsSize+1)
	readers := map[string]func(string) error{
		"ReadAcks":      func(p string) error { _, err := ReadAcks(p); return err },
		"ReadSymbols":   func(p string) error { _, err := ReadSymbols(p); return err },
		"ReadTraceable": func(p string) error { _, err := ReadTraceable(p); return err },
	}
	for name, read := range readers {
		for _, tt := range []struct{ path, want string }{
			{fifo, fifo + ": not a regular file (a FIFO)"},
			{"/dev/zero", "/dev/zero: not a regular file (a character device)"},
			{huge, huge + ": data exceeds limit"},
		} {
			if err := read(tt.path); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s(%s) = %v, want %q", name, tt.path, err, tt.want)
			}
		}
		if err := read(huge); !errors.Is(err, safeio.ErrTooLarge) {
			t.Errorf("%s(huge) = %v, want ErrTooLarge", name, err)
		}
	}
}

func TestParseSymbolsLimit(t *testing.T) {
	var b strings.Builder
	for i := range MaxSymbols + 1 {
		fmt.Fprintf(&b, "0 t s%d\n", i)
	}
	if _, err := ParseSymbols([]byte(b.String()), "k"); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("file k: line %d: more than %d symbols", MaxSymbols+1, MaxSymbols)) {
		t.Errorf("ParseSymbols(too many) = %v", err)
	}
}

// FuzzAckFile: an accepted file encodes to YAML that reads back the same,
// with only known rules and text that prints; a refused one names the
// file.
func FuzzAckFile(f *testing.F) {
	f.Add([]byte("acks:\n  - rule: KLP004\n    patch: cum_2\n    function: vmlinux/b,1\n    reason: b's fix was merged in 6.12.118\n"))
	f.Add([]byte(`{"acks":[{"rule":"KLP001","reason":"x"}]}`))
	f.Add([]byte("acks:\n  - rule: KLP004\n    reason: a\n---\nacks: []\n"))
	f.Add([]byte("acks:\n  - rule: KLP004\n    reason: a\n    reason: b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		acks, err := ParseAcks(data, "fuzz.yaml")
		if err != nil {
			if acks != nil || !strings.HasPrefix(err.Error(), "file fuzz.yaml: ") {
				t.Fatalf("ParseAcks() = %v, %v; want an error naming fuzz.yaml", acks, err)
			}
			return
		}
		for _, a := range acks {
			if _, ok := RuleByID(a.Rule); !ok || safetext.Check(a.Reason+a.Function+a.Patch) != nil {
				t.Fatalf("accepted %+v", a)
			}
		}
		out, err := yaml.Marshal(ackFile{Acks: acks})
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseAcks(out, "again.yaml")
		if err != nil {
			t.Fatalf("ParseAcks(Marshal(accepted)) = %v\n%s", err, out)
		}
		if diff := cmp.Diff(acks, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// FuzzSymbols: an accepted kallsyms file, written back one line per
// symbol, reads back the same table; a refused one names the file and
// the line at fault, or says it holds no symbol.
func FuzzSymbols(f *testing.F) {
	f.Add([]byte("ffffffff81000000 T _stext\nffffffff81000010 t c_next\nffffffff81000020 t c_next\nffffffffc0000000 t lp_f\t[lp_mod]\n"))
	f.Add([]byte("0 t a [m]\n\n  \n0 T b\n"))
	f.Add([]byte("zz T a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSymbols(data, "fuzz.syms")
		if err != nil {
			msg := err.Error()
			if s != nil || !strings.HasPrefix(msg, "file fuzz.syms: line ") && msg != "file fuzz.syms: empty: no symbol in it" {
				t.Fatalf("ParseSymbols() = %v, %v; want an error naming fuzz.syms and the line, or saying it is empty", s, err)
			}
			return
		}
		var out strings.Builder
		for on, n := range s.count {
			if !s.objects[on.object] {
				t.Fatalf("symbol %q of object %q, which is not listed", on.name, on.object)
			}
			for range n {
				fmt.Fprintf(&out, "0 t %s [%s]\n", on.name, on.object)
			}
		}
		again, err := ParseSymbols([]byte(out.String()), "again.syms")
		if err != nil {
			t.Fatalf("ParseSymbols(written back) = %v\n%s", err, out.String())
		}
		if diff := cmp.Diff(s, again, cmp.AllowUnexported(Symbols{})); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
