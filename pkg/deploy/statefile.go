package deploy

import (
	"github.com/klpack/klpack/pkg/klp"

	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/klpack/klpack/internal/atomicfile"
	"github.com/klpack/klpack/internal/safeio"
)

// MaxStateSize bounds a state document. A deployed set holds tens of
// modules of a few KiB of JSON each; 256 MiB is far past any real one.
const MaxStateSize = 256 << 20

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
}

func (e *StateError) Error() string {
	var b strings.Builder
	if e.Path != "" {
		fmt.Fprintf(&b, "file %s: ", e.Path)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d:%d: ", e.Line, e.Col)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ReadState reads and validates the state file at path. It refuses a file
// larger than MaxStateSize before reading it.
func ReadState(path string) (*State, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &StateError{Path: path, Msg: "not a regular file"}
	}
	if st.Size() > MaxStateSize {
		return nil, &StateError{Path: path, Msg: fmt.Sprintf("%d bytes, larger than the %d MiB a state file may hold", st.Size(), MaxStateSize>>20)}
	}
	return ParseState(f, path)
}

// ParseState reads a klpack.deployed/v1 document from r, name being what
// errors call it. Decoding is strict: unknown fields, wrong types, null
// where a value is required and trailing data are errors, as is anything
// Validate refuses. Every error is a *StateError. The patches come back
// sorted by load order.
func ParseState(r io.Reader, name string) (*State, error) {
	return parseState(r, name, MaxStateSize)
}

func parseState(r io.Reader, name string, limit int64) (*State, error) {
	data, err := safeio.ReadAll(r, limit)
	if errors.Is(err, safeio.ErrTooLarge) {
		return nil, &StateError{Path: name, Msg: fmt.Sprintf("larger than the %d MiB a state file may hold", limit>>20)}
	}
	if err != nil {
		return nil, &StateError{Path: name, Msg: err.Error()}
	}
	s, serr := decodeState(data)
	if serr != nil {
		serr.Path = name
		return nil, serr
	}
	return s, nil
}

func decodeState(data []byte) (*State, *StateError) {
	// First pass: syntax, with positions, into a generic tree.
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, syntaxError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		off := int(dec.InputOffset())
		line, col := position(data, off)
		return nil, &StateError{Line: line, Col: col, Msg: "data after the end of the document"}
	}
	// Second pass: the shape of the tree against the Go types, so that
	// every unknown field and wrong type is named by its full path.
	unknown, serr := checkShape(tree, reflect.TypeFor[State](), "")
	if serr != nil {
		return nil, serr
	}
	// Third pass: the real decoding; the shape check has already refused
	// what it would refuse.
	var s State
	dec = json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&s); err != nil {
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

// syntaxError locates a decoding error of the first pass.
func syntaxError(data []byte, err error) *StateError {
	if len(bytes.TrimSpace(data)) == 0 {
		return &StateError{Msg: "empty document"}
	}
	off := len(data)
	msg := err.Error()
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		// Offset counts the bytes read, the bad one included.
		off = max(int(se.Offset)-1, 0)
		msg = se.Error()
	} else if errors.Is(err, io.ErrUnexpectedEOF) {
		msg = "unexpected end of document (truncated?)"
	}
	line, col := position(data, off)
	return &StateError{Line: line, Col: col, Msg: strings.TrimPrefix(msg, "json: ")}
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, off int) (line, col int) {
	off = min(max(off, 0), len(data))
	before := data[:off]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = off - bytes.LastIndexByte(before, '\n')
	return line, col
}

// checkShape checks a decoded JSON value against the Go type it will be
// decoded into, naming the first offending value by its JSON path. Object
// keys must match a field's JSON name exactly (encoding/json would also
// take other cases).
// The fields the Go types do not know are returned by path: a v1
// reader ignores them (see the package doc).
func checkShape(v any, t reflect.Type, path string) ([]string, *StateError) {
	c := shapeChecker{fields: map[reflect.Type]map[string]reflect.Type{}}
	if err := c.check(v, t); err != nil {
		err.Field = join(path, err.Field)
		return nil, err
	}
	var unknown []string
	for _, u := range c.unknown {
		unknown = append(unknown, join(path, u.Field))
	}
	slices.Sort(unknown)
	return unknown, nil
}

// shapeChecker walks a decoded tree against a Go type. Paths are built
// only for the error, on the way back up: state files of thousands of
// patches are mostly valid, and a path per value cost most of the parse.
type shapeChecker struct {
	fields map[reflect.Type]map[string]reflect.Type
	// unknown are the fields no Go type has, their paths built the same
	// way as an error's.
	unknown []*StateError
}

