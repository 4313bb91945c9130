package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/klpack/klpack/internal/testutil"
)

// openPTY opens a pseudo-terminal: what klpack writes to tty, the test
// reads from the returned buffer once done() is called.
func openPTY(t *testing.T) (tty *os.File, done func() string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		testutil.Missing(t, fmt.Sprintf("a pseudo-terminal (/dev/ptmx: %v)", err))
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Fatalf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatalf("open pts: %v", err)
	}
	// A new terminal is 0 columns wide, where a bar has no room.
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 100}); err != nil {
		t.Fatalf("set window size: %v", err)
	}
	// Read all along: a full terminal buffer would block klpack.
	var buf bytes.Buffer
	read := make(chan struct{})
	go func() {
		io.Copy(&buf, m) // ends with EIO once the other side is closed
		close(read)
	}()
	return s, func() string {
		s.Close()
		<-read
		m.Close()
		return buf.String()
	}
}

// TestColorOnTerminal: on a terminal, auto colours the severity word
// unless NO_COLOR is set or TERM is dumb; never is never; the same
// command into a pipe is plain.
func TestColorOnTerminal(t *testing.T) {
	td := filepath.Join(testutil.Root(), "testdata")
	args := []string{"check", filepath.Join(td, "scenarios", "seed", "lp3.json"),
		"--deployed", filepath.Join(td, "states", "seed-mainline.json")}
	tests := []struct {
		name          string
		flag, noColor string
		term          string
		pipe          bool
		want          bool
	}{
		{"auto", "", "", "xterm", false, true},
		{"auto flag", "auto", "", "xterm", false, true},
		{"NO_COLOR", "", "1", "xterm", false, false},
		{"NO_COLOR=0", "auto", "0", "xterm", false, false},
		{"TERM=dumb", "", "", "dumb", false, false},
		{"never", "never", "", "xterm", false, false},
		{"always over NO_COLOR", "always", "1", "dumb", false, true},
		{"pipe", "", "", "xterm", true, false},
		{"pipe always", "always", "", "xterm", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", tt.noColor)
			t.Setenv("TERM", tt.term)
			a := args
			if tt.flag != "" {
				a = append([]string{"--color", tt.flag}, args...)
			}
			var stderr bytes.Buffer
			var out string
			if tt.pipe {
				var stdout bytes.Buffer
				run(context.Background(), a, &stdout, &stderr)
				out = stdout.String()
			} else {
				tty, done := openPTY(t)
				run(context.Background(), a, tty, &stderr)
				out = done()
			}
			if !strings.Contains(out, "KLP009") {
				t.Fatalf("no finding in the output:\n%s\nstderr: %s", out, stderr.String())
			}
			red := strings.Contains(out, "\x1b[31merror\x1b[0m KLP009")
			if red != tt.want || (!tt.want && strings.Contains(out, "\x1b")) {
				t.Errorf("coloured %v, want %v:\n%q", red, tt.want, out)
			}
			if strings.Contains(stderr.String(), "\x1b") {
				t.Errorf("escape on stderr: %q", stderr.String())
			}
		})
	}
}

// TestProgressOnTerminal: scanning many modules draws a bar on stderr
// when it is a terminal and not in CI; stdout, a pipe, never holds it,
// and a piped stderr holds nothing but klpack's own lines.
func TestProgressOnTerminal(t *testing.T) {
	ko := filepath.Join(testutil.Root(), "testdata", "ko", "6.12.117+deb12-amd64")
	// check takes livepatches only.
	lps := t.TempDir()
	for _, name := range []string{"lp_replace.ko", "lp_shadow.ko", "lp_hook.ko"} {
		b, err := os.ReadFile(filepath.Join(ko, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(lps, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, cmd := range [][]string{{"scan", "--json", ko}, {"check", lps}, {"plan", lps}} {
		name := cmd[0]
		t.Run(name+" terminal", func(t *testing.T) {
			t.Setenv("CI", "")
			tty, done := openPTY(t)
			var stdout bytes.Buffer
			run(context.Background(), cmd, &stdout, tty)
			got := done()
			if !strings.Contains(got, "scan ") || !strings.Contains(got, "100 %") {
				t.Errorf("no progress bar on the terminal: %q", got)
			}
			if strings.Contains(stdout.String(), "100 %") || strings.Contains(stdout.String(), "\x1b") {
				t.Errorf("progress on stdout: %q", stdout.String())
			}
		})
		t.Run(name+" CI", func(t *testing.T) {
			t.Setenv("CI", "true")
			tty, done := openPTY(t)
			var stdout bytes.Buffer
			run(context.Background(), cmd, &stdout, tty)
			if got := done(); strings.Contains(got, "%") {
				t.Errorf("progress in CI: %q", got)
			}
		})
		t.Run(name+" pipe", func(t *testing.T) {
			t.Setenv("CI", "")
			var stdout, stderr bytes.Buffer
			run(context.Background(), cmd, &stdout, &stderr)
			if strings.Contains(stderr.String(), "%") || strings.Contains(stderr.String(), "\x1b") || strings.Contains(stderr.String(), "\r") {
				t.Errorf("progress on a piped stderr: %q", stderr.String())
			}
		})
	}
}
