package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/pkg/pack"
)

// Signer signs repository indexes. Its zero value signs nothing (a
// --snapshot release).
type Signer struct {
	// Detached makes a binary detached OpenPGP signature: Release.gpg,
	// repomd.xml.asc and SHA256SUMS.asc (armored here).
	Detached pack.SignFunc
	// Clear makes a clearsigned copy of its input (InRelease); see
	// pack.OpenPGPClearSigner. A detached-signature command cannot make
	// one, so with Clear nil InRelease is not written and apt reads
	// Release with Release.gpg instead.
	Clear func(data []byte) ([]byte, error)
}

// safeName is the set of characters a file name in a repository may use:
// what Debian and rpm file names use. It keeps out spaces (which split
// SHA256SUMS and Release lines), backslashes (which sha256sum escapes),
// newlines and every other control character.
var safeName = regexp.MustCompile(`^[A-Za-z0-9_.+~:%@=,-]+$`)

// checkName refuses a relative slash path with a component outside
// safeName, or one that is "." or "..".
func checkName(name string) error {
	for _, c := range strings.Split(name, "/") {
		if c == "." || c == ".." || !safeName.MatchString(c) {
			return fmt.Errorf("%w: %s: only letters, digits and _.+~:%%@=,- may name a file here", ErrBadName, safetext.Quote(name))
		}
	}
	return nil
}

// findFiles walks sub inside root and returns the regular files whose
// names end in ext, sorted. Such a name that is no regular file (a
// symbolic link, a FIFO, a directory) or outside the safe set is an
// error naming it. Symbolic links to directories are not followed.
func findFiles(ctx context.Context, root *os.Root, sub, ext string) ([]string, error) {
	var out []string
	err := fs.WalkDir(root.FS(), sub, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == sub && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !strings.HasSuffix(d.Name(), ext) || p == sub {
			return nil
		}
		if err := checkName(p); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return &FormatError{Path: p, Msg: fmt.Sprintf("not a regular file (%v)", d.Type())}
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// writeFile writes data to name inside root through a temporary file
// and a rename, so a reader sees the old file or the new one.
func writeFile(root *os.Root, name string, data []byte) error {
	if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	tmp := path.Join(path.Dir(name), ".tmp-"+path.Base(name))
	if err := root.WriteFile(tmp, data, 0o644); err != nil {
		root.Remove(tmp)
		return err
	}
	if err := root.Rename(tmp, name); err != nil {
		root.Remove(tmp)
		return err
	}
	return nil
}

// removeStale removes name inside root when it is there: a signature
// left from an earlier run would sign an index that is no longer there.
func removeStale(root *os.Root, name string) error {
	if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// armoredDetached signs data with sign and armors the signature.
func armoredDetached(sign pack.SignFunc, data []byte) ([]byte, error) {
	sig, err := sign(bytes.NewReader(data))
	if err != nil {
		return nil, &pack.SignError{Err: err}
	}
	// The signer's own check (pack's signers verify) is repeated here
	// because any SignFunc may be passed in.
	bin, err := pack.VerifySignature(data, sig, nil)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.SignatureType, nil)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(bin); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}