// under prefixes err's field path with seg (a key, or "[i]").
func under(err *StateError, seg string) *StateError {
	switch {
	case err.Field == "":
		err.Field = seg
	case strings.HasPrefix(err.Field, "["):
		err.Field = seg + err.Field
	default:
		err.Field = seg + "." + err.Field
	}
	return err
}

func (c *shapeChecker) check(v any, t reflect.Type) *StateError {
	bad := func(format string, args ...any) *StateError {
		return &StateError{Msg: fmt.Sprintf(format, args...)}
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		if v == nil {
			return nil
		}
	default:
		if v == nil {
			return bad("null where %s is required", kindName(t))
		}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return c.check(v, t.Elem())
	case reflect.Interface:
		return nil
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return bad("want object, got %s", jsonKind(v))
		}
		fields, ok := c.fields[t]
		if !ok {
			fields = jsonFields(t)
			c.fields[t] = fields
		}
		for k := range obj {
			if fields[k] != nil {
				continue
			}
			// encoding/json takes a key in another case for the field:
			// that is no field a newer writer added, it would change a
			// known one.
			for name := range fields {
				if strings.EqualFold(k, name) {
					return &StateError{Field: k, Msg: fmt.Sprintf("unknown field (the field is %q)", name)}
				}
			}
		}
		return c.keys(obj, func(k string) reflect.Type { return fields[k] }, func(k string) string { return k })
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			return bad("want array, got %s", jsonKind(v))
		}
		for i, e := range arr {
			mark := len(c.unknown)
			if err := c.check(e, t.Elem()); err != nil {
				return under(err, "["+strconv.Itoa(i)+"]")
			}
			for _, u := range c.unknown[mark:] {
				under(u, "["+strconv.Itoa(i)+"]")
			}
		}
		return nil
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return bad("want object, got %s", jsonKind(v))
		}
		return c.keys(obj, func(string) reflect.Type { return t.Elem() }, func(k string) string { return fmt.Sprintf("[%q]", k) })
	case reflect.String:
		if _, ok := v.(string); !ok {
			return bad("want string, got %s", jsonKind(v))
		}
		return nil
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return bad("want true or false, got %s", jsonKind(v))
		}
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			return bad("want integer, got %s", jsonKind(v))
		}
		if _, err := strconv.ParseInt(n.String(), 10, t.Bits()); err != nil {
			return bad("want integer in %d bits, got %s", t.Bits(), n)
		}
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			return bad("want integer, got %s", jsonKind(v))
		}
		if _, err := strconv.ParseUint(n.String(), 10, t.Bits()); err != nil {
			return bad("want unsigned integer in %d bits, got %s", t.Bits(), n)
		}
		return nil
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			return bad("want number, got %s", jsonKind(v))
		}
		return nil
	}
	return bad("cannot decode into %s", t)
}

// keys checks the values of a JSON object; typeOf is nil for an unknown
// key. The error reported is the first in key order, whatever order the
// map iterates in; sorting only happens when something is wrong.
func (c *shapeChecker) keys(obj map[string]any, typeOf func(string) reflect.Type, seg func(string) string) *StateError {
	one := func(k string) *StateError {
		ft := typeOf(k)
		if ft == nil {
			c.unknown = append(c.unknown, &StateError{Field: seg(k)})
			return nil
		}
		mark := len(c.unknown)
		if err := c.check(obj[k], ft); err != nil {
			return under(err, seg(k))
		}
		for _, u := range c.unknown[mark:] {
			under(u, seg(k))
		}
		return nil
	}
	mark := len(c.unknown)
	for k := range obj {
		if one(k) != nil {
			c.unknown = c.unknown[:mark]
			for _, k := range slices.Sorted(maps.Keys(obj)) {
				if err := one(k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// jsonFields maps the JSON names of a struct's fields, embedded structs
// included, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type)
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, v := range jsonFields(et) {
					if _, ok := out[k]; !ok {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	}
	return "a number"
}

func jsonKind(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string " + strconv.Quote(v)
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		return "number " + v.String()
	}
	return fmt.Sprintf("%T", v)
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
	if m := s.Kernel.Model; m != "" && !ValidModel(m) {
		return bad("kernel.model", "unknown model %q, want %s, %s or %s", s.Kernel.Model, ModelMainline, ModelHybrid, ModelReplaceSet)
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
		for k, kp := range p.Patches {
			if kp == nil {
				return bad(fmt.Sprintf("%s.patches[%d]", at, k), "null where a klp_patch is required")
			}
		}
		if p.Transition != nil && *p.Transition {
			// The kernel runs one transition at a time (klp_transition_patch).
			if inTransition >= 0 {
				return bad(at+".transition", "patches[%d] is in transition too; the kernel runs one transition at a time", inTransition)
			}
			inTransition = i
		}
	}
	return nil
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
