package pack

import (
	"encoding/json"
	"io"
	"path/filepath"

	"github.com/klpack/klpack/internal/safeio"
)

// ResultSchema names the document klpack package --json prints.
const ResultSchema = "klpack.package-result/v1"

// Result is what a package build wrote, for tools.
type Result struct {
	Schema string `json:"schema"`
	// Output is the directory the files were written into, as given.
	Output string       `json:"output"`
	Files  []ResultFile `json:"files"`
}

// ResultFile is one file written: a package or a patch package's
// manifest, its path relative to the output directory.
type ResultFile struct {
	Format  string `json:"format"` // rpm, deb or manifest
	Package string `json:"package"`
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
}

// NewResult describes the artifacts Build wrote into outDir, hashing
// each file as it now is there.
func NewResult(outDir string, arts []Artifact) (*Result, error) {
	r := &Result{Schema: ResultSchema, Output: outDir, Files: []ResultFile{}}
	for _, a := range arts {
		rel, err := filepath.Rel(outDir, a.Path)
		if err != nil {
			return nil, err
		}
		sum, size, err := safeio.SHA256(a.Path)
		if err != nil {
			return nil, err
		}
		r.Files = append(r.Files, ResultFile{Format: a.Format, Package: a.Package, Path: filepath.ToSlash(rel), SHA256: sum, Size: size})
	}
	return r, nil
}

// WriteJSON writes the result as one indented JSON document.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
