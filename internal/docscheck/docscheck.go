// Package docscheck holds the check that a reference page in docs/
// documents every key of the document it describes, and no key the
// document lacks: the keys come from the Go type by reflection over its
// yaml or json struct tags, the page's from its key tables.
package docscheck

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Keys lists the key paths of the document t decodes, as tag ("yaml" or
// "json") names them: a nested mapping's keys as parent.key, the keys of
// a list's items as parent[].key. A mapping or list key is listed itself
// too. Fields tagged "-" are left out; embedded structs without a name
// (json) or marked ",inline" (yaml) add their keys to their parent's. The keys of a
// type in stop are not listed: another page documents them.
func Keys(t reflect.Type, tag string, stop ...reflect.Type) []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get(tag), ",")
			// encoding/json inlines an embedded struct without a name;
			// yaml.v3 only one marked ",inline", and skips unexported ones.
			jsonInline := tag == "json" && f.Anonymous && name == ""
			if name == "-" || !f.IsExported() && !jsonInline {
				continue
			}
			if jsonInline || tag == "yaml" && strings.Contains(","+opts+",", ",inline,") {
				walk(f.Type, prefix)
				continue
			}
			if name == "" {
				// Both decoders fall back to the field's name; yaml
				// lowercases it.
				name = f.Name
				if tag == "yaml" {
					name = strings.ToLower(name)
				}
			}
			key := prefix + name
			keys = append(keys, key)
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if slices.Contains(stop, ft) {
				continue
			}
			switch ft.Kind() {
			case reflect.Struct:
				walk(ft, key+".")
			case reflect.Slice, reflect.Array:
				et := ft.Elem()
				for et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct && !slices.Contains(stop, et) {
					walk(et, key+"[].")
				}
			}
		}
	}
	walk(t, "")
	slices.Sort(keys)
	return slices.Compact(keys)
}

// PageKeys lists the keys the section of a Markdown page documents: the
// first cell of each row of a table whose header's first cell is "key",
// written as `key`, between the heading "## section" and the next
// heading of level 2 or above. A row may document several keys in its
// first cell (`a`, `b`).
func PageKeys(page []byte, section string) ([]string, error) {
	var keys []string
	in, found, table, header := false, false, false, false
	sc := bufio.NewScanner(bytes.NewReader(page))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if h, ok := strings.CutPrefix(line, "## "); ok || line == "#" || strings.HasPrefix(line, "# ") {
			in = ok && strings.TrimSpace(h) == section
			found = found || in
			table = false
			continue
		}
		if !in {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			table, header = false, false
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		first := strings.TrimSpace(cells[0])
		switch {
		case !table && !header:
			// A table's first line is its header.
			header = true
			table = strings.EqualFold(first, "key")
			continue
		case strings.Trim(first, "-: ") == "":
			continue // the delimiter row
		case !table:
			continue
		}
		for part := range strings.SplitSeq(first, ",") {
			part = strings.TrimSpace(part)
			if len(part) < 3 || part[0] != '`' || part[len(part)-1] != '`' || strings.Count(part, "`") != 2 {
				return nil, fmt.Errorf("line %d: first cell %q: want `key` (or `key`, `key`)", n, first)
			}
			keys = append(keys, part[1:len(part)-1])
		}
	}
	if !found {
		return nil, fmt.Errorf("no section %q", section)
	}
	slices.Sort(keys)
	return keys, nil
}

// Diff compares the keys a type has with those a page documents:
// undocumented are in want only, unknown in documented only.
func Diff(want, documented []string) (undocumented, unknown []string) {
	for _, k := range want {
		if !slices.Contains(documented, k) {
			undocumented = append(undocumented, k)
		}
	}
	for _, k := range documented {
		if !slices.Contains(want, k) {
			unknown = append(unknown, k)
		}
	}
	return undocumented, unknown
}

// TB is the part of testing.TB Check uses.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Check fails t for every key of keys the section of the page at path
// does not document, and every key it documents that keys lack.
func Check(t TB, path, section string, keys []string) {
	t.Helper()
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v", err)
	}
	documented, err := PageKeys(page, section)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	undocumented, unknown := Diff(keys, documented)
	for _, k := range undocumented {
		t.Errorf("%s, section %q: key `%s` is not documented (a row | `%s` | ... in its key table)", path, section, k, k)
	}
	for _, k := range unknown {
		t.Errorf("%s, section %q: documents key `%s`, which the document does not have", path, section, k)
	}
	if len(keys) == 0 {
		t.Errorf("%s, section %q: the type has no keys: wrong type or tag?", path, section)
	}
}

// Blocks returns the fenced code blocks of language lang (```lang) in the
// section "## section" of a Markdown page, in page order.
func Blocks(page []byte, section, lang string) []string {
	var blocks []string
	var cur *strings.Builder
	in := false
	for line := range strings.SplitSeq(string(page), "\n") {
		t := strings.TrimSpace(line)
		switch {
		case cur != nil && t == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		case strings.HasPrefix(t, "## ") || strings.HasPrefix(t, "# "):
			in = strings.TrimSpace(strings.TrimPrefix(t, "## ")) == section
		case in && t == "```"+lang:
			cur = &strings.Builder{}
		}
	}
	return blocks
}

// YAMLKeys lists the key paths a YAML (or JSON) document uses, in Keys'
// form: parent.key, list[].key.
func YAMLKeys(data []byte) ([]string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	var keys []string
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, prefix)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				key := prefix + n.Content[i].Value
				keys = append(keys, key)
				walk(n.Content[i+1], key+".")
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, strings.TrimSuffix(prefix, ".")+"[].")
			}
		}
	}
	walk(&doc, "")
	slices.Sort(keys)
	return slices.Compact(keys), nil
}
