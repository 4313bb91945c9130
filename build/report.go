package build

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"path"

	"github.com/klpack/klpack/pkg/hookabi"
)

// ReportSchema names the document klpack hooks build --json prints.
const ReportSchema = "klpack.hooks-build/v1"

// Report is what a hooks build wrote, for tools: each hook's program and
// files, and what the target kernel lacks.
type Report struct {
	Schema string `json:"schema"`
	// Output is the directory the files were written into, as given.
	Output string `json:"output"`
	// Target is the kernel the hooks were checked against; null when
	// none was given.
	Target *ReportTarget `json:"target"`
	Hooks  []ReportHook  `json:"hooks"`
}

// ReportTarget is the target kernel and the options it lacks.
type ReportTarget struct {
	Source string   `json:"source"`
	Lacks  []string `json:"lacks"`
}

// ReportHook is one hook point's program.
type ReportHook struct {
	Module string `json:"module"`
	Func   string `json:"func"`
	// Errno is what the function returns on failure, which bounds what
	// the program may return; Source where the hook point was declared.
	Errno  string `json:"errno"`
	Source string `json:"source"`
	// Lacks is what the target (else the scan) says is missing for this
	// hook to override anything; empty when nothing is known missing.
	Lacks []string     `json:"lacks"`
	Files []ReportFile `json:"files"`
}

// ReportFile is a file written, its path relative to the output
// directory, with '/' separators.
type ReportFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// NewReport describes objs as Write writes them into dir, for target
// (nil: none given).
func NewReport(dir string, objs []*Object, target *hookabi.Target) *Report {
	r := &Report{Schema: ReportSchema, Output: dir, Hooks: []ReportHook{}}
	if target != nil {
		r.Target = &ReportTarget{Source: target.Source, Lacks: nonNil(target.Lacks)}
	}
	for _, o := range objs {
		base := path.Join(o.Module, o.Hook.Func)
		r.Hooks = append(r.Hooks, ReportHook{
			Module: o.Module,
			Func:   o.Hook.Func,
			Errno:  o.Hook.Errno,
			Source: o.Hook.Source,
			Lacks:  nonNil(o.Lacks),
			Files:  []ReportFile{reportFile(base+".bpf.c", o.Source), reportFile(base+".bpf.o", o.ELF)},
		})
	}
	return r
}

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func reportFile(name string, data []byte) ReportFile {
	sum := sha256.Sum256(data)
	return ReportFile{Path: name, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))}
}

// nonNil makes an empty list print as [], not null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
