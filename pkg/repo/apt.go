package repo

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/pkg/pack"
)

// AptOptions are the names and keys of an apt repository.
type AptOptions struct {
	// Suite is the distribution a sources line names (default "stable");
	// Codename defaults to Suite.
	Suite, Codename string
	// Component holds every package of the pool (default "main").
	Component string
	// Architectures get one binary-<arch> index each. By default they are
	// those of the debs; Architecture: all packages are listed in every
	// one, so a pool of only those needs this set.
	Architectures []string
	// Origin and Label name the repository in Release (default "klpack");
	// Description is optional.
	Origin, Label, Description string
	// Date is the Release date: the release's SOURCE_DATE_EPOCH, never
	// the clock, so that the same pool gives the same Release. apt refuses
	// a Release dated in the future. Required.
	Date time.Time
	// Sign signs Release (Release.gpg, and InRelease when Sign.Clear is
	// set). Unsigned repositories are for trials: apt refuses them.
	Sign Signer
}

// debFile is one indexed deb.
type debFile struct {
	name    string // relative to the repository root
	size    int64
	md5     string
	sha1    string
	sha256  string
	control *control
}

// pathPart is a name that becomes a path component in dists/.
var pathPart = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

func (o *AptOptions) defaults() error {
	if o.Suite == "" {
		o.Suite = "stable"
	}
	if o.Codename == "" {
		o.Codename = o.Suite
	}
	if o.Component == "" {
		o.Component = "main"
	}
	if o.Origin == "" {
		o.Origin = "klpack"
	}
	if o.Label == "" {
		o.Label = o.Origin
	}
	for _, v := range []struct{ what, v string }{{"suite", o.Suite}, {"codename", o.Codename}, {"component", o.Component}} {
		if !pathPart.MatchString(v.v) {
			return fmt.Errorf("%w: %s %s: letters, digits and ._+- only", ErrBadOptions, v.what, safetext.Quote(v.v))
		}
	}
	for _, a := range o.Architectures {
		if !archRe.MatchString(a) || a == "all" {
			return fmt.Errorf("%w: architecture %s", ErrBadOptions, safetext.Quote(a))
		}
	}
	for _, v := range []struct{ what, v string }{{"origin", o.Origin}, {"label", o.Label}, {"description", o.Description}} {
		if err := safetext.Check(v.v); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadOptions, v.what, err)
		}
		// A clearsigned text drops blanks at line ends: Release must
		// have none, or InRelease would carry other bytes.
		if strings.TrimSpace(v.v) != v.v {
			return fmt.Errorf("%w: %s %q: leading or trailing blanks", ErrBadOptions, v.what, v.v)
		}
	}
	if o.Date.IsZero() {
		return fmt.Errorf("%w: no date (set it from SOURCE_DATE_EPOCH)", ErrBadOptions)
	}
	return nil
}

// Apt indexes the debs under dir/pool (at any depth, earlier releases'
// included) as an apt repository: dists/<suite>/<component>/binary-<arch>/
// Packages and Packages.gz for each architecture, dists/<suite>/Release
// with their sizes and MD5 and SHA-256 sums, and, when o.Sign says,
// Release.gpg (armored detached) and InRelease (clearsigned). A signature
// file this run does not write is removed, so none is left over from an
// earlier Release. It returns the files written, relative to dir, in the
// order to publish them: indexes, Release, then signatures.
func Apt(ctx context.Context, dir string, o AptOptions) ([]string, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	names, err := findFiles(ctx, root, "pool", ".deb")
	if err != nil {
		return nil, fmt.Errorf("apt repository %s: %w", dir, err)
	}
	debs := make([]*debFile, 0, len(names))
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, err := readDeb(root, n)
		if err != nil {
			return nil, fmt.Errorf("apt repository %s: %w", dir, err)
		}
		debs = append(debs, d)
	}
	if err := checkDuplicates(debs); err != nil {
		return nil, fmt.Errorf("apt repository %s: %w", dir, err)
	}
	arches := o.Architectures
	if len(arches) == 0 {
		for _, d := range debs {
			if a := d.control.get("Architecture"); a != "all" && !slices.Contains(arches, a) {
				arches = append(arches, a)
			}
		}
		if len(arches) == 0 {
			return nil, fmt.Errorf("apt repository %s: %w: no package names an architecture (all are Architecture: all, or the pool is empty); set Architectures", dir, ErrBadOptions)
		}
	}
	arches = slices.Clone(arches)
	slices.Sort(arches)
	arches = slices.Compact(arches)

	suite := path.Join("dists", o.Suite)
	var written []string
	var sums []indexSum
	for _, arch := range arches {
		var b bytes.Buffer
		for _, d := range debs {
			if a := d.control.get("Architecture"); a == arch || a == "all" {
				writeStanza(&b, d)
			}
		}
		gz, err := gzipped(b.Bytes())
		if err != nil {
			return nil, err
		}
		rel := path.Join(o.Component, "binary-"+arch)
		for _, f := range []struct {
			name string
			data []byte
		}{{"Packages", b.Bytes()}, {"Packages.gz", gz}} {
			name := path.Join(rel, f.name)
			if err := writeFile(root, path.Join(suite, name), f.data); err != nil {
				return nil, fmt.Errorf("apt repository %s: %w", dir, err)
			}
			written = append(written, path.Join(suite, name))
			sums = append(sums, sumIndex(name, f.data))
		}
	}
	release := releaseFile(&o, arches, sums)
	if err := writeFile(root, path.Join(suite, "Release"), release); err != nil {
		return nil, fmt.Errorf("apt repository %s: %w", dir, err)
	}
	written = append(written, path.Join(suite, "Release"))
	sigs := []struct {
		name string
		make func() ([]byte, error)
	}{
		{"Release.gpg", func() ([]byte, error) {
			if o.Sign.Detached == nil {
				return nil, nil
			}
			return armoredDetached(o.Sign.Detached, release)
		}},
		{"InRelease", func() ([]byte, error) {
			if o.Sign.Clear == nil {
				return nil, nil
			}
			b, err := o.Sign.Clear(release)
			if err != nil {
				return nil, &pack.SignError{Err: err}
			}
			return b, nil
		}},
	}
	for _, s := range sigs {
		name := path.Join(suite, s.name)
		b, err := s.make()
		if err != nil {
			return nil, fmt.Errorf("apt repository %s: %s: %w", dir, name, err)
		}
		if b == nil {
			if err := removeStale(root, name); err != nil {
				return nil, fmt.Errorf("apt repository %s: %w", dir, err)
			}
			continue
		}
		if err := writeFile(root, name, b); err != nil {
			return nil, fmt.Errorf("apt repository %s: %w", dir, err)
		}
		written = append(written, name)
	}
	return written, nil
}

