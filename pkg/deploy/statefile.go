package deploy

import (
	"github.com/klpack/klpack/pkg/klp"

	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/klpack/klpack/internal/atomicfile"
	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/internal/strictjson"
)

// MaxStateSize bounds a state document. A kernel holds tens of
// livepatches; a patch's record is 1 to 2 KiB of JSON (testdata's), so
// 10,000 patches of testdata's make 17.9 MiB. Reading holds the file and
// its records, about four times its size: a refused file at the limit
// peaks near 150 MiB.
const MaxStateSize = 32 << 20

// StateError is a state document that cannot be used: bad JSON, a field
// of the wrong type, or a value that breaks the rules of a deployed set.
type StateError struct {
	// Path names the file ("" for an unnamed reader).
	Path string
	// Field is the JSON path of the offending value, such as
	// patches[2].load_order; "" when the error is about the whole document.
	Field string
	// Line and Col (1-based, bytes) locate a syntax error; 0 otherwise.
	Line, Col int
	Msg       string
	// Err is the cause when it is an error of its own (safeio's).
	Err error
}

// Error locates the error as strictjson does, after the file's name.
func (e *StateError) Error() string {
	loc := (&strictjson.Error{Field: e.Field, Line: e.Line, Col: e.Col, Msg: e.Msg}).Error()
	if e.Path == "" {
		return loc
	}
	return "file " + e.Path + ": " + loc
}

func (e *StateError) Unwrap() error { return e.Err }

// ReadState reads and validates the state file at path. A file that is
// not regular (a FIFO would block) or is larger than MaxStateSize is
// refused before it is read.
func ReadState(path string) (*State, error) {
	data, err := safeio.ReadFile(path, MaxStateSize)
	if nr, ok := errors.AsType[*safeio.NotRegularError](err); ok {
		return nil, &StateError{Path: path, Msg: strings.TrimPrefix(nr.Error(), path+": "), Err: err}
	}
	if errors.Is(err, safeio.ErrTooLarge) {
		return nil, &StateError{Path: path, Msg: fmt.Sprintf("larger than the %d MiB a state file may hold", MaxStateSize>>20), Err: err}
	}
	if err != nil {
		return nil, err
	}
	return DecodeState(data, path)
}

// ParseState reads a klpack.deployed/v1 document from r, name being what
// errors call it, as DecodeState does.
func ParseState(r io.Reader, name string) (*State, error) {
	return parseState(r, name, MaxStateSize)
}

func parseState(r io.Reader, name string, limit int64) (*State, error) {
	data, err := safeio.ReadAll(r, limit)
	if errors.Is(err, safeio.ErrTooLarge) {
		return nil, &StateError{Path: name, Msg: fmt.Sprintf("larger than the %d MiB a state file may hold", limit>>20), Err: err}
	}
	if err != nil {
		return nil, &StateError{Path: name, Msg: err.Error(), Err: err}
	}
	return DecodeState(data, name)
}

// DecodeState decodes a klpack.deployed/v1 document, name being what
// errors call it. Decoding is strict: what strictjson refuses (repeated
// keys, a key in another case than its field, wrong types, null where a
// value is required, trailing data) is an error, as is anything Validate
// refuses; unknown fields are listed in State.Ignored. Every error is a
// *StateError. The patches come back sorted by load order.
func DecodeState(data []byte, name string) (*State, error) {
	s, err := decodeState(data)
	if err != nil {
		err.Path = name
		return nil, err
	}
	return s, nil
}

func decodeState(data []byte) (*State, *StateError) {
	// The checks, with the JSON path of what is wrong, and the decoding
	// in one walk: a state file of 10,000 patches is 170 MB, and
	// encoding/json's own passes over it cost more than the checks.
	var s State
	unknown, err := strictjson.Decode(data, &s)
	if se, ok := errors.AsType[*strictjson.Error](err); ok {
		return nil, &StateError{Field: se.Field, Line: se.Line, Col: se.Col, Msg: se.Msg}
	}
	if err != nil {
		return nil, &StateError{Msg: err.Error()}
	}
	if err := validate(&s); err != nil {
		return nil, err
	}
	if s.Patches == nil {
		s.Patches = []*Patch{}
	}
	SortPatches(s.Patches)
	s.Ignored = unknown
	return &s, nil
}

