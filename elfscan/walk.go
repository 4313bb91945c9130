package elfscan

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/klpack/klpack/pkg/klp"
)

// moduleSuffixes are the file names a directory walk picks up.
var moduleSuffixes = []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"}

// IsModuleName reports whether a file name looks like a kernel module.
func IsModuleName(name string) bool {
	for _, s := range moduleSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// Expand turns the paths a user gave into module files: files stay as
// given, directories are walked for module names in lexical order.
//
// Every entry with a module name that is not a directory is kept,
// whatever its type: a symbolic link is followed when scanned (as
// distributions' weak-updates links are meant to be), and what is no
// regular file once followed (a FIFO, a device, a link loop or a dangling
// link) is refused by the scan with an error naming it. Like find, the
// walk does not stop there and does not stay silent either: each such
// file is a failed Result, which scan reports and counts in its exit
// status and capture lists as skipped. Links to directories are not
// walked, so a loop of them cannot make the walk endless.
func Expand(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && IsModuleName(d.Name()) {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Result is the outcome of scanning one file.
type Result struct {
	Path   string
	Module *klp.Module
	Err    error
}

// ScanFiles scans files on all cores and returns one result per file, in
// the order given. progress, when set, is called after each file.
func ScanFiles(ctx context.Context, files []string, opts *Options, progress func()) []Result {
	out := make([]Result, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(files), 1)) {
		wg.Go(func() {
			s := newScanner(opts)
			for i := range next {
				out[i].Path = files[i]
				out[i].Module, out[i].Err = s.open(files[i])
				if progress != nil {
					progress()
				}
			}
		})
	}
feed:
	for i := range files {
		select {
		case next <- i:
		case <-ctx.Done():
			for j := i; j < len(files); j++ {
				out[j] = Result{Path: files[j], Err: fmt.Errorf("file %s: not scanned: %w", files[j], ctx.Err())}
			}
			break feed
		}
	}
	close(next)
	wg.Wait()
	return out
}
