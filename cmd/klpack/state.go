package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/klpack/klpack/internal/safetext"
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
			// A key is the file's text: it reaches the terminal only
			// as one visible token.
			names[i] = safetext.Quote(f)
		}
		fmt.Fprintf(stderr, "klpack: file %s: ignoring fields this klpack does not know (a newer writer's, or a typo): %s\n", safetext.Quote(path), strings.Join(names, ", "))
	}
	return st, nil
}
