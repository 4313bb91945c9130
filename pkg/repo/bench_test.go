package repo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/pack"
)

// releasePackages builds the testdata release (testdata/release-6.1.yaml)
// with pkg/pack and lays its debs out in an apt pool and its rpms in a
// yum directory, as the release pipeline does.
func releasePackages(tb testing.TB) (aptDir, yumDir string) {
	tb.Helper()
	scan := func(p string, hookPoints []string) (*klp.Module, error) {
		return elfscan.Open(p, &elfscan.Options{Hooks: hookPoints})
	}
	r, err := pack.ReadRelease(filepath.Join(testutil.Root(), "testdata", "release-6.1.yaml"), scan)
	if err != nil {
		tb.Fatal(err)
	}
	r.MTime = epoch
	out := tb.TempDir()
	arts, err := pack.Build(context.Background(), r, out, pack.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	aptDir, yumDir = tb.TempDir(), tb.TempDir()
	for _, a := range arts {
		b, err := os.ReadFile(a.Path)
		if err != nil {
			tb.Fatal(err)
		}
		name := filepath.Base(a.Path)
		switch a.Format {
		case pack.FormatDeb:
			writeAt(tb, filepath.Join(aptDir, "pool/main", name[:1], strings.SplitN(name, "_", 2)[0], name), b)
		case pack.FormatRPM:
			writeAt(tb, filepath.Join(yumDir, name), b)
		}
	}
	return aptDir, yumDir
}

// TestReleaseRepos: the testdata release's own packages index: every deb
// of the pool is in Packages with its relations and load order, and
// createrepo_c lists every rpm.
func TestReleaseRepos(t *testing.T) {
	aptDir, yumDir := releasePackages(t)
	debs, _ := filepath.Glob(filepath.Join(aptDir, "pool/main/*/*/*.deb"))
	if len(debs) < 2 {
		t.Fatalf("the release built %d debs", len(debs))
	}
	if _, err := Apt(context.Background(), aptDir, AptOptions{Date: epoch}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(aptDir, "dists/stable/main/binary-amd64/Packages"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\nFilename: pool/main/"); n != len(debs) {
		t.Errorf("Packages lists %d files, the pool has %d:\n%s", n, len(debs), b)
	}
	for _, f := range []string{"\nDepends: ", "\nKlp-Load-Order: "} {
		if !strings.Contains(string(b), f) {
			t.Errorf("Packages lacks the packages' %q fields:\n%s", strings.TrimSpace(f), b)
		}
	}
	testutil.NeedTool(t, "createrepo_c")
	if _, err := Yum(context.Background(), yumDir, YumOptions{Date: epoch}); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRepos: Apt and Yum over the testdata release's packages.
func BenchmarkRepos(b *testing.B) {
	aptDir, yumDir := releasePackages(b)
	testutil.NeedTool(b, "createrepo_c")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Apt(ctx, aptDir, AptOptions{Date: epoch}); err != nil {
			b.Fatal(err)
		}
		if _, err := Yum(ctx, yumDir, YumOptions{Date: epoch}); err != nil {
			b.Fatal(err)
		}
	}
}
