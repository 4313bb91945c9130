package elfscan

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/pkg/klp"
)

// maxScanDoc bounds a klpack.scan/v1 document read as a record; a
// distribution's whole module tree scans to less.
const maxScanDoc = 64 << 20

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
		doc, err := readScanDoc(p)
		if err != nil {
			return nil, fmt.Errorf("file %s: %w", p, err)
		}
		out = append(out, doc.Modules...)
	}
	return out, nil
}

func readScanDoc(path string) (*klp.Scan, error) {
	f, _, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := safeio.ReadAll(f, maxScanDoc)
	if err != nil {
		return nil, err
	}
	return klp.ParseScan(bytes.NewReader(b))
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
