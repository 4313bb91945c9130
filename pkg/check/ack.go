package check

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/internal/yamlerr"
	"github.com/klpack/klpack/pkg/klp"
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

// MaxAckSize bounds an acknowledgements file. It is written by hand:
// a thousand entries are some 200 KiB, and the YAML decoder holds several
// times its input.
const MaxAckSize = 1 << 20

// ReadAcks reads a YAML or JSON file {"acks": [{rule, patch, function,
// reason}]}. A file that is not regular or is larger than MaxAckSize is
// refused before it is read.
func ReadAcks(path string) ([]Ack, error) {
	b, err := safeio.ReadFile(path, MaxAckSize)
	if err != nil {
		return nil, err
	}
	return ParseAcks(b, path)
}

// ParseAcks decodes an acknowledgements file, name being what errors call
// it. Every entry needs a known rule and a reason; unknown and repeated
// keys, a second document, a patch name the kernel would not give a
// module and control characters in the text are errors.
func ParseAcks(b []byte, name string) ([]Ack, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var af ackFile
	if err := dec.Decode(&af); err != nil {
		return nil, fmt.Errorf("file %s: %s", name, yamlerr.Decode(b, err))
	}
	// What follows a "---" would silently acknowledge nothing.
	var next yaml.Node
	if err := dec.Decode(&next); err != io.EOF {
		return nil, fmt.Errorf("file %s: a second YAML document (after ---): an acknowledgements file is one document", name)
	}
	for i, a := range af.Acks {
		at := fmt.Sprintf("file %s: acks[%d]", name, i)
		if _, ok := RuleByID(a.Rule); !ok {
			return nil, fmt.Errorf("%s.rule: unknown rule %s", at, strconv.Quote(a.Rule))
		}
		if a.Patch != "" {
			if err := klp.CheckModuleName(a.Patch); err != nil {
				return nil, fmt.Errorf("%s.patch: %w", at, err)
			}
		}
		for _, f := range []struct{ field, s string }{{"function", a.Function}, {"reason", a.Reason}} {
			if err := safetext.Check(f.s); err != nil {
				return nil, fmt.Errorf("%s.%s: %s: %w", at, f.field, strconv.Quote(f.s), err)
			}
		}
		if strings.TrimSpace(a.Reason) == "" {
			return nil, fmt.Errorf("%s.reason: an acknowledgement needs a reason", at)
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
