// Package strictjson checks a JSON document for what encoding/json lets
// through before it decodes it: a key repeated in an object (the last one
// wins), a key that differs from a field's name only in case (encoding/json
// takes it for that field, so it is a hidden repeat), null where the Go
// type has no null (encoding/json leaves the zero value), a number out of
// its field's range, nesting past encoding/json's own limit and data after
// the document. It checks the syntax with encoding/json's scanner, then
// walks the bytes: checking a large document holds no tree of it and
// allocates little beyond the keys it compares.
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
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
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
	w := &walker{data: data, fields: map[reflect.Type]*fields{}}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, &Error{Msg: "empty document"}
	}
	// A file that is no JSON at all (a module given where a document
	// is wanted) is said so, not as the scanner's "invalid character".
	if bytes.HasPrefix(trimmed, []byte("\x7fELF")) {
		return nil, &Error{Line: 1, Col: 1, Msg: "an ELF file, not a JSON document"}
	}
	if !json.Valid(data) {
		return nil, w.syntax()
	}
	w.space()
	if err := w.value(t, 0); err != nil {
		return nil, err
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

// walker walks a document the scanner has accepted: it need not check
// the grammar, only what the grammar allows and encoding/json takes.
type walker struct {
	data    []byte
	off     int // the next byte to read
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

// syntax locates the error of a document json.Valid refused.
func (w *walker) syntax() *Error {
	var se *json.SyntaxError
	err := json.Unmarshal(w.data, new(struct{}))
	if !errors.As(err, &se) {
		return &Error{Msg: fmt.Sprint(err)}
	}
	// Offset counts the bytes read, the bad one included.
	off := min(max(int(se.Offset)-1, 0), len(w.data))
	msg := strings.TrimPrefix(se.Error(), "json: ")
	switch {
	case off >= len(w.data) || strings.Contains(msg, "unexpected end"):
		off, msg = len(w.data), "unexpected end of document (truncated?)"
	case json.Valid(w.data[:off]):
		// What is before the bad byte is a whole document.
		msg = "data after the end of the document"
	}
	line, col := w.position(off)
	return &Error{Line: line, Col: col, Msg: msg}
}

// position turns a byte offset into a 1-based line and column.
func (w *walker) position(off int) (line, col int) {
	off = min(max(off, 0), len(w.data))
	before := w.data[:off]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = off - bytes.LastIndexByte(before, '\n')
	return line, col
}

// space skips whitespace.
func (w *walker) space() {
	for w.off < len(w.data) {
		switch w.data[w.off] {
		case ' ', '\t', '\n', '\r':
			w.off++
		default:
			return
		}
	}
}

// next skips whitespace, then one byte (a ',' or ':' or closing bracket
// the scanner has checked), then whitespace again.
func (w *walker) next() {
	w.space()
	w.off++
	w.space()
}

// str reads a string at w.off and returns its raw bytes, quotes included.
func (w *walker) str() []byte {
	start := w.off
	for w.off++; w.data[w.off] != '"'; w.off++ {
		if w.data[w.off] == '\\' {
			w.off++
		}
	}
	w.off++
	return w.data[start:w.off]
}

// decode returns the value of a raw string as encoding/json decodes it:
// escapes resolved, bytes that are no UTF-8 turned into U+FFFD (so that
// two keys that differ only there are the same key to it).
func decode(raw []byte) string {
	body := raw[1 : len(raw)-1]
	plain := true
	for _, c := range body {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return string(body)
	}
	var s string
	_ = json.Unmarshal(raw, &s) // the scanner accepted it
	return s
}

// value checks the value at w.off against t and moves past it; depth
// counts the arrays and objects it is in.
func (w *walker) value(t reflect.Type, depth int) error {
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
	switch c := w.data[w.off]; c {
	case '{', '[':
		if depth >= MaxDepth {
			return w.fail("arrays and objects nested deeper than %d", MaxDepth)
		}
		w.off++
		w.space()
		if c == '{' {
			return w.object(t, depth+1)
		}
		return w.array(t, depth+1)
	case 'n':
		w.off += len("null")
		if t != nil && !nullable {
			return w.fail("null where %s is required", article(kindName(t)))
		}
	case 't', 'f':
		b := c == 't'
		w.off += len("false")
		if b {
			w.off--
		}
		if t != nil && t.Kind() != reflect.Bool {
			return w.fail("want %s, got %t", kindName(t), b)
		}
	case '"':
		raw := w.str()
		if t != nil && t.Kind() != reflect.String {
			return w.fail("want %s, got string %s", kindName(t), strconv.Quote(decode(raw)))
		}
	default:
		start := w.off
		for w.off < len(w.data) && strings.IndexByte("+-.0123456789eE", w.data[w.off]) >= 0 {
			w.off++
		}
		return w.number(t, string(w.data[start:w.off]))
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

func (w *walker) number(t reflect.Type, n string) error {
	if t == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if _, err := strconv.ParseInt(n, 10, t.Bits()); err != nil {
			return w.fail("want integer in %d bits, got %s", t.Bits(), n)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if _, err := strconv.ParseUint(n, 10, t.Bits()); err != nil {
			return w.fail("want unsigned integer in %d bits, got %s", t.Bits(), n)
		}
	case reflect.Float32, reflect.Float64:
		if _, err := strconv.ParseFloat(n, t.Bits()); err != nil {
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
	for i := 0; w.data[w.off] != ']'; i++ {
		w.path[len(w.path)-1].index = i
		if err := w.value(elem, depth); err != nil {
			return err
		}
		w.space()
		if w.data[w.off] == ',' {
			w.next()
		}
	}
	w.path = w.path[:len(w.path)-1]
	w.off++ // ]
	return nil
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
	for w.data[w.off] != '}' {
		key := decode(w.str())
		w.next() // :
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
		w.space()
		if w.data[w.off] == ',' {
			w.next()
		}
	}
	w.path = w.path[:len(w.path)-1]
	w.off++ // }
	return nil
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
