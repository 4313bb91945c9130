package elfscan

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/pkg/klp"
)

// maxScanDoc bounds a klpack.scan/v1 document read as a record; a
// distribution's whole module tree scans to less.
const maxScanDoc = 256 << 20

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
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	b, err := safeio.ReadAll(f, maxScanDoc)
	if err != nil {
		return nil, err
	}
	return klp.ParseScan(bytes.NewReader(b))
}
