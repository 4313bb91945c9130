package repo

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/pkg/pack"
)

const (
	// createrepo is the standard tool that writes yum/dnf repodata, and
	// the Debian package that installs it.
	createrepo    = "createrepo_c"
	createrepoDeb = "createrepo-c"
	// maxRepomd bounds repomd.xml: a few kilobytes per metadata file.
	maxRepomd = 1 << 20
	// maxPrimaryHead bounds how much of primary.xml is read to find its
	// package count, which is an attribute of its first element.
	maxPrimaryHead = 64 << 10
	// maxToolOutput is how much of the tool's output a message keeps.
	maxToolOutput = 2000
)

// YumOptions are the settings of a dnf/yum repository.
type YumOptions struct {
	// Date is the repository's revision and the time in every timestamp
	// of its metadata: the release's SOURCE_DATE_EPOCH. Required.
	Date time.Time
	// Sign signs repodata/repomd.xml as repomd.xml.asc (armored
	// detached), which dnf checks with repo_gpgcheck=1.
	Sign pack.SignFunc
	// Createrepo is the createrepo_c program (default: createrepo_c on
	// $PATH).
	Createrepo string
}

// Yum makes dir, which holds .rpm files at any depth, a dnf/yum repository
// with the real createrepo_c: gzip-compressed repodata without sqlite
// databases (those are not reproducible and dnf does not need them), every
// timestamp set to o.Date, so the same rpms give the same repodata (the
// rpms' own mtimes, which primary.xml records, are set to o.Date too). Only
// the rpms found here are indexed (a list is passed to createrepo_c, so a
// symbolic link it would follow is never read), and the repodata must list
// every one of them. repodata/repomd.xml is then signed when o.Sign is set,
// and a stale repomd.xml.asc removed when not. It returns the files
// written, relative to dir: the metadata files, repomd.xml, then its
// signature.
func Yum(ctx context.Context, dir string, o YumOptions) ([]string, error) {
	if o.Date.IsZero() || o.Date.Unix() <= 0 {
		return nil, fmt.Errorf("%w: no date (set it from SOURCE_DATE_EPOCH)", ErrBadOptions)
	}
	tool := o.Createrepo
	if tool == "" {
		tool = createrepo
	}
	prog, err := exec.LookPath(tool)
	if err != nil {
		return nil, &ToolError{Tool: tool, Package: createrepoDeb}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	rpms, err := findFiles(ctx, root, ".", ".rpm")
	if err != nil {
		return nil, fmt.Errorf("yum repository %s: %w", dir, err)
	}
	for _, n := range rpms {
		if err := checkRPMLead(root, n); err != nil {
			return nil, fmt.Errorf("yum repository %s: %w", dir, err)
		}
		// createrepo_c records each file's mtime in primary.xml; copying
		// a package into a staging tree changes it. Setting it to the
		// release's date makes the repodata depend on the packages alone.
		if err := root.Chtimes(n, o.Date, o.Date); err != nil {
			return nil, fmt.Errorf("yum repository %s: %w", dir, err)
		}
	}
	if err := runCreaterepo(ctx, prog, dir, rpms, o.Date); err != nil {
		return nil, fmt.Errorf("yum repository %s: %w", dir, err)
	}
	repomd, err := safeio.ReadFileIn(root, "repodata/repomd.xml", maxRepomd)
	if err != nil {
		return nil, fmt.Errorf("yum repository %s: %w", dir, err)
	}
	written, primary, err := repomdFiles(repomd)
	if err != nil {
		return nil, fmt.Errorf("yum repository %s: repodata/repomd.xml: %w", dir, err)
	}
	n, err := primaryCount(root, primary)
	if err != nil {
		return nil, fmt.Errorf("yum repository %s: %s: %w", dir, primary, err)
	}
	if n != len(rpms) {
		return nil, fmt.Errorf("yum repository %s: %w: %s lists %d packages, the directory has %d", dir, ErrTool, primary, n, len(rpms))
	}
	written = append(written, "repodata/repomd.xml")
	const asc = "repodata/repomd.xml.asc"
	if o.Sign == nil {
		if err := removeStale(root, asc); err != nil {
			return nil, fmt.Errorf("yum repository %s: %w", dir, err)
		}
		return written, nil
	}
	sig, err := armoredDetached(o.Sign, repomd)
	if err != nil {
		return nil, fmt.Errorf("yum repository %s: %s: %w", dir, asc, err)
	}
	if err := writeFile(root, asc, sig); err != nil {
		return nil, fmt.Errorf("yum repository %s: %w", dir, err)
	}
	return append(written, asc), nil
}

// checkRPMLead refuses a file that does not start as an rpm does (the
// lead's magic, then a header's), naming it: createrepo_c only warns of
// such a file and leaves it out.
func checkRPMLead(root *os.Root, name string) error {
	f, _, err := safeio.OpenIn(root, name)
	if err != nil {
		return &FormatError{Path: name, Msg: err.Error()}
	}
	defer f.Close()
	b := make([]byte, 99)
	if _, err := io.ReadFull(f, b); err != nil {
		return &FormatError{Path: name, Msg: "truncated rpm lead"}
	}
	// The lead is 96 bytes; the signature header follows.
	if !bytes.Equal(b[:4], []byte{0xed, 0xab, 0xee, 0xdb}) || !bytes.Equal(b[96:99], []byte{0x8e, 0xad, 0xe8}) {
		return &FormatError{Path: name, Msg: "not an rpm package"}
	}
	return nil
}

// runCreaterepo runs createrepo_c over exactly rpms.
func runCreaterepo(ctx context.Context, prog, dir string, rpms []string, date time.Time) error {
	// The list lives in dir, beside what createrepo_c writes there
	// (.repodata/): nothing outside the repository, and a release's
	// staging tree holds both.
	list, err := os.CreateTemp(dir, ".klpack-pkglist-*")
	if err != nil {
		return err
	}
	defer os.Remove(list.Name())
	_, err = io.WriteString(list, strings.Join(rpms, "\n")+"\n")
	if cerr := list.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	args := []string{
		"--quiet",
		"--no-database",
		"--general-compress-type=gz",
		"--checksum=sha256",
		"--revision", strconv.FormatInt(date.Unix(), 10),
		"--set-timestamp-to-revision",
		"--pkglist", list.Name(),
		"--skip-symlinks",
		// One worker: the order packages are read in is then the list's.
		"--workers", "1",
		dir,
	}
	if len(rpms) == 0 {
		// An empty list reads as "no list": index nothing.
		args = slices.DeleteFunc(args, func(a string) bool { return a == "--pkglist" || a == list.Name() })
	}
	cmd := exec.CommandContext(ctx, prog, args...)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		msg := out.String()
		if len(msg) > maxToolOutput {
			msg = msg[:maxToolOutput] + "…"
		}
		return fmt.Errorf("%w: %s: %v: %s", ErrTool, createrepo, err, safetext.Escape(strings.TrimSpace(msg)))
	}
	return nil
}

