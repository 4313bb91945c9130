package release

import (
	"encoding/json"
	"errors"
	"io"
	"path"
	"path/filepath"

	"github.com/klpack/klpack/internal/safeio"
)

// ResultSchema names the document klpack release --json prints.
const ResultSchema = "klpack.release-result/v1"

// What a stage did.
const (
	StageRan     = "ran"
	StageSkipped = "skipped"
	StageFailed  = "failed"
)

// Result is what a release run did, for tools: each stage, and the
// files it moved into the output directory.
type Result struct {
	Schema string `json:"schema"`
	// OK is true when every stage passed and the output directory holds
	// the release; false leaves it as it was.
	OK bool `json:"ok"`
	// Version and Kernel are the release's; empty when klpack.yaml could
	// not be read. Output is empty then too, unless --output named it.
	Version  string `json:"version"`
	Kernel   string `json:"kernel"`
	Output   string `json:"output"`
	Snapshot bool   `json:"snapshot"`
	// Stages are in the order they ran: scan, then Stages(); a failed
	// run ends with the stage that failed.
	Stages []StageResult `json:"stages"`
	// Files are those moved into the output directory, in the order
	// they were moved; none when the run failed.
	Files []ResultFile `json:"files"`
	// Fleet is the check against klpack.yaml's fleet: absent without
	// one, or when the run stopped before the check stage ran it.
	Fleet *FleetResult `json:"fleet,omitempty"`
}

// StageResult is what one stage did: ran (with the line it printed),
// skipped (with why) or failed (with the error).
type StageResult struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Summary string `json:"summary,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Error   string `json:"error,omitempty"`
}

// ResultFile is a file the release wrote, its path relative to the
// output directory with '/' separators.
type ResultFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Result describes a run that passed, hashing each file it committed.
func (run *Run) Result() (*Result, error) {
	res := &Result{
		Schema:   ResultSchema,
		OK:       true,
		Version:  run.Release.Config.Version,
		Kernel:   run.Release.Config.Kernel,
		Output:   run.Output,
		Snapshot: run.Opts.Snapshot,
		Stages:   run.Stages,
		Files:    []ResultFile{},
	}
	if run.Fleet != nil {
		res.Fleet = fleetResult(run.Release.Config.Fleet.Inventory, run.Fleet, run.Release.FailOn)
	}
	for _, rel := range run.Committed {
		sum, n, err := safeio.SHA256(filepath.Join(run.Output, filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		res.Files = append(res.Files, ResultFile{Path: path.Clean(filepath.ToSlash(rel)), SHA256: sum, Size: n})
	}
	return res, nil
}

// FailedResult describes a run that err (from Execute with o) stopped:
// the stages before, and the one that failed.
func FailedResult(err error, o Options) *Result {
	res := &Result{Schema: ResultSchema, Output: o.Output, Snapshot: o.Snapshot, Stages: []StageResult{}, Files: []ResultFile{}}
	se, ok := errors.AsType[*StageError](err)
	if err == nil {
		return res // not a failure: nothing to say
	}
	if !ok {
		res.Stages = append(res.Stages, StageResult{Name: "release", Status: StageFailed, Error: err.Error()})
		return res
	}
	res.Stages = se.Stages
	if r := se.Release; r != nil {
		res.Version, res.Kernel = r.Config.Version, r.Config.Kernel
		if se.Fleet != nil && r.Config.Fleet != nil {
			res.Fleet = fleetResult(r.Config.Fleet.Inventory, se.Fleet, r.FailOn)
		}
		if res.Output == "" {
			res.Output = r.OutputDir()
		}
	}
	return res
}

// WriteJSON writes the result as one indented JSON document.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
