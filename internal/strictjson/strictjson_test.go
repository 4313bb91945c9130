package strictjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

type inner struct {
	Name  string   `json:"name"`
	Count uint8    `json:"count"`
	Tags  []string `json:"tags"`
}

type embedded struct {
	Path string `json:"path"`
}

// level decodes itself from a string.
type level int

func (l *level) UnmarshalJSON(b []byte) error {
	*l = level(len(b))
	return nil
}

type doc struct {
	embedded
	Level  level             `json:"level"`
	Schema string            `json:"schema"`
	Items  []*inner          `json:"items"`
	Meta   map[string][]int  `json:"meta"`
	Opt    *bool             `json:"opt,omitempty"`
	Any    any               `json:"any"`
	Skip   string            `json:"-"`
	Flag   bool              `json:"flag"`
	Ratio  float32           `json:"ratio"`
	ByName map[string]string `json:"by_name"`
}

func TestCheckGood(t *testing.T) {
	tests := []struct {
		name, doc string
		unknown   []string
	}{
		{"all fields", `{"path":"p","schema":"s","items":[{"name":"a","count":255,"tags":null},null],"meta":{"a":[1,-2]},"opt":null,"any":{"x":[1,{"y":null}]},"flag":true,"ratio":1.5e3,"by_name":{},"level":"high"}`, nil},
		{"unknown fields, sorted", `{"zz":{"a":[1]},"items":[{"name":"a","new":1}],"aa":null}`, []string{"aa", "items[0].new", "zz"}},
		{"same key in two objects", `{"items":[{"name":"a"},{"name":"a"}]}`, nil},
		{"map keys are no fields", `{"by_name":{"Schema":"x","schema":"y"}}`, nil},
		{"skipped field is unknown", `{"Skip":"x"}`, []string{"Skip"}},
		{"whitespace after", "{}\n\t ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unknown, err := Check([]byte(tt.doc), reflect.TypeFor[doc]())
			if err != nil {
				t.Fatalf("Check() = %v", err)
			}
			if !slices.Equal(unknown, tt.unknown) {
				t.Errorf("unknown = %q, want %q", unknown, tt.unknown)
			}
		})
	}
}

