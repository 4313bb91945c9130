package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SARIFSchema is where the SARIF 2.1.0 schema the log follows lives.
const SARIFSchema = "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/main/sarif-2.1/schema/sarif-schema-2.1.0.json"

// SARIFBaseID is the uriBaseId artifact URIs are relative to; the log's
// originalUriBaseIds says which directory it stood for.
const SARIFBaseID = "SRCROOT"

// SARIFOptions say how the log names its tool and locates its artifacts.
type SARIFOptions struct {
	// Version is klpack's version, the driver's.
	Version string
	// BaseDir is the absolute directory artifact URIs are relative to
	// (SARIFBaseID); a file outside it gets an absolute file: URI. Empty:
	// URIs are relative with no base declared.
	BaseDir string
	// Dir is the directory relative file names of findings are relative
	// to (the working directory they were given in); empty: BaseDir.
	Dir string
	// ReadFile reads a finding's file to locate the record in it: a
	// finding about a patch of a deployed state or scan document gets the
	// lines of that patch's record as its region. Nil: no regions.
	ReadFile func(path string) ([]byte, error)
	// Release is the klpack.yaml the candidates were declared in (check
	// -f), read with ReadFile: a result about a module it declares gets
	// the line of that declaration as a related location, the one place
	// in the repository with a line to show.
	Release string
}

// SARIFLog is the part of SARIF 2.1.0 (OASIS) that klpack writes: one run,
// every rule in the driver, a result per finding. Written here rather
// than through a SARIF library, which would pull a JSON Schema validator
// into every binary that checks, host ones included. Every optional
// property is omitted when empty: a consumer reads an empty array as a
// statement ("no locations"), not as padding. results stays, empty or
// not: the spec reads an empty results array as "ran and found nothing"
// and its absence as "did not run".
type SARIFLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool               sarifTool                `json:"tool"`
	OriginalURIBaseIDs map[string]sarifArtifact `json:"originalUriBaseIds,omitempty"`
	Results            []sarifResult            `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules,omitempty"`
}

