package testutil

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// BusyboxRoot makes dir a system package scripts can run in, chrooted by
// rpm --root or dpkg --root: busybox as /bin/sh with the applets the
// scripts use, and a real /dev/null (mknod: needs root).
func BusyboxRoot(t testing.TB, dir string) {
	t.Helper()
	bb := NeedTool(t, "busybox")
	for _, d := range []string{"bin", "usr/bin", "tmp", "var/log", "dev", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mknod(filepath.Join(dir, "dev", "null"), syscall.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		Missing(t, "mknod /dev/null in a scratch root (needs root): "+err.Error())
	}
	b, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sh", "cat", "sort", "mkdir", "rmdir", "uname", "sleep", "rm"} {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
}