// repomdFiles returns the metadata files repomd.xml lists, sorted, and
// the primary's.
func repomdFiles(b []byte) (files []string, primary string, err error) {
	var md struct {
		Data []struct {
			Type     string `xml:"type,attr"`
			Location struct {
				Href string `xml:"href,attr"`
			} `xml:"location"`
		} `xml:"data"`
	}
	if err := xml.Unmarshal(b, &md); err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrTool, err)
	}
	for _, d := range md.Data {
		h := d.Location.Href
		if !strings.HasPrefix(h, "repodata/") || checkName(h) != nil {
			return nil, "", fmt.Errorf("%w: metadata file %s outside repodata/", ErrTool, safetext.Quote(h))
		}
		files = append(files, h)
		if d.Type == "primary" {
			primary = h
		}
	}
	if primary == "" {
		return nil, "", fmt.Errorf("%w: no primary metadata", ErrTool)
	}
	slices.Sort(files)
	return files, primary, nil
}

// primaryCount reads the packages attribute of primary.xml's root.
func primaryCount(root *os.Root, name string) (int, error) {
	f, _, err := safeio.OpenIn(root, name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		z, err := gzip.NewReader(f)
		if err != nil {
			return 0, err
		}
		r = z
	}
	d := xml.NewDecoder(io.LimitReader(r, maxPrimaryHead))
	for {
		t, err := d.Token()
		if err != nil {
			return 0, fmt.Errorf("%w: no metadata element: %v", ErrTool, err)
		}
		if se, ok := t.(xml.StartElement); ok {
			for _, a := range se.Attr {
				if a.Name.Local == "packages" {
					n, err := strconv.Atoi(a.Value)
					if err != nil {
						return 0, fmt.Errorf("%w: packages=%q", ErrTool, a.Value)
					}
					return n, nil
				}
			}
			return 0, errors.New("no package count")
		}
	}
}