type sarifRule struct {
	ID                   string       `json:"id"`
	Name                 string       `json:"name"`
	ShortDescription     sarifMessage `json:"shortDescription"`
	FullDescription      sarifMessage `json:"fullDescription"`
	DefaultConfiguration struct {
		Level string `json:"level"`
	} `json:"defaultConfiguration"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID              string             `json:"ruleId"`
	RuleIndex           int                `json:"ruleIndex"`
	Level               string             `json:"level"`
	Message             sarifMessage       `json:"message"`
	Locations           []sarifLocation    `json:"locations,omitempty"`
	RelatedLocations    []sarifLocation    `json:"relatedLocations,omitempty"`
	PartialFingerprints map[string]string  `json:"partialFingerprints,omitempty"`
	Suppressions        []sarifSuppression `json:"suppressions,omitempty"`
}

type sarifLocation struct {
	// ID names a related location; 0 (a result's own location) is left
	// out.
	ID               int               `json:"id,omitempty"`
	PhysicalLocation *sarifPhysical    `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogicalLoc `json:"logicalLocations,omitempty"`
	Message          *sarifMessage     `json:"message,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

// sarifRegion is a span of lines of a text artifact (1-based, inclusive).
type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
	EndLine     int `json:"endLine,omitempty"`
}

type sarifLogicalLoc struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

type sarifSuppression struct {
	Kind          string `json:"kind"`
	Justification string `json:"justification,omitempty"`
}

// SARIF builds a SARIF 2.1.0 log of the findings, with every rule in the
// tool's rule list and acknowledged findings as external suppressions.
//
// Where a finding is: its file (the candidate module or the deployed
// state) as an artifact relative to o.BaseDir, and its functions as
// logical locations (kind function, named as sysfs names them). A region
// is given only where it is true: in a text document (a deployed state, a
// scan document) the lines of the record of the patch the finding is
// about. A module file gets none: the scan record keeps no file offsets,
// kpatch-build and klp-build modules hold no klp_func in the file at all
// (their init code builds it), and a compressed module's offsets are not
// offsets of the artifact. With o.Release, the line of klpack.yaml that
// declares the module is a related location.
func SARIF(r *Report, o SARIFOptions) *SARIFLog {
	run := sarifRun{
		Tool:    sarifTool{Driver: sarifDriver{Name: "klpack", Version: o.Version, InformationURI: "https://github.com/klpack/klpack"}},
		Results: []sarifResult{},
	}
	base, dir := "", o.Dir
	if o.BaseDir != "" {
		base = filepath.Clean(o.BaseDir)
		run.OriginalURIBaseIDs = map[string]sarifArtifact{SARIFBaseID: {URI: fileURI(base, true)}}
		if dir == "" {
			dir = base
		}
	}
	index := make(map[string]int, len(Rules))
	for i, rule := range Rules {
		sr := sarifRule{ID: rule.ID, Name: rule.Name, ShortDescription: sarifMessage{rule.Name}, FullDescription: sarifMessage{rule.Why}}
		sr.DefaultConfiguration.Level = level(rule.Severity)
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sr)
		index[rule.ID] = i
	}
	regions := regionFinder{read: o.ReadFile, docs: map[string]map[string]sarifRegion{}}
	decls := declarations(o.ReadFile, o.Release)
	for _, f := range r.Findings {
		res := sarifResult{
			RuleID: f.Rule, RuleIndex: index[f.Rule], Level: level(f.Severity), Message: sarifMessage{f.Message},
			PartialFingerprints: map[string]string{"klpack/v1": f.Rule + ":" + strings.Join(f.Patches, ",") + ":" + strings.Join(f.Functions, ",")},
		}
		var loc sarifLocation
		if f.File != "" {
			loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: artifact(base, dir, f.File), Region: regions.find(f.File, f.Patches)}
		}
		for _, fn := range f.Functions {
			loc.LogicalLocations = append(loc.LogicalLocations, sarifLogicalLoc{Name: fn, Kind: "function"})
		}
		if loc.PhysicalLocation != nil || len(loc.LogicalLocations) > 0 {
			res.Locations = []sarifLocation{loc}
		}
		if d := decls.find(f.File); d != nil {
			res.RelatedLocations = []sarifLocation{{ID: 1, Message: &sarifMessage{"declared in " + filepath.Base(o.Release)},
				PhysicalLocation: &sarifPhysical{ArtifactLocation: artifact(base, dir, o.Release), Region: d}}}
		}
		if f.Acknowledged {
			res.Suppressions = []sarifSuppression{{Kind: "external", Justification: f.AckReason}}
		}
		run.Results = append(run.Results, res)
	}
	return &SARIFLog{Schema: SARIFSchema, Version: "2.1.0", Runs: []sarifRun{run}}
}

// artifact names file (relative to dir unless absolute) relative to base
// when it lies inside base, else by an absolute file: URI; relative URIs
// use forward slashes and percent-encode each segment.
func artifact(base, dir, file string) sarifArtifact {
	if base == "" {
		if filepath.IsAbs(file) {
			return sarifArtifact{URI: fileURI(file, false)}
		}
		return sarifArtifact{URI: relURI(filepath.Clean(file))}
	}
	abs := file
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(dir, file)
	}
	rel, err := filepath.Rel(base, abs)
	if err != nil || !filepath.IsLocal(rel) {
		return sarifArtifact{URI: fileURI(abs, false)}
	}
	return sarifArtifact{URI: relURI(rel), URIBaseID: SARIFBaseID}
}

// relURI is a relative reference: each segment percent-encoded, ':'
// included, so that a first segment cannot read as a scheme.
func relURI(rel string) string {
	segs := strings.Split(filepath.ToSlash(rel), "/")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(url.PathEscape(s), ":", "%3A")
	}
	return strings.Join(segs, "/")
}

// fileURI is the file: URI of an absolute path; a directory's ends in a
// slash, as SARIF requires of a base.
func fileURI(abs string, dir bool) string {
	p := (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
	if dir && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// regionFinder locates patch records in the text documents findings
// name, reading each document once.
type regionFinder struct {
	read func(string) ([]byte, error)
	// docs maps a file to the lines of each record in it, by name; nil
	// for a file that is no such document.
	docs map[string]map[string]sarifRegion
}

// find returns the lines of the record of the first of patches that file
// holds, or nil.
func (rf *regionFinder) find(file string, patches []string) *sarifRegion {
	if rf.read == nil {
		return nil
	}
	recs, ok := rf.docs[file]
	if !ok {
		if data, err := rf.read(file); err == nil {
			recs = records(data)
		}
		rf.docs[file] = recs
	}
	for _, p := range patches {
		if r, ok := recs[p]; ok {
			return &r
		}
	}
	return nil
}

// records maps each record of a klpack.deployed/v1 ("patches") or
// klpack.scan/v1 ("modules") document to its lines, by its name. A file
// that is not such a JSON document (a module, a broken file) has none.
func records(data []byte) map[string]sarifRegion {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	out := map[string]sarifRegion{}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil
		}
		if key != "patches" && key != "modules" {
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return nil
			}
			continue
		}
		if t, err := dec.Token(); err != nil || t != json.Delim('[') {
			return nil
		}
		for dec.More() {
			// InputOffset is just past the previous token: the record
			// starts at the first byte after it that is no space or comma.
			start := dec.InputOffset()
			var rec json.RawMessage
			if dec.Decode(&rec) != nil {
				return nil
			}
			end := dec.InputOffset()
			start += int64(len(data[start:end]) - len(bytes.TrimLeft(data[start:end], " \t\r\n,")))
			var named struct {
				Name string `json:"name"`
			}
			if json.Unmarshal(rec, &named) != nil || named.Name == "" {
				continue
			}
			if _, dup := out[named.Name]; !dup {
				out[named.Name] = sarifRegion{StartLine: line(data, start), EndLine: line(data, end-1)}
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil
		}
	}
	return out
}

// moduleDecls are the module paths (globs) of a klpack.yaml, relative to
// the working directory, with where each is declared.
type moduleDecls []struct {
	pattern string
	at      sarifRegion
}

// declarations reads the modules of klpack.yaml release, nil when there
// is none or it cannot be read: the check itself read it already, and a
// log without related locations is still a true log.
func declarations(read func(string) ([]byte, error), release string) moduleDecls {
	if read == nil || release == "" {
		return nil
	}
	data, err := read(release)
	if err != nil {
		return nil
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) != 1 {
		return nil
	}
	var out moduleDecls
	modules := mapValue(doc.Content[0], "modules")
	if modules == nil || modules.Kind != yaml.SequenceNode {
		return nil
	}
	for _, m := range modules.Content {
		p := mapValue(m, "path")
		if p == nil || p.Kind != yaml.ScalarNode {
			continue
		}
		out = append(out, struct {
			pattern string
			at      sarifRegion
		}{filepath.Join(filepath.Dir(release), p.Value), sarifRegion{StartLine: m.Line, StartColumn: m.Column}})
	}
	return out
}

// mapValue is the value of key in mapping n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// find returns where the module file is declared: the first entry whose
// path or glob matches it.
func (d moduleDecls) find(file string) *sarifRegion {
	if file == "" {
		return nil
	}
	file = filepath.Clean(file)
	for _, e := range d {
		if ok, _ := filepath.Match(e.pattern, file); ok {
			r := e.at
			return &r
		}
	}
	return nil
}

// line is the 1-based line of byte off.
func line(data []byte, off int64) int {
	return bytes.Count(data[:off], []byte{'\n'}) + 1
}

// Write writes the log as indented JSON.
func (l *SARIFLog) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(l); err != nil {
		return fmt.Errorf("sarif: %w", err)
	}
	return nil
}