func TestCheckBad(t *testing.T) {
	tests := []struct {
		name, doc string
		typ       reflect.Type // nil: doc
		field     string
		line, col int
		msg       string
	}{
		{name: "duplicate key", doc: `{"schema":"a","schema":"b"}`, field: "schema", msg: `duplicate key "schema"`},
		{name: "an ELF file", doc: "\x7fELF\x02\x01\x01", line: 1, col: 1, msg: "an ELF file, not a JSON document"},
		{name: "duplicate nested", doc: `{"items":[{"name":"a"},{"name":"a","count":1,"name":"b"}]}`, field: "items[1].name", msg: `duplicate key "name"`},
		{name: "duplicate map key", doc: `{"meta":{"a":[],"a":[1]}}`, field: `meta["a"]`, msg: "duplicate key"},
		{name: "duplicate in unknown field", doc: `{"new":{"x":1,"x":2}}`, field: "new.x", msg: "duplicate key"},
		{name: "duplicate in any", doc: `{"any":[{"x":1,"x":2}]}`, field: "any[0].x", msg: "duplicate key"},
		{name: "duplicate embedded", doc: `{"path":"a","path":"b"}`, field: "path", msg: "duplicate key"},
		{name: "duplicate, escaped", doc: `{"schema":"a","sch\u0065ma":"b"}`, field: "schema", msg: "duplicate key"},
		{name: "duplicate after UTF-8 repair", doc: "{\"meta\":{\"a\xff\":[],\"a\xfe\":[1]}}", field: "meta[\"a\ufffd\"]", msg: "duplicate key"},
		{name: "duplicate, any type", doc: `[{"a":1,"b":{"a":2},"a":3}]`, typ: reflect.TypeFor[any](), field: "[0].a", msg: "duplicate key"},
		{name: "duplicate in a value that decodes itself", doc: `{"level":{"a":1,"a":2}}`, field: "level.a", msg: "duplicate key"},
		{name: "other case", doc: `{"Schema":"x"}`, field: "Schema", msg: `unknown field (the field is "schema")`},
		{name: "other case embedded", doc: `{"PATH":"x"}`, field: "PATH", msg: `the field is "path"`},
		{name: "kelvin sign folds to k", doc: `{"item\u212a":1}`, typ: reflect.TypeFor[struct {
			Itemk int `json:"itemk"`
		}](), field: "item\u212a", msg: `the field is "itemk"`},
		{name: "other case nested", doc: `{"items":[{"Name":"x"}]}`, field: "items[0].Name", msg: `the field is "name"`},
		{name: "null string", doc: `{"schema":null}`, field: "schema", msg: "null where a string is required"},
		{name: "null struct", doc: `{"items":[{"name":"a"}],"embedded":1,"x":[{"y":1}],"flag":null}`, field: "flag", msg: "null where true or false"},
		{name: "string for int", doc: `{"items":[{"count":"1"}]}`, field: "items[0].count", msg: `want integer, got string "1"`},
		{name: "int range", doc: `{"items":[{"count":256}]}`, field: "items[0].count", msg: "want unsigned integer in 8 bits, got 256"},
		{name: "fraction", doc: `{"items":[{"count":1.0}]}`, field: "items[0].count", msg: "want unsigned integer"},
		{name: "float range", doc: `{"ratio":1e39}`, field: "ratio", msg: "want number in 32 bits"},
		{name: "bool for string", doc: `{"schema":true}`, field: "schema", msg: "want string, got true"},
		{name: "number for string in map", doc: `{"by_name":{"k":1}}`, field: `by_name["k"]`, msg: "want string, got number 1"},
		{name: "object for array", doc: `{"items":{}}`, field: "items", msg: "want array, got object"},
		{name: "array for object", doc: `[]`, msg: "want object, got array"},
		{name: "empty", doc: " \n ", msg: "empty document"},
		{name: "truncated", doc: "{\n  \"schema\": \"s\",\n  \"items\": [", line: 3, col: 13, msg: "unexpected end"},
		{name: "syntax", doc: "{\n \"schema\": 'x'}", line: 2, col: 12, msg: "invalid character"},
		{name: "trailing data", doc: "{}\n{}", line: 2, col: 1, msg: "data after the end"},
		{name: "trailing garbage", doc: "{} x", line: 1, col: 4, msg: "data after the end"},
		{name: "too deep", doc: strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), typ: reflect.TypeFor[any](), line: 1, col: MaxDepth + 1, msg: "exceeded max depth"},
		{name: "deep enough", doc: strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth-1) + "}", typ: reflect.TypeFor[any](), line: 1, col: 2 * MaxDepth, msg: "invalid character '}'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ := tt.typ
			if typ == nil {
				typ = reflect.TypeFor[doc]()
			}
			_, err := Check([]byte(tt.doc), typ)
			e, ok := errors.AsType[*Error](err)
			if !ok {
				t.Fatalf("Check() = %v, want *Error", err)
			}
			if e.Field != tt.field || e.Line != tt.line || e.Col != tt.col || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("Check() = field %.40q at %d:%d: %q; want field %.40q at %d:%d: %q", e.Field, e.Line, e.Col, e.Msg, tt.field, tt.line, tt.col, tt.msg)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	for _, tt := range []struct {
		err  *Error
		want string
	}{
		{&Error{Field: "a[1].b", Msg: "duplicate key"}, "a[1].b: duplicate key"},
		{&Error{Line: 3, Col: 4, Msg: "invalid character"}, "line 3:4: invalid character"},
		{&Error{Msg: "empty document"}, "empty document"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// FuzzCheck: what Check accepts, encoding/json decodes without error (the
// checks leave it nothing to refuse); what it refuses is an *Error.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"path":"p","schema":"s","items":[{"name":"a","count":255,"tags":null},null],"meta":{"a":[1,-2]},"any":{"x":[1,{"y":null}]},"level":"x"}`))
	f.Add([]byte(`{"schema":"a","schema":"b"}`))
	f.Add([]byte(`{"Schema":"x","items":[{"count":256}]}`))
	f.Add([]byte("{\"meta\":{\"a\\u00e9\":[],\"a\xff\":[1e3]}} "))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Check(data, reflect.TypeFor[doc]())
		if err != nil {
			if _, ok := errors.AsType[*Error](err); !ok {
				t.Fatalf("Check() = %T %v, want *Error", err, err)
			}
			return
		}
		var d doc
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("Check accepted what json.Unmarshal refuses: %v", err)
		}
	})
}

// wide has a field of every shape Decode stores itself, and those it
// hands to json.Unmarshal (a self-decoding type, an interface, a map
// with integer keys).
type wide struct {
	doc
	Ptr     *inner           `json:"ptr"`
	PtrPtr  **string         `json:"ptrptr"`
	Flag    bool             `json:"flag"`
	Neg     int16            `json:"neg"`
	Big     uint64           `json:"big"`
	Ratio   float32          `json:"ratio"`
	Fixed   [2]int           `json:"fixed"`
	Inners  []inner          `json:"inners"`
	ByNum   map[int]string   `json:"by_num"`
	Nested  map[string]inner `json:"nested"`
	Levels  []level          `json:"levels"`
	Ignored string           `json:"-"`
}

