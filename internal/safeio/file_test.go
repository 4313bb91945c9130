package safeio

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, []byte("klpack"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sparse := filepath.Join(dir, "sparse")
	if err := os.WriteFile(sparse, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(sparse, 2<<30); err != nil { // 2 GiB, no blocks
		t.Fatal(err)
	}

	b, err := ReadFile(small, 6)
	if err != nil || string(b) != "klpack" {
		t.Fatalf("ReadFile(small) = %q, %v", b, err)
	}
	for _, tt := range []struct {
		path, want string
		is         error
	}{
		{small, "limit is 5", ErrTooLarge},
		{sparse, "the file has 2147483648 bytes", ErrTooLarge},
		{fifo, "not a regular file (a FIFO)", nil},
		{dir, "not a regular file (a directory)", nil},
		{"/dev/zero", "not a regular file (a character device)", nil},
	} {
		_, err := ReadFile(tt.path, 5)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
			t.Errorf("ReadFile(%s) error = %v, want it to name the file and say %q", tt.path, err, tt.want)
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("ReadFile(%s) error = %v, want errors.Is %v", tt.path, err, tt.is)
		}
	}
	if _, err := ReadFile(fifo, 5); !errors.As(err, new(*NotRegularError)) {
		t.Errorf("ReadFile(fifo) error = %v, want *NotRegularError", err)
	}
}

func TestReadFileIn(t *testing.T) {
	dir := t.TempDir()
	inner := filepath.Join(dir, "inner")
	if err := os.Mkdir(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../secret", filepath.Join(inner, "link")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(inner)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, name := range []string{"../secret", "link", filepath.Join(dir, "secret")} {
		if _, err := ReadFileIn(root, name, 10); err == nil {
			t.Errorf("ReadFileIn(%q) read outside its root", name)
		}
	}
}

// TestSHA256: the sum and size of a regular file; anything else refused.
func TestSHA256(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, n, err := SHA256(p)
	if err != nil || n != 3 || sum != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("SHA256(abc) = %s, %d, %v", sum, n, err)
	}
	if _, _, err := SHA256(dir); !errors.As(err, new(*NotRegularError)) {
		t.Errorf("SHA256(directory) = %v, want a NotRegularError", err)
	}
}
