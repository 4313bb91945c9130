package check

import (
	"encoding/json"
	"io"
	"strings"
)

// SARIFSchema is where the SARIF 2.1.0 schema the log follows lives.
const SARIFSchema = "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/main/sarif-2.1/schema/sarif-schema-2.1.0.json"

// SARIFLog is the part of SARIF 2.1.0 (OASIS) that klpack writes: one run,
// every rule in the driver, a result per finding. Written here rather
// than through a SARIF library, which would pull a JSON Schema validator
// into every binary that checks, host ones included.
type SARIFLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
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
	Locations           []sarifLocation    `json:"locations"`
	PartialFingerprints map[string]string  `json:"partialFingerprints"`
	Suppressions        []sarifSuppression `json:"suppressions,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation struct {
		ArtifactLocation struct {
			URI string `json:"uri"`
		} `json:"artifactLocation"`
	} `json:"physicalLocation"`
}

type sarifSuppression struct {
	Kind          string `json:"kind"`
	Justification string `json:"justification,omitempty"`
}

// SARIF builds a SARIF 2.1.0 log of the findings, with every rule in the
// tool's rule list and acknowledged findings as external suppressions.
func SARIF(r *Report, version string) *SARIFLog {
	run := sarifRun{
		Tool:    sarifTool{Driver: sarifDriver{Name: "klpack", Version: version, InformationURI: "https://github.com/klpack/klpack"}},
		Results: []sarifResult{},
	}
	index := make(map[string]int, len(Rules))
	for i, rule := range Rules {
		sr := sarifRule{ID: rule.ID, Name: rule.Name, ShortDescription: sarifMessage{rule.Name}, FullDescription: sarifMessage{rule.Why}}
		sr.DefaultConfiguration.Level = level(rule.Severity)
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sr)
		index[rule.ID] = i
	}
	for _, f := range r.Findings {
		res := sarifResult{
			RuleID: f.Rule, RuleIndex: index[f.Rule], Level: level(f.Severity), Message: sarifMessage{f.Message},
			PartialFingerprints: map[string]string{"klpack/v1": f.Rule + ":" + strings.Join(f.Patches, ",") + ":" + strings.Join(f.Functions, ",")},
		}
		var loc sarifLocation
		loc.PhysicalLocation.ArtifactLocation.URI = f.File
		if f.File == "" {
			loc.PhysicalLocation.ArtifactLocation.URI = "deployed-state"
		}
		res.Locations = []sarifLocation{loc}
		if f.Acknowledged {
			res.Suppressions = []sarifSuppression{{Kind: "external", Justification: f.AckReason}}
		}
		run.Results = append(run.Results, res)
	}
	return &SARIFLog{Schema: SARIFSchema, Version: "2.1.0", Runs: []sarifRun{run}}
}

// Write writes the log as indented JSON.
func (l *SARIFLog) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(l)
}
