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
	warnIgnored(stderr, path, st.Ignored)
	return st, nil
}

// warnIgnored tells stderr which fields of a state file were ignored.
func warnIgnored(stderr io.Writer, path string, ignored []string) {
	if len(ignored) == 0 {
		return
	}
	names := make([]string, len(ignored))
	for i, f := range ignored {
		// A key is the file's text: it reaches the terminal only as one
		// visible token.
		names[i] = safetext.Quote(f)
	}
	fmt.Fprintf(stderr, "klpack: file %s: ignoring fields this klpack does not know (a newer writer's, or a typo): %s\n", safetext.Quote(path), strings.Join(names, ", "))
}
