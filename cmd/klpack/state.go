package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/klpack/klpack/pkg/deploy"
)

// readState reads a state file and tells stderr which fields it ignored:
// a newer klpack's, or a typo in a hand-edited file.
func readState(stderr io.Writer, path string) (*deploy.State, error) {
	st, err := deploy.ReadState(path)
	if err != nil {
		return nil, err
	}
	if len(st.Ignored) > 0 {
		names := make([]string, len(st.Ignored))
		for i, f := range st.Ignored {
			// A key is the file's text: control characters or bytes
			// that are no UTF-8 reach the terminal only quoted.
			names[i] = f
			if strings.ContainsFunc(f, func(r rune) bool { return !unicode.IsPrint(r) }) {
				names[i] = strconv.Quote(f)
			}
		}
		fmt.Fprintf(stderr, "klpack: file %s: ignoring fields this klpack does not know (a newer writer's, or a typo): %s\n", path, strings.Join(names, ", "))
	}
	return st, nil
}