// Validate checks the rules of a deployed set that JSON types cannot say.
// The error is a *StateError naming the field.
func (s *State) Validate() error {
	if err := validate(s); err != nil {
		return err
	}
	return nil
}

func validate(s *State) *StateError {
	bad := func(field, format string, args ...any) *StateError {
		return &StateError{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if s.Schema != StateSchema {
		return bad("schema", "got %q, want %q", s.Schema, StateSchema)
	}
	if strings.TrimSpace(s.Kernel.Release) == "" {
		return bad("kernel.release", "missing: the kernel release is required")
	}
	if err := safetext.Check(s.Kernel.Release); err != nil {
		return bad("kernel.release", "%s: %v", strconv.Quote(s.Kernel.Release), err)
	}
	if m := s.Kernel.Model; m != "" && !ValidModel(m) {
		return bad("kernel.model", "unknown model %q, want %s, %s or %s", s.Kernel.Model, ModelMainline, ModelHybrid, ModelReplaceSet)
	}
	if id := s.Kernel.BuildID; id != "" {
		if err := klp.CheckBuildID(id); err != nil {
			return bad("kernel.build_id", "%v", err)
		}
	}
	for i, m := range s.Kernel.Modules {
		if err := m.Validate(); err != nil {
			return bad(fmt.Sprintf("kernel.modules[%d]", i), "%v", err)
		}
	}
	names := make(map[string]int)
	orders := make(map[int]int)
	inTransition := -1
	for i, p := range s.Patches {
		at := fmt.Sprintf("patches[%d]", i)
		if p == nil {
			return bad(at, "null where a patch is required")
		}
		if p.Name == "" {
			return bad(at+".name", "missing: the module name is required")
		}
		if err := p.Module.Validate(); err != nil {
			fe, _ := errors.AsType[*klp.FieldError](err)
			return &StateError{Field: at + "." + fe.Field, Msg: fe.Err.Error()}
		}
		if j, ok := names[p.Name]; ok {
			return bad(at+".name", "duplicate module name %q (also patches[%d])", p.Name, j)
		}
		names[p.Name] = i
		if p.LoadOrder < 0 {
			return bad(at+".load_order", "negative load order %d", p.LoadOrder)
		}
		if j, ok := orders[p.LoadOrder]; ok {
			return bad(at+".load_order", "duplicate load order %d (also patches[%d])", p.LoadOrder, j)
		}
		orders[p.LoadOrder] = i
		if p.Layer != "" && !klp.ValidLayer(p.Layer) {
			return bad(at+".layer", "unknown layer %q, want %s or %s", p.Layer, klp.LayerCumulative, klp.LayerOffBand)
		}
		if p.Enabled && (!p.Livepatch || len(p.Patches) == 0) {
			return bad(at+".enabled", "module %s carries no livepatch, it cannot be enabled", p.Name)
		}
		if p.Transition != nil && *p.Transition {
			// The kernel runs one transition at a time (klp_transition_patch).
			if inTransition >= 0 {
				return bad(at+".transition", "patches[%d] is in transition too; the kernel runs one transition at a time", inTransition)
			}
			inTransition = i
		}
	}
	if s.Tracing != nil {
		if err := validateTracing(s.Tracing); err != nil {
			return err
		}
	}
	return validateTasks(s.Tasks)
}

// SortPatches sorts patches by load order, oldest first, keeping ties in
// their order.
func SortPatches(ps []*Patch) {
	slices.SortStableFunc(ps, func(a, b *Patch) int { return cmp.Compare(a.LoadOrder, b.LoadOrder) })
}

// EncodeState writes s as indented JSON, patches in load order, after
// checking it with Validate. The output depends only on s.
func EncodeState(w io.Writer, s *State) error {
	b, err := marshalState(s)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func marshalState(s *State) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	out := *s
	out.Patches = slices.Clone(s.Patches)
	if out.Patches == nil {
		out.Patches = []*Patch{}
	}
	SortPatches(out.Patches)
	b, err := json.MarshalIndent(&out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// WriteState writes s to path as EncodeState does, through a temporary
// file in the same directory renamed over path: readers see the old file
// or the new one, never a part. Nothing is written when s is not valid.
func WriteState(path string, s *State) error {
	b, err := marshalState(s)
	if err != nil {
		if se, ok := errors.AsType[*StateError](err); ok {
			se.Path = path
		}
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}
