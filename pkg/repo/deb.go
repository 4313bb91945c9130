package repo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/xz"
)

const (
	// maxControlMember bounds the compressed control member of a deb: it
	// holds the control file, scripts and md5sums, kilobytes in practice.
	maxControlMember = 16 << 20
	// maxControlTar bounds the control tar once decompressed.
	maxControlTar = 64 << 20
	// maxControlFile bounds the control file itself: dpkg's own limit
	// for a field is far below this.
	maxControlFile = 1 << 20
	// maxMembers bounds how many ar members are looked at before the
	// control member must have appeared (dpkg puts it second).
	maxMembers = 16
	// zstdWindowMax caps the zstd window a control member may ask for.
	zstdWindowMax = 8 << 20
)

// field is one control field: its name and its value as written, the
// continuation lines (each starting with a space or tab) included.
type field struct {
	name, value string
}

// control is a deb's control file, fields in their order.
type control struct {
	fields []field
}

func (c *control) get(name string) string {
	for _, f := range c.fields {
		if strings.EqualFold(f.name, name) {
			return f.value
		}
	}
	return ""
}

// arHeader is the fixed 60-byte header of an ar member.
const arHeaderLen = 60

// readControl reads the control file of the deb in r (size bytes).
// Everything in it is untrusted: member sizes are checked against the
// file, decompression is bounded, and the control file is parsed strictly.
func readControl(r io.ReaderAt, size int64) (*control, error) {
	magic := make([]byte, 8)
	if _, err := r.ReadAt(magic, 0); err != nil || string(magic) != "!<arch>\n" {
		return nil, &FormatError{Msg: "not an ar archive"}
	}
	off := int64(8)
	sawBinary := false
	for i := 0; i < maxMembers; i++ {
		if off >= size {
			break
		}
		if size-off < arHeaderLen {
			return nil, &FormatError{Off: off, Msg: "truncated ar member header"}
		}
		h := make([]byte, arHeaderLen)
		if _, err := r.ReadAt(h, off); err != nil {
			return nil, &FormatError{Off: off, Msg: fmt.Sprintf("ar member header: %v", err)}
		}
		if string(h[58:60]) != "`\n" {
			return nil, &FormatError{Off: off, Msg: "bad ar member header"}
		}
		name := strings.TrimSuffix(strings.TrimRight(string(h[0:16]), " "), "/")
		n, err := strconv.ParseInt(strings.TrimRight(string(h[48:58]), " "), 10, 64)
		if err != nil || n < 0 {
			return nil, &FormatError{Off: off, Msg: fmt.Sprintf("ar member %q: bad size", name)}
		}
		data := off + arHeaderLen
		if n > size-data {
			return nil, &FormatError{Off: off, Msg: fmt.Sprintf("ar member %q: %d bytes past the end of the file", name, n-(size-data))}
		}
		switch {
		case i == 0:
			// dpkg requires debian-binary first, with format 2.x.
			if name != "debian-binary" {
				return nil, &FormatError{Off: off, Msg: fmt.Sprintf("first member is %q, want debian-binary", name)}
			}
			v := make([]byte, min(n, 16))
			if _, err := r.ReadAt(v, data); err != nil {
				return nil, &FormatError{Off: data, Msg: fmt.Sprintf("debian-binary: %v", err)}
			}
			if !bytes.HasPrefix(v, []byte("2.")) {
				return nil, &FormatError{Off: data, Msg: fmt.Sprintf("format %q, want 2.x", v)}
			}
			sawBinary = true
		case strings.HasPrefix(name, "control.tar"):
			if n > maxControlMember {
				return nil, &FormatError{Off: off, Msg: fmt.Sprintf("%s: %d bytes, the limit is %d", name, n, maxControlMember)}
			}
			b := make([]byte, n)
			if _, err := r.ReadAt(b, data); err != nil {
				return nil, &FormatError{Off: data, Msg: fmt.Sprintf("%s: %v", name, err)}
			}
			t, err := decompress(name, b)
			if err != nil {
				return nil, &FormatError{Off: data, Msg: fmt.Sprintf("%s: %v", name, err)}
			}
			cf, err := controlFromTar(t)
			if err != nil {
				return nil, &FormatError{Off: data, Msg: fmt.Sprintf("%s: %v", name, err)}
			}
			c, err := parseControl(cf)
			if err != nil {
				return nil, &FormatError{Msg: fmt.Sprintf("control file: %v", err)}
			}
			return c, nil
		}
		// Members are padded to an even offset.
		off = data + n + n%2
	}
	if !sawBinary {
		return nil, &FormatError{Msg: "no debian-binary member"}
	}
	return nil, &FormatError{Msg: "no control.tar member"}
}

