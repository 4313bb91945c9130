package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/pkg/pack"
)

// Checksums writes dir/SHA256SUMS for files (relative to dir, slash
// separated), one "<sha256>  <name>" line each sorted by name, as
// `sha256sum -c` reads it, and dir/SHA256SUMS.asc, an armored detached
// signature of it, when sign is not nil (a stale one is removed when it
// is nil). Names outside the safe set (which sha256sum would escape) and
// anything but regular files are refused. It returns the files written,
// relative to dir.
func Checksums(ctx context.Context, dir string, files []string, sign pack.SignFunc) ([]string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	names := slices.Clone(files)
	slices.Sort(names)
	var b bytes.Buffer
	for i, n := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := checkName(n); err != nil {
			return nil, fmt.Errorf("checksums %s: %w", dir, err)
		}
		if i > 0 && names[i-1] == n {
			return nil, fmt.Errorf("checksums %s: %s given twice", dir, n)
		}
		sum, err := sha256File(root, n)
		if err != nil {
			return nil, fmt.Errorf("checksums %s: %w", dir, err)
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, n)
	}
	const sums, asc = "SHA256SUMS", "SHA256SUMS.asc"
	if err := writeFile(root, sums, b.Bytes()); err != nil {
		return nil, fmt.Errorf("checksums %s: %w", dir, err)
	}
	if sign == nil {
		if err := removeStale(root, asc); err != nil {
			return nil, fmt.Errorf("checksums %s: %w", dir, err)
		}
		return []string{sums}, nil
	}
	sig, err := armoredDetached(sign, b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("checksums %s: %s: %w", dir, asc, err)
	}
	if err := writeFile(root, asc, sig); err != nil {
		return nil, fmt.Errorf("checksums %s: %w", dir, err)
	}
	return []string{sums, asc}, nil
}

func sha256File(root *os.Root, name string) (string, error) {
	f, _, err := safeio.OpenIn(root, name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("file %s: %w", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
