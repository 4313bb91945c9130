// Package strictjson checks a JSON document for what encoding/json lets
// through before it decodes it: a key repeated in an object (the last one
// wins), a key that differs from a field's name only in case (encoding/json
// takes it for that field, so it is a hidden repeat), null where the Go
// type has no null (encoding/json leaves the zero value), a number out of
// its field's range, nesting past encoding/json's own limit and data after
// the document. It walks the tokens, so that checking a large document
// holds no tree of it in memory.
//
// Every klpack reader of a JSON document calls Check on the bytes, then
// json.Unmarshal, which then cannot fail on anything Check let through
// except what it checks itself.
package strictjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// MaxDepth is how deeply arrays and objects may nest, as encoding/json
// allows; it also bounds the walk's recursion.
const MaxDepth = 10000

// Error is a document Check refuses.
type Error struct {
	// Field is the JSON path of the offending value, such as
	// patches[2].name or modinfo["alias"][0]; "" for the whole document.
	Field string
	// Line and Col (1-based, bytes) locate a syntax error; 0 otherwise,
	// the path locating the rest.
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	var b strings.Builder
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

// Check walks data, one JSON document, against t, the type json.Unmarshal
// will decode it into (nil: any value). It returns the JSON paths of the
// keys t has no field for, sorted: v1 readers ignore them but may say so.
// Every error is an *Error.
func Check(data []byte, t reflect.Type) (unknown []string, err error) {
	w := &walker{data: data, dec: json.NewDecoder(bytes.NewReader(data)), fields: map[reflect.Type]*fields{}}
	w.dec.UseNumber()
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &Error{Msg: "empty document"}
	}
	if err := w.value(t, 0); err != nil {
		return nil, err
	}
	if _, err := w.dec.Token(); err != io.EOF {
		line, col := w.position(int(w.dec.InputOffset()))
		return nil, &Error{Line: line, Col: col, Msg: "data after the end of the document"}
	}
	slices.Sort(w.unknown)
	return w.unknown, nil
}

// seg is one step of a JSON path: a key, or an array index when key is
// unset. Paths are kept as segments and turned into text only for an
// error or an unknown key, since most documents are valid.
type seg struct {
	key   string
	index int
	isKey bool
	inMap bool // the key of a map, printed ["key"]
}

type walker struct {
	data    []byte
	dec     *json.Decoder
	path    []seg
	fields  map[reflect.Type]*fields
	unknown []string
}

// fields are a struct's JSON names, embedded structs' included.
type fields struct {
	byName map[string]reflect.Type
	names  []string
}

func (w *walker) pathText() string {
	var b strings.Builder
	for _, s := range w.path {
		switch {
		case !s.isKey:
			fmt.Fprintf(&b, "[%d]", s.index)
		case s.inMap:
			fmt.Fprintf(&b, "[%s]", strconv.Quote(s.key))
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
		}
	}
	return b.String()
}

func (w *walker) fail(format string, args ...any) *Error {
	return &Error{Field: w.pathText(), Msg: fmt.Sprintf(format, args...)}
}

// syntax locates an error of the decoder.
func (w *walker) syntax(err error) *Error {
	off := len(w.data)
	msg := err.Error()
	if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
		msg = "unexpected end of document (truncated?)"
	} else if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		// The decoder counts a value's offset from where it started
		// reading it; a scan of the whole document counts from its
		// start. Offset counts the bytes read, the bad one included.
		if whole, ok := errors.AsType[*json.SyntaxError](json.Unmarshal(w.data, new(json.RawMessage))); ok {
			se = whole
		}
		off, msg = max(int(se.Offset)-1, 0), se.Error()
	}
	line, col := w.position(off)
	return &Error{Line: line, Col: col, Msg: strings.TrimPrefix(msg, "json: ")}
}

// position turns a byte offset into a 1-based line and column.
func (w *walker) position(off int) (line, col int) {
	off = min(max(off, 0), len(w.data))
	before := w.data[:off]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = off - bytes.LastIndexByte(before, '\n')
	return line, col
}

func (w *walker) token() (json.Token, error) {
	tok, err := w.dec.Token()
	if err != nil {
		return nil, w.syntax(err)
	}
	return tok, nil
}

// value checks the next value against t; depth counts the arrays and
// objects it is in.
func (w *walker) value(t reflect.Type, depth int) error {
	tok, err := w.token()
	if err != nil {
		return err
	}
	if t != nil && decodesItself(t) {
		// Its UnmarshalJSON checks the value; the walk still checks
		// the keys within.
		t = nil
	}
	nullable := false
	for t != nil && t.Kind() == reflect.Pointer {
		t, nullable = t.Elem(), true
	}
	if t != nil {
		switch t.Kind() {
		case reflect.Interface:
			t, nullable = nil, true
		case reflect.Slice, reflect.Map:
			nullable = true
		}
	}
	switch tok := tok.(type) {
	case json.Delim:
		if depth >= MaxDepth {
			return w.fail("arrays and objects nested deeper than %d", MaxDepth)
		}
		if tok == '{' {
			return w.object(t, depth+1)
		}
		return w.array(t, depth+1)
	case nil:
		if t != nil && !nullable {
			return w.fail("null where %s is required", article(kindName(t)))
		}
		return nil
	case string:
		if t != nil && t.Kind() != reflect.String {
			return w.fail("want %s, got string %s", kindName(t), strconv.Quote(tok))
		}
	case bool:
		if t != nil && t.Kind() != reflect.Bool {
			return w.fail("want %s, got %t", kindName(t), tok)
		}
	case json.Number:
		return w.number(t, tok)
	}
	return nil
}

