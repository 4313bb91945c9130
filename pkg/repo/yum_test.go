package repo

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestYumScratch(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []testPkg{pkgA1, pkgA2, pkgB} {
		p.writeRPM(t, dir)
	}
	k := newKey(t, t.TempDir(), "repo")
	got, err := Yum(context.Background(), dir, YumOptions{Date: epoch, Sign: k.sign.Detached})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(got)
	b, _ := os.ReadFile(filepath.Join(dir, "repodata/repomd.xml"))
	t.Logf("%s", b)
	c := newDnfClient(t, dir, k.public)
	out, err := c.run("install", "klp-test-a")
	t.Log(out, err)
	b, err = os.ReadFile(filepath.Join(c.installroot(), "opt/klp-test/klp-test-a.txt"))
	t.Logf("%q %v", b, err)
}
