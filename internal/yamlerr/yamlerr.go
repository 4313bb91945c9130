// Package yamlerr words yaml.v3's type errors for the author of the file:
// the line and what is wrong there, without the Go types the file is
// decoded into, which mean nothing to them.
package yamlerr

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// unmarshal matches "line 3: cannot unmarshal !!str `abc` into int".
var unmarshal = regexp.MustCompile("^(line [0-9]+: )cannot unmarshal !!([a-z]+)(?: `(.*)`)? into (.+)$")

// kinds names YAML's core tags as a file's author sees them.
var kinds = map[string]string{
	"seq": "a list", "map": "a mapping", "str": "a string", "int": "a number",
	"float": "a number", "bool": "true or false", "null": "null", "binary": "binary data", "timestamp": "a time",
}

// Decode words an error of a yaml.v3 Decoder's first Decode of data for
// the file's author: empty, an ELF file (a module given where a YAML
// file goes), a type error as Message says, else yaml.v3's syntax error
// without its "yaml: " prefix.
func Decode(data []byte, err error) string {
	if te, ok := errors.AsType[*yaml.TypeError](err); ok {
		return Message(te)
	}
	switch {
	case bytes.HasPrefix(data, []byte("\x7fELF")):
		return "an ELF file, not a YAML document"
	case errors.Is(err, io.EOF):
		// Nothing, or only blanks and comments.
		return "empty: no YAML document"
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// Message is the type error's lines joined by "; ", each worded for the
// file's author.
func Message(te *yaml.TypeError) string {
	msgs := make([]string, len(te.Errors))
	for i, e := range te.Errors {
		msgs[i] = message(e)
	}
	return strings.Join(msgs, "; ")
}

func message(e string) string {
	// "line 6: field outptu not found in type release.Config"
	if before, _, ok := strings.Cut(e, " not found in type "); ok {
		return before + " not found"
	}
	m := unmarshal.FindStringSubmatch(e)
	if m == nil {
		return e
	}
	got, ok := kinds[m[2]]
	if !ok {
		got = "a value"
	}
	if m[3] != "" {
		got += " (" + strconv.Quote(m[3]) + ")"
	}
	return m[1] + got + " where " + want(m[4]) + " belongs"
}

// want says what a Go type holds, as YAML.
func want(goType string) string {
	t := strings.TrimLeft(goType, "*")
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	}
	return "a mapping" // a struct
}
