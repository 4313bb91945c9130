package elfscan

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkScan decodes one livepatch module from memory per variant.
func BenchmarkScan(b *testing.B) {
	for _, name := range []string{"lp_multiobj.ko", "lp_multiobj.strip-debug.ko", "lp_multiobj.strip-unneeded.ko", "lp_multiobj.ko.xz", "klpack_target.strip-debug.ko"} {
		data, err := os.ReadFile(filepath.Join(koDir, "6.1.0-56-amd64", name))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := scanBytes(data, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkScanTree scans a whole Debian module tree when present.
func BenchmarkScanTree(b *testing.B) {
	for _, tree := range debianTrees {
		dir := filepath.Join(treesDir(), tree.dir)
		files, err := Expand([]string{dir})
		if err != nil || len(files) == 0 {
			b.Logf("skipping %s: %v (make trees)", dir, err)
			continue
		}
		b.Run(tree.dir, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, r := range ScanFiles(context.Background(), files, nil, nil) {
					if r.Err != nil {
						b.Fatal(r.Err)
					}
				}
			}
		})
	}
}
