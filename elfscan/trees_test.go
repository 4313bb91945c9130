package elfscan

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/internal/testutil"
)

// treesDir is where scripts/fetch-trees.sh unpacked the Debian trees.
func treesDir() string {
	if d := os.Getenv("KLPACK_TREES"); d != "" {
		return d
	}
	return filepath.Join(testutil.CacheDir(), "trees")
}

// debianTrees are real distribution module trees (make trees) and how many
// modules each holds.
var debianTrees = []struct {
	dir   string
	count int
}{
	{"6.1", 4023}, // bookworm linux-image-6.1.0-56-amd64, signed .ko
	{"7.2", 4216}, // sid linux-modules-7.2.13+deb14-amd64, signed .ko.xz
}

// TestDebianTrees scans every module of two Debian kernels and checks each
// against modinfo: name, vermagic, signer, key id and hash algorithm agree,
// and none is called a livepatch.
func TestDebianTrees(t *testing.T) {
	modinfo := testutil.NeedTool(t, "modinfo")
	for _, tree := range debianTrees {
		t.Run(tree.dir, func(t *testing.T) {
			dir := filepath.Join(treesDir(), tree.dir)
			if _, err := os.Stat(dir); err != nil {
				testutil.Missing(t, "Debian module tree "+dir+" missing (make trees)")
			}
			files, err := Expand([]string{dir})
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != tree.count {
				t.Fatalf("%s holds %d modules, want %d", dir, len(files), tree.count)
			}
			want := runModinfo(t, modinfo, files)
			// A scan without hashing (sparse reads of the plain .ko, and
			// with a tail too short for a signature, the fallback to the
			// whole file) gives the same records less sha256.
			short := newScanner(&Options{NoHash: true})
			short.sparseTail = 64
			sparse := newScanner(&Options{NoHash: true})
			for _, r := range ScanFiles(context.Background(), files, nil, nil) {
				if r.Err != nil {
					t.Errorf("scan: %v", r.Err)
					continue
				}
				for _, s := range []*scanner{sparse, short} {
					u, err := s.open(r.Path)
					if err != nil {
						t.Errorf("scan without hashing (tail %d): %v", s.sparseTail, err)
						continue
					}
					w := *r.Module
					w.SHA256 = ""
					if diff := cmp.Diff(&w, u); diff != "" {
						t.Errorf("%s: scan without hashing (tail %d) differs (-hashed +not):\n%s", r.Path, s.sparseTail, diff)
					}
				}
				m, w := r.Module, want[r.Path]
				if w == nil {
					t.Errorf("%s: modinfo printed nothing", r.Path)
					continue
				}
				if m.Livepatch {
					t.Errorf("%s: called a livepatch", r.Path)
				}
				got := map[string]string{
					"name":     m.Name,
					"vermagic": strings.TrimSpace(m.Vermagic),
				}
				if m.Signature != nil {
					got["signer"], got["sig_key"], got["sig_hashalgo"], got["sig_id"] = m.Signature.Signer, m.Signature.KeyID, m.Signature.HashAlgo, m.Signature.IDType
				}
				for _, k := range []string{"name", "vermagic", "signer", "sig_key", "sig_hashalgo", "sig_id"} {
					if got[k] != w[k] {
						t.Errorf("%s: %s = %q, modinfo says %q", r.Path, k, got[k], w[k])
					}
				}
			}
		})
	}
}

// runModinfo runs modinfo over files in batches and returns, per file, the
// single-line fields it printed.
func runModinfo(t *testing.T, modinfo string, files []string) map[string]map[string]string {
	t.Helper()
	out := make(map[string]map[string]string, len(files))
	for len(files) > 0 {
		n := min(len(files), 500)
		var stdout bytes.Buffer
		cmd := exec.Command(modinfo, files[:n]...)
		cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("modinfo: %v", err)
		}
		var cur map[string]string
		sc := bufio.NewScanner(&stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if line == "" || line[0] == ' ' || line[0] == '\t' {
				continue // continuation of a multi-line signature
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			v = strings.TrimSpace(v)
			if k == "filename" {
				cur = map[string]string{}
				out[v] = cur
				continue
			}
			if cur != nil {
				if _, dup := cur[k]; !dup {
					cur[k] = v
				}
			}
		}
		files = files[n:]
	}
	return out
}