// TestDecodeAsUnmarshal: whatever Check accepts, Decode stores exactly
// what json.Unmarshal stores from the same bytes, and returns the same
// unknown keys as Check; what Check refuses, Decode refuses with the same
// error.
func TestDecodeAsUnmarshal(t *testing.T) {
	for _, data := range []string{
		`{}`,
		`{"path":"p","schema":"s","items":[{"name":"a","count":255,"tags":null},null],"meta":{"a":[1,-2]},"any":{"x":[1,{"y":null}]},"level":"x"}`,
		`{"ptr":{"name":"n","tags":[]},"ptrptr":"s","flag":true,"neg":-3,"big":18446744073709551615,"ratio":1.5e2}`,
		`{"ptr":null,"ptrptr":null,"inners":null,"nested":null,"fixed":[7]}`,
		`{"fixed":[1,2],"inners":[{"name":"a"},{"count":3,"tags":["x","y"]},{}],"by_num":{"1":"a","-2":"b"}}`,
		`{"nested":{"k":{"name":"\u00e9\n\"q\""},"":{}},"levels":["a","bb",3],"unknown":{"deep":[1]},"items":[]}`,
		"{\"meta\":{\"a\\u00e9\":[],\"a\xff\":[1e3]},\"schema\":\"bad \xff utf8\"}",
		`{"items":[null,{"name":"x"},null],"any":null,"meta":{}}`,
		`{"neg":1e2}`,
		`{"schema":"a","schema":"b"}`,
		`{"Flag":true}`,
		`{"items":[{"count":256}]}`,
		`{"ptr":{"name":null}}`,
	} {
		var want wide
		wantUnknown, wantErr := Check([]byte(data), reflect.TypeFor[wide]())
		var got wide
		gotUnknown, err := Decode([]byte(data), &got)
		if wantErr != nil {
			if err == nil || err.Error() != wantErr.Error() {
				t.Errorf("%s: Decode error %v, want Check's %v", data, err, wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: Decode: %v", data, err)
			continue
		}
		if err := json.Unmarshal([]byte(data), &want); err != nil {
			t.Fatalf("%s: json.Unmarshal: %v", data, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\nDecode        %+v\njson.Unmarshal %+v", data, got, want)
		}
		if !slices.Equal(gotUnknown, wantUnknown) {
			t.Errorf("%s: unknown %q, want %q", data, gotUnknown, wantUnknown)
		}
	}
}

// TestDecodeRepeatedKeys: the repeat check that turns from a list into a
// set past maxLinearKeys keys still finds a repeat on either side.
func TestDecodeRepeatedKeys(t *testing.T) {
	for _, n := range []int{2, maxLinearKeys, maxLinearKeys + 1, 3 * maxLinearKeys} {
		for _, at := range []int{0, n - 1} {
			var b strings.Builder
			b.WriteString(`{"meta":{`)
			for i := range n {
				fmt.Fprintf(&b, `"k%d":[],`, i)
			}
			fmt.Fprintf(&b, `"k%d":[]}}`, at)
			var d doc
			_, err := Decode([]byte(b.String()), &d)
			want := fmt.Sprintf(`meta["k%d"]: duplicate key "k%d" (the first one would be lost)`, at, at)
			if err == nil || err.Error() != want {
				t.Errorf("%d keys, repeat of k%d: %v, want %s", n, at, err, want)
			}
			b.Reset()
		}
	}
	// Without the repeat every key is kept.
	var b strings.Builder
	b.WriteString(`{"meta":{`)
	for i := range 3 * maxLinearKeys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":[%d]`, i, i)
	}
	b.WriteString(`}}`)
	var d doc
	if _, err := Decode([]byte(b.String()), &d); err != nil || len(d.Meta) != 3*maxLinearKeys {
		t.Errorf("%d distinct keys: %v, %d kept", 3*maxLinearKeys, err, len(d.Meta))
	}
}

// FuzzDecode: Decode agrees with Check then json.Unmarshal on any input.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"path":"p","items":[{"name":"a","count":255,"tags":null},null],"meta":{"a":[1,-2]},"any":{"x":[1]},"level":"x","ptr":{"tags":[]},"fixed":[1],"by_num":{"3":"x"}}`))
	f.Add([]byte(`{"inners":[{},{"name":"\u00e9"}],"nested":{"a":{}},"ptrptr":"x","levels":[1,"a"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// What Check passes json.Unmarshal may still refuse where a
		// type decodes itself (an integer map key from ""): Decode then
		// refuses too.
		_, wantErr := Check(data, reflect.TypeFor[wide]())
		var want wide
		if wantErr == nil {
			wantErr = json.Unmarshal(data, &want)
		}
		var got wide
		_, err := Decode(data, &got)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("Decode error %v, Check then json.Unmarshal error %v", err, wantErr)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode %+v, json.Unmarshal %+v", got, want)
		}
	})
}
