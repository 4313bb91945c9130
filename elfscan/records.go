package elfscan

import (
	"errors"
	"os"
	"strings"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/pkg/klp"
)

// Records reads the module records paths name, in order: a path ending
// in .json is a klpack.scan/v1 document (all its modules), any other a
// module file, scanned with opts. Errors name the file.
func Records(paths []string, opts *Options) ([]*klp.Module, error) {
	var out []*klp.Module
	s := newScanner(opts)
	for _, p := range paths {
		if !strings.HasSuffix(p, ".json") {
			m, err := s.open(p)
			if err != nil {
				return nil, err
			}
			out = append(out, m)
			continue
		}
		doc, err := klp.ReadScan(p)
		if err != nil {
			return nil, err
		}
		out = append(out, doc.Modules...)
	}
	return out, nil
}

// openRegular opens path for reading and refuses anything but a regular
// file, reported as a FormatError.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	f, st, err := safeio.Open(path)
	if nr, ok := errors.AsType[*safeio.NotRegularError](err); ok {
		err = &FormatError{Msg: strings.TrimPrefix(nr.Error(), path+": ")}
	}
	return f, st, err
}
