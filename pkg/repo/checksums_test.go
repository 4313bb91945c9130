package repo

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/klpack/klpack/internal/testutil"
)

// TestChecksums: SHA256SUMS lists each file with its sum, sorted, in the
// form `sha256sum -c` checks (and it does, and fails on a changed file);
// gpgv verifies SHA256SUMS.asc with the exported public key and refuses
// it over a changed SHA256SUMS.
func TestChecksums(t *testing.T) {
	testutil.NeedTool(t, "sha256sum")
	dir := t.TempDir()
	writeAt(t, filepath.Join(dir, "pool/x/abc.deb"), []byte("abc"))
	writeAt(t, filepath.Join(dir, "empty.rpm"), nil)
	writeAt(t, filepath.Join(dir, "unlisted"), []byte("not listed"))
	writeAt(t, filepath.Join(dir, "z.txt"), []byte("abc"))
	k := newKey(t, t.TempDir(), "repo")
	got, err := Checksums(context.Background(), dir, []string{"pool/x/abc.deb", "z.txt", "empty.rpm"}, k.sign.Detached)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "SHA256SUMS SHA256SUMS.asc" {
		t.Errorf("Checksums() = %q", got)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	// sha256("") and sha256("abc"), FIPS 180-2's example.
	want := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  empty.rpm\n" +
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  pool/x/abc.deb\n" +
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  z.txt\n"
	if string(b) != want {
		t.Errorf("SHA256SUMS = %q, want %q", b, want)
	}
	check := func() (string, error) {
		cmd := exec.Command("sha256sum", "--strict", "-c", "SHA256SUMS")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := check(); err != nil || out != "empty.rpm: OK\npool/x/abc.deb: OK\nz.txt: OK\n" {
		t.Errorf("sha256sum -c: %v\n%s", err, out)
	}
	sums, asc := filepath.Join(dir, "SHA256SUMS"), filepath.Join(dir, "SHA256SUMS.asc")
	if out, err := gpgv(t, k.public, asc, sums); err != nil {
		t.Errorf("gpgv SHA256SUMS.asc: %v\n%s", err, out)
	}
	writeAt(t, filepath.Join(dir, "pool/x/abc.deb"), []byte("abd"))
	if out, err := check(); err == nil || !strings.Contains(out, "pool/x/abc.deb: FAILED") {
		t.Errorf("sha256sum -c over a changed file: %v\n%s", err, out)
	}
	writeAt(t, sums, []byte(strings.Replace(want, "e3b0", "e3b1", 1)))
	if out, err := gpgv(t, k.public, asc, sums); err == nil || !strings.Contains(out, "BAD signature") {
		t.Errorf("gpgv over a changed SHA256SUMS: %v\n%s", err, out)
	}
	// Unsigned: the old signature goes.
	if got, err := Checksums(context.Background(), dir, []string{"empty.rpm"}, nil); err != nil || strings.Join(got, " ") != "SHA256SUMS" {
		t.Errorf("Checksums(unsigned) = %q, %v", got, err)
	}
	mustNotExist(t, asc)
}

// TestChecksumsRefused: names sha256sum would escape or that leave the
// directory, files that are not regular, and a name given twice are
// refused, naming the file.
func TestChecksumsRefused(t *testing.T) {
	dir := t.TempDir()
	writeAt(t, filepath.Join(dir, "ok"), nil)
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Symlink("/etc/passwd", filepath.Join(dir, "link"))
	tests := []struct {
		files   []string
		wantErr error
		wantMsg string
	}{
		{[]string{"ok", "a b"}, ErrBadName, "a b"},
		{[]string{"a\nb"}, ErrBadName, `"a\nb"`},
		{[]string{"back\\slash"}, ErrBadName, `back\slash`},
		{[]string{"../ok"}, ErrBadName, "../ok"},
		{[]string{"/etc/passwd"}, ErrBadName, "/etc/passwd"},
		{[]string{"fifo"}, nil, "fifo: not a regular file"},
		{[]string{"link"}, nil, "link"},
		{[]string{"ok", "ok"}, nil, "ok given twice"},
		{[]string{"missing"}, nil, "missing"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.files, ","), func(t *testing.T) {
			_, err := Checksums(context.Background(), dir, tt.files, nil)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Checksums(%q) = %v, want %v saying %q", tt.files, err, tt.wantErr, tt.wantMsg)
			}
			mustNotExist(t, filepath.Join(dir, "SHA256SUMS"))
		})
	}
}
