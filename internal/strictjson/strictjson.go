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
	return walk(data, t, reflect.Value{})
}

// Decode checks data as Check does against the type v points to and, in
// the same walk, stores the document in *v as json.Unmarshal would: one
// pass over the bytes after the syntax check, where Check then
// json.Unmarshal made three, and no reflection over field tags per value.
// Values of types that decode themselves (json.Unmarshaler,
// encoding.TextUnmarshaler) and interfaces are handed to json.Unmarshal.
// On error *v may hold part of the document.
func Decode(data []byte, v any) (unknown []string, err error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return nil, &Error{Msg: fmt.Sprintf("decode into %T: want a non-nil pointer", v)}
	}
	return walk(data, rv.Type().Elem(), rv.Elem())
}

// walk checks data against t and, when v is valid, stores it in v.
func walk(data []byte, t reflect.Type, v reflect.Value) (unknown []string, err error) {
	w := &walker{data: data, fields: map[reflect.Type]*fields{}, itself: map[reflect.Type]bool{}}
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
	if err := w.value(t, v, 0); err != nil {
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
	itself  map[reflect.Type]bool // decodesItself, asked once per type
	unknown []string
	keys    []string // the keys of the objects being walked, outer first
}

// fields are a struct's JSON names, embedded structs' included.
type fields struct {
	byName map[string]field
	names  []string
}

// field is one JSON name of a struct: its type and where it sits, as
// reflect.Value.FieldByIndex takes it.
type field struct {
	typ   reflect.Type
	index []int
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
// counts the arrays and objects it is in. When v is valid (of type t), the
// value is stored in it.
func (w *walker) value(t reflect.Type, v reflect.Value, depth int) error {
	if t != nil && w.decodesItself(t) {
		// Its UnmarshalJSON checks the value; the walk still checks
		// the keys within.
		return w.byUnmarshal(v, depth)
	}
	nullable := false
	for t != nil && t.Kind() == reflect.Pointer {
		if v.IsValid() {
			if w.data[w.off] == 'n' {
				// null leaves a nil pointer, as encoding/json does.
				v.SetZero()
				v = reflect.Value{}
			} else {
				if v.IsNil() {
					v.Set(reflect.New(t.Elem()))
				}
				v = v.Elem()
			}
		}
		t, nullable = t.Elem(), true
	}
	if t != nil {
		switch t.Kind() {
		case reflect.Interface:
			return w.byUnmarshal(v, depth)
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
			return w.object(t, v, depth+1)
		}
		return w.array(t, v, depth+1)
	case 'n':
		w.off += len("null")
		if t != nil && !nullable {
			return w.fail("null where %s is required", article(kindName(t)))
		}
		if v.IsValid() {
			v.SetZero()
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
		if v.IsValid() {
			v.SetBool(b)
		}
	case '"':
		raw := w.str()
		if t != nil && t.Kind() != reflect.String {
			return w.fail("want %s, got string %s", kindName(t), strconv.Quote(decode(raw)))
		}
		if v.IsValid() {
			v.SetString(decode(raw))
		}
	default:
		start := w.off
		for w.off < len(w.data) && strings.IndexByte("+-.0123456789eE", w.data[w.off]) >= 0 {
			w.off++
		}
		return w.number(t, v, string(w.data[start:w.off]))
	}
	return nil
}

// byUnmarshal walks a value whose type decodes itself (or an interface)
// with no type, then hands its bytes to json.Unmarshal when v is valid.
func (w *walker) byUnmarshal(v reflect.Value, depth int) error {
	start := w.off
	if err := w.value(nil, reflect.Value{}, depth); err != nil {
		return err
	}
	if !v.IsValid() {
		return nil
	}
	if err := json.Unmarshal(w.data[start:w.off], v.Addr().Interface()); err != nil {
		return w.fail("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

var (
	unmarshaler     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// decodesItself reports whether encoding/json hands t's values to t's
// own method. Implements is slow and asked for every value: the answer is
// kept per type.
func (w *walker) decodesItself(t reflect.Type) bool {
	if b, ok := w.itself[t]; ok {
		return b
	}
	b := false
	for _, u := range []reflect.Type{unmarshaler, textUnmarshaler} {
		if t.Implements(u) || t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(u) {
			b = true
		}
	}
	w.itself[t] = b
	return b
}

func (w *walker) number(t reflect.Type, v reflect.Value, n string) error {
	if t == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(n, 10, t.Bits())
		if err != nil {
			return w.fail("want integer in %d bits, got %s", t.Bits(), n)
		}
		if v.IsValid() {
			v.SetInt(i)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(n, 10, t.Bits())
		if err != nil {
			return w.fail("want unsigned integer in %d bits, got %s", t.Bits(), n)
		}
		if v.IsValid() {
			v.SetUint(u)
		}
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(n, t.Bits())
		if err != nil {
			return w.fail("want number in %d bits, got %s", t.Bits(), n)
		}
		if v.IsValid() {
			v.SetFloat(f)
		}
	default:
		return w.fail("want %s, got number %s", kindName(t), n)
	}
	return nil
}

func (w *walker) array(t reflect.Type, v reflect.Value, depth int) error {
	var elem reflect.Type
	if t != nil {
		if k := t.Kind(); k != reflect.Slice && k != reflect.Array {
			return w.fail("want %s, got array", kindName(t))
		}
		elem = t.Elem()
	}
	isSlice := v.IsValid() && t.Kind() == reflect.Slice
	if isSlice {
		// encoding/json: [] is an empty slice, not nil.
		v.Set(reflect.MakeSlice(t, 0, 0))
	}
	w.path = append(w.path, seg{})
	i := 0
	for ; w.data[w.off] != ']'; i++ {
		w.path[len(w.path)-1].index = i
		var ev reflect.Value
		switch {
		case isSlice:
			if i == v.Cap() {
				v.Grow(max(4, i))
			}
			v.SetLen(i + 1)
			ev = v.Index(i)
			ev.SetZero()
		case v.IsValid() && i < v.Len():
			ev = v.Index(i)
		}
		if err := w.value(elem, ev, depth); err != nil {
			return err
		}
		w.space()
		if w.data[w.off] == ',' {
			w.next()
		}
	}
	if v.IsValid() && !isSlice {
		// A Go array longer than the JSON one keeps zeros.
		for j := i; j < v.Len(); j++ {
			v.Index(j).SetZero()
		}
	}
	w.path = w.path[:len(w.path)-1]
	w.off++ // ]
	return nil
}

// maxLinearKeys is how many keys an object's repeat check compares one by
// one before it builds a set: most objects have a few keys, and a set per
// object cost more than the decoding.
const maxLinearKeys = 32

func (w *walker) object(t reflect.Type, v reflect.Value, depth int) error {
	var fs *fields
	var elem reflect.Type
	inMap := false
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fs = w.fieldsOf(t)
		case reflect.Map:
			elem, inMap = t.Elem(), true
			if v.IsValid() && t.Key().Kind() != reflect.String {
				// Keys encoding/json converts (integers, text
				// unmarshalers) are its own business.
				return w.byUnmarshalObject(t, v, depth)
			}
		default:
			return w.fail("want %s, got object", kindName(t))
		}
	}
	if v.IsValid() && inMap && v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	first := len(w.keys)
	defer func() { w.keys = w.keys[:first] }()
	var seen map[string]struct{}
	w.path = append(w.path, seg{isKey: true, inMap: inMap})
	for w.data[w.off] != '}' {
		key := decode(w.str())
		w.next() // :
		w.path[len(w.path)-1].key = key
		dup := false
		if seen != nil {
			_, dup = seen[key]
			seen[key] = struct{}{}
		} else {
			dup = slices.Contains(w.keys[first:], key)
			w.keys = append(w.keys, key)
			if len(w.keys)-first > maxLinearKeys {
				seen = make(map[string]struct{}, 2*maxLinearKeys)
				for _, k := range w.keys[first:] {
					seen[k] = struct{}{}
				}
			}
		}
		if dup {
			return w.fail("duplicate key %s (the first one would be lost)", strconv.Quote(key))
		}
		vt := elem
		var fv reflect.Value
		if fs != nil {
			f, ok := fs.byName[key]
			vt = f.typ
			if !ok {
				// encoding/json takes a key in another case for the
				// field: that is no field a newer writer added, it would
				// overwrite a known one.
				for _, name := range fs.names {
					if strings.EqualFold(key, name) {
						return w.fail("unknown field (the field is %s)", strconv.Quote(name))
					}
				}
				w.unknown = append(w.unknown, w.pathText())
			} else if v.IsValid() {
				fv = fieldOf(v, f.index)
			}
		}
		if inMap && v.IsValid() {
			ev := reflect.New(elem).Elem()
			if err := w.value(vt, ev, depth); err != nil {
				return err
			}
			v.SetMapIndex(reflect.ValueOf(key).Convert(t.Key()), ev)
		} else if err := w.value(vt, fv, depth); err != nil {
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

// byUnmarshalObject walks the rest of an object (its { read) with no type
// and hands it whole to json.Unmarshal.
func (w *walker) byUnmarshalObject(t reflect.Type, v reflect.Value, depth int) error {
	start := w.off - 1
	for start > 0 && w.data[start] != '{' {
		start--
	}
	if err := w.object(nil, reflect.Value{}, depth); err != nil {
		return err
	}
	if err := json.Unmarshal(w.data[start:w.off], v.Addr().Interface()); err != nil {
		return w.fail("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// fieldOf is v's field at index, through embedded pointers, allocated
// when nil as encoding/json does.
func fieldOf(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

func (w *walker) fieldsOf(t reflect.Type) *fields {
	if fs, ok := w.fields[t]; ok {
		return fs
	}
	fs := &fields{byName: map[string]field{}}
	collect(t, nil, fs)
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
func collect(t reflect.Type, at []int, fs *fields) {
	type emb struct {
		t     reflect.Type
		index []int
	}
	var embedded []emb
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
				embedded = append(embedded, emb{et, append(slices.Clone(at), i)})
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fs.byName[name] = field{typ: f.Type, index: append(slices.Clone(at), i)}
	}
	for _, e := range embedded {
		inner := &fields{byName: map[string]field{}}
		collect(e.t, e.index, inner)
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
