package check

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/klpack/klpack/internal/safeio"
)

// Ack acknowledges findings: they are still reported, but do not fail the
// run. Patch and Function narrow the match when set.
type Ack struct {
	Rule     string `yaml:"rule" json:"rule"`
	Patch    string `yaml:"patch" json:"patch,omitempty"`
	Function string `yaml:"function" json:"function,omitempty"`
	Reason   string `yaml:"reason" json:"reason"`
}

type ackFile struct {
	Acks []Ack `yaml:"acks"`
}

// ReadAcks reads a YAML or JSON file {"acks": [{rule, patch, function,
// reason}]}. Every entry needs a known rule and a reason.
func ReadAcks(path string) ([]Ack, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := safeio.ReadAll(f, 16<<20)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var af ackFile
	if err := dec.Decode(&af); err != nil {
		return nil, fmt.Errorf("file %s: %w", path, err)
	}
	for i, a := range af.Acks {
		if _, ok := RuleByID(a.Rule); !ok {
			return nil, fmt.Errorf("file %s: acks[%d].rule: unknown rule %q", path, i, a.Rule)
		}
		if a.Reason == "" {
			return nil, fmt.Errorf("file %s: acks[%d].reason: %w", path, i, errors.New("an acknowledgement needs a reason"))
		}
	}
	return af.Acks, nil
}

func applyAcks(fs []Finding, acks []Ack) {
	for i := range fs {
		f := &fs[i]
		for _, a := range acks {
			if a.Rule != f.Rule || a.Patch != "" && !slices.Contains(f.Patches, a.Patch) || a.Function != "" && !slices.Contains(f.Functions, a.Function) {
				continue
			}
			f.Acknowledged, f.AckReason = true, a.Reason
			break
		}
	}
}
