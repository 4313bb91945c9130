package klp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"sync"
)

// WriteScanJSON writes the klpack.scan/v1 document for mods, indented by
// two spaces. Modules are encoded on all cores: on a distribution's module
// tree encoding costs as much as scanning.
func WriteScanJSON(w io.Writer, mods []*Module) error {
	enc := make([][]byte, len(mods))
	errs := make([]error, len(mods))
	var wg sync.WaitGroup
	workers := min(runtime.GOMAXPROCS(0), max(len(mods), 1))
	for k := range workers {
		wg.Go(func() {
			for i := k; i < len(mods); i += workers {
				enc[i], errs[i] = json.MarshalIndent(mods[i], "    ", "  ")
			}
		})
	}
	wg.Wait()
	var b bytes.Buffer
	b.WriteString("{\n  \"schema\": \"" + ScanSchema + "\",\n  \"modules\": [")
	for i, e := range enc {
		if errs[i] != nil {
			return errs[i]
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n    ")
		b.Write(e)
		if b.Len() > 1<<20 {
			if _, err := w.Write(b.Bytes()); err != nil {
				return err
			}
			b.Reset()
		}
	}
	if len(enc) > 0 {
		b.WriteString("\n  ")
	}
	b.WriteString("]\n}\n")
	_, err := w.Write(b.Bytes())
	return err
}

// ParseScan decodes a klpack.scan/v1 document. As every v1 reader, it
// ignores the fields it does not know (see the package doc).
func ParseScan(r io.Reader) (*Scan, error) {
	dec := json.NewDecoder(r)
	var s Scan
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("scan document: %w", err)
	}
	if s.Schema != ScanSchema {
		return nil, fmt.Errorf("scan document: schema %q, want %q", s.Schema, ScanSchema)
	}
	for i, m := range s.Modules {
		if m == nil || m.Name == "" {
			return nil, fmt.Errorf("scan document: modules[%d]: no name", i)
		}
	}
	return &s, nil
}