// readDeb hashes the deb at name and reads its control file.
func readDeb(root *os.Root, name string) (*debFile, error) {
	f, st, err := safeio.OpenIn(root, name)
	if err != nil {
		return nil, &FormatError{Path: name, Msg: err.Error()}
	}
	defer f.Close()
	c, err := readControl(f, st.Size())
	if err != nil {
		if fe, ok := err.(*FormatError); ok {
			fe.Path = name
			return nil, fe
		}
		return nil, &FormatError{Path: name, Msg: err.Error()}
	}
	hs := []hash.Hash{md5.New(), sha1.New(), sha256.New()}
	n, err := io.Copy(io.MultiWriter(hs[0], hs[1], hs[2]), io.NewSectionReader(f, 0, st.Size()))
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", name, err)
	}
	return &debFile{
		name: name, size: n, control: c,
		md5:    hex.EncodeToString(hs[0].Sum(nil)),
		sha1:   hex.EncodeToString(hs[1].Sum(nil)),
		sha256: hex.EncodeToString(hs[2].Sum(nil)),
	}, nil
}

// checkDuplicates refuses two files of one package, version and
// architecture: apt would pick one of them by the index's order.
// debs come sorted by file name; they leave sorted by package.
func checkDuplicates(debs []*debFile) error {
	key := func(d *debFile) string {
		return d.control.get("Package") + " " + d.control.get("Version") + " " + d.control.get("Architecture")
	}
	slices.SortStableFunc(debs, func(a, b *debFile) int { return strings.Compare(key(a), key(b)) })
	for i := 1; i < len(debs); i++ {
		if key(debs[i]) == key(debs[i-1]) {
			return &FormatError{Path: debs[i].name, Msg: fmt.Sprintf("package %s is also %s", key(debs[i]), debs[i-1].name)}
		}
	}
	return nil
}

// writeStanza writes d's control fields as the deb has them, then the
// fields apt checks the downloaded file with.
func writeStanza(b *bytes.Buffer, d *debFile) {
	for _, f := range d.control.fields {
		b.WriteString(f.name)
		b.WriteByte(':')
		if f.value != "" && !strings.HasPrefix(f.value, "\n") {
			b.WriteByte(' ')
		}
		b.WriteString(f.value)
		b.WriteByte('\n')
	}
	fmt.Fprintf(b, "Filename: %s\nSize: %d\nMD5sum: %s\nSHA1: %s\nSHA256: %s\n\n", d.name, d.size, d.md5, d.sha1, d.sha256)
}

// gzipped compresses data with no name or time in the header, so the
// same data gives the same bytes.
func gzipped(data []byte) ([]byte, error) {
	var b bytes.Buffer
	z, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := z.Write(data); err != nil {
		return nil, err
	}
	if err := z.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// indexSum is an index file as Release lists it.
type indexSum struct {
	name        string // relative to dists/<suite>
	size        int
	md5, sha256 string
}

func sumIndex(name string, data []byte) indexSum {
	m, s := md5.Sum(data), sha256.Sum256(data)
	return indexSum{name: name, size: len(data), md5: hex.EncodeToString(m[:]), sha256: hex.EncodeToString(s[:])}
}

// releaseFile writes the Release file. No line ends in a space: the
// clearsigned copy must carry the same bytes.
func releaseFile(o *AptOptions, arches []string, sums []indexSum) []byte {
	slices.SortFunc(sums, func(a, b indexSum) int { return strings.Compare(a.name, b.name) })
	var b bytes.Buffer
	fmt.Fprintf(&b, "Origin: %s\nLabel: %s\nSuite: %s\nCodename: %s\n", o.Origin, o.Label, o.Suite, o.Codename)
	fmt.Fprintf(&b, "Date: %s\n", o.Date.UTC().Format(time.RFC1123))
	fmt.Fprintf(&b, "Architectures: %s\nComponents: %s\n", strings.Join(arches, " "), o.Component)
	if o.Description != "" {
		fmt.Fprintf(&b, "Description: %s\n", o.Description)
	}
	b.WriteString("MD5Sum:\n")
	for _, s := range sums {
		fmt.Fprintf(&b, " %s %8d %s\n", s.md5, s.size, s.name)
	}
	b.WriteString("SHA256:\n")
	for _, s := range sums {
		fmt.Fprintf(&b, " %s %8d %s\n", s.sha256, s.size, s.name)
	}
	return b.Bytes()
}
