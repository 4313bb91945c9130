package klp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"sync"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/internal/strictjson"
)

// WriteScanJSON writes the klpack.scan/v1 document for mods, indented by
// two spaces. Modules are encoded on all cores: on a distribution's module
// tree encoding costs as much as scanning.
func WriteScanJSON(w io.Writer, mods []*Module) error {
	return writeScanJSON(w, ScanSchema, mods)
}

// WriteScanJSONUnhashed writes mods, scanned without hashing, as the
// klpack.scan/v2 document. A record with a sha256 is an error: the
// document says no file was hashed.
func WriteScanJSONUnhashed(w io.Writer, mods []*Module) error {
	for _, m := range mods {
		if m.SHA256 != "" {
			return fmt.Errorf("module %s: has a sha256, a %s document holds none", safetext.Quote(m.Path), ScanSchemaUnhashed)
		}
	}
	return writeScanJSON(w, ScanSchemaUnhashed, mods)
}

func writeScanJSON(w io.Writer, schema string, mods []*Module) error {
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
	b.WriteString("{\n  \"schema\": \"" + schema + "\",\n  \"modules\": [")
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

// MaxScanSize bounds a klpack.scan/v1 document read back: the records of
// a release's candidates. A module's record is 1 to 2 KiB (testdata's 66
// modules: 1.9 KiB at most), so the limit holds some 20,000. Checking and
// decoding hold the document and its records, about four times its size.
const MaxScanSize = 32 << 20

// ReadScan reads the klpack.scan/v1 document at path. A file that is not
// regular or is larger than MaxScanSize is refused before it is read.
func ReadScan(path string) (*Scan, error) {
	data, err := safeio.ReadFile(path, MaxScanSize)
	if err != nil {
		return nil, err
	}
	return ParseScan(data, path)
}

// ParseScan decodes a klpack.scan/v1 or v2 (unhashed) document, name being what errors
// call it. As every v1 reader, it ignores the fields it does not know (see
// the package doc); it refuses what strictjson refuses (a repeated key,
// among others) and records that Module.Validate refuses.
func ParseScan(data []byte, name string) (*Scan, error) {
	if _, err := strictjson.Check(data, reflect.TypeFor[Scan]()); err != nil {
		return nil, fmt.Errorf("file %s: %w", name, err)
	}
	var s Scan
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("file %s: %w", name, err)
	}
	switch s.Schema {
	case ScanSchema:
	case ScanSchemaUnhashed:
		// The same records, none hashed.
		for i, m := range s.Modules {
			if m != nil && m.SHA256 != "" {
				return nil, fmt.Errorf("file %s: modules[%d].sha256: set in a %s document, which hashes no file", name, i, ScanSchemaUnhashed)
			}
		}
	default:
		return nil, fmt.Errorf("file %s: schema: %s, want %q or %q", name, safetext.Quote(s.Schema), ScanSchema, ScanSchemaUnhashed)
	}
	for i, m := range s.Modules {
		if m == nil {
			return nil, fmt.Errorf("file %s: modules[%d]: null where a module is required", name, i)
		}
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("file %s: modules[%d].%w", name, i, err)
		}
	}
	return &s, nil
}