var (
	unmarshaler     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// decodesItself reports whether encoding/json hands t's values to t's
// own method.
func decodesItself(t reflect.Type) bool {
	for _, u := range []reflect.Type{unmarshaler, textUnmarshaler} {
		if t.Implements(u) || t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(u) {
			return true
		}
	}
	return false
}

func (w *walker) number(t reflect.Type, n json.Number) error {
	if t == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if _, err := strconv.ParseInt(n.String(), 10, t.Bits()); err != nil {
			return w.fail("want integer in %d bits, got %s", t.Bits(), n)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if _, err := strconv.ParseUint(n.String(), 10, t.Bits()); err != nil {
			return w.fail("want unsigned integer in %d bits, got %s", t.Bits(), n)
		}
	case reflect.Float32, reflect.Float64:
		if _, err := strconv.ParseFloat(n.String(), t.Bits()); err != nil {
			return w.fail("want number in %d bits, got %s", t.Bits(), n)
		}
	default:
		return w.fail("want %s, got number %s", kindName(t), n)
	}
	return nil
}

func (w *walker) array(t reflect.Type, depth int) error {
	var elem reflect.Type
	if t != nil {
		if k := t.Kind(); k != reflect.Slice && k != reflect.Array {
			return w.fail("want %s, got array", kindName(t))
		}
		elem = t.Elem()
	}
	w.path = append(w.path, seg{})
	for i := 0; w.dec.More(); i++ {
		w.path[len(w.path)-1].index = i
		if err := w.value(elem, depth); err != nil {
			return err
		}
	}
	w.path = w.path[:len(w.path)-1]
	_, err := w.token() // ]
	return err
}

func (w *walker) object(t reflect.Type, depth int) error {
	var fs *fields
	var elem reflect.Type
	inMap := false
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fs = w.fieldsOf(t)
		case reflect.Map:
			elem, inMap = t.Elem(), true
		default:
			return w.fail("want %s, got object", kindName(t))
		}
	}
	seen := make(map[string]struct{})
	w.path = append(w.path, seg{isKey: true, inMap: inMap})
	for w.dec.More() {
		tok, err := w.token()
		if err != nil {
			return err
		}
		key, _ := tok.(string) // the decoder allows nothing else here
		w.path[len(w.path)-1].key = key
		if _, dup := seen[key]; dup {
			return w.fail("duplicate key %s (the first one would be lost)", strconv.Quote(key))
		}
		seen[key] = struct{}{}
		vt := elem
		if fs != nil {
			vt = fs.byName[key]
			if vt == nil {
				// encoding/json takes a key in another case for the
				// field: that is no field a newer writer added, it would
				// overwrite a known one.
				for _, name := range fs.names {
					if strings.EqualFold(key, name) {
						return w.fail("unknown field (the field is %s)", strconv.Quote(name))
					}
				}
				w.unknown = append(w.unknown, w.pathText())
			}
		}
		if err := w.value(vt, depth); err != nil {
			return err
		}
	}
	w.path = w.path[:len(w.path)-1]
	_, err := w.token() // }
	return err
}

func (w *walker) fieldsOf(t reflect.Type) *fields {
	if fs, ok := w.fields[t]; ok {
		return fs
	}
	fs := &fields{byName: map[string]reflect.Type{}}
	collect(t, fs)
	for name := range fs.byName {
		fs.names = append(fs.names, name)
	}
	slices.Sort(fs.names)
	w.fields[t] = fs
	return fs
}

// collect adds the JSON names of t's fields, as encoding/json sees them:
// an embedded struct's fields count as t's own unless t has one of that
// name.
func collect(t reflect.Type, fs *fields) {
	var embedded []reflect.Type
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
				embedded = append(embedded, et)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fs.byName[name] = f.Type
	}
	for _, et := range embedded {
		inner := &fields{byName: map[string]reflect.Type{}}
		collect(et, inner)
		for name, ft := range inner.byName {
			if _, ok := fs.byName[name]; !ok {
				fs.byName[name] = ft
			}
		}
	}
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	}
	return "number"
}

func article(kind string) string {
	switch kind {
	case "true or false":
		return kind
	case "object", "array", "integer":
		return "an " + kind
	}
	return "a " + kind
}