func decompress(name string, b []byte) ([]byte, error) {
	switch strings.TrimPrefix(name, "control.tar") {
	case "":
		return b, nil
	case ".gz":
		z, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		return safeio.ReadAll(z, maxControlTar)
	case ".xz":
		return xz.Decode(nil, b, maxControlTar)
	case ".zst":
		z, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(zstdWindowMax), zstd.WithDecoderMaxMemory(maxControlTar))
		if err != nil {
			return nil, err
		}
		defer z.Close()
		return safeio.ReadAll(z, maxControlTar)
	}
	return nil, errors.New("unknown compression")
}

// controlFromTar returns the ./control entry of a control tar.
func controlFromTar(b []byte) ([]byte, error) {
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, errors.New("no control file")
		}
		if err != nil {
			return nil, err
		}
		if strings.TrimPrefix(h.Name, "./") != "control" {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return nil, errors.New("control is not a regular file")
		}
		return safeio.ReadAll(tr, maxControlFile)
	}
}

var (
	fieldName = regexp.MustCompile(`^[A-Za-z0-9][!-9;-~]*$`)
	// The values that become paths or are matched by apt must hold no
	// surprise: Debian policy's syntax for each.
	pkgName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	version = regexp.MustCompile(`^([0-9]+:)?[A-Za-z0-9][A-Za-z0-9.+~-]*$`)
	archRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
)

// ownFields are the fields the index writes from the file itself: a
// control file that carries one would forge its location or checksums.
var ownFields = []string{"Filename", "Size", "MD5sum", "SHA1", "SHA256", "SHA512", "Description-md5"}

// parseControl parses one control stanza strictly: field names once
// each, continuation lines only after a field, no blank line (which
// would end the stanza and let the rest forge another package), no
// control characters but the line structure.
func parseControl(b []byte) (*control, error) {
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return nil, errors.New("empty")
	}
	c := &control{}
	seen := map[string]bool{}
	for i, line := range strings.Split(s, "\n") {
		if err := checkLine(line); err != nil {
			return nil, fmt.Errorf("line %d: %v", i+1, err)
		}
		if line == "" || strings.TrimSpace(line) == "" {
			return nil, fmt.Errorf("line %d: blank line inside the stanza", i+1)
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(c.fields) == 0 {
				return nil, fmt.Errorf("line %d: continuation line before any field", i+1)
			}
			f := &c.fields[len(c.fields)-1]
			f.value += "\n" + line
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !fieldName.MatchString(name) {
			return nil, fmt.Errorf("line %d: not a field", i+1)
		}
		key := strings.ToLower(name)
		if seen[key] {
			return nil, fmt.Errorf("line %d: field %s given twice", i+1, name)
		}
		for _, o := range ownFields {
			if strings.EqualFold(o, name) {
				return nil, fmt.Errorf("line %d: field %s belongs to the index, not the package", i+1, name)
			}
		}
		seen[key] = true
		c.fields = append(c.fields, field{name: name, value: strings.TrimSpace(value)})
	}
	for _, want := range []struct {
		name string
		re   *regexp.Regexp
	}{{"Package", pkgName}, {"Version", version}, {"Architecture", archRe}} {
		v := c.get(want.name)
		if v == "" {
			return nil, fmt.Errorf("no %s field", want.name)
		}
		if !want.re.MatchString(v) {
			return nil, fmt.Errorf("%s %q: not valid", want.name, v)
		}
	}
	return c, nil
}

// checkLine refuses control characters (tabs allowed: they continue a
// field) and invalid UTF-8.
func checkLine(line string) error {
	if !utf8.ValidString(line) {
		return errors.New("invalid UTF-8")
	}
	for i, r := range line {
		if r != '\t' && unicode.IsControl(r) {
			return fmt.Errorf("control character %U at byte %d", r, i)
		}
	}
	return nil
}
