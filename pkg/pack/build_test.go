package pack

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBuildRefuses: what a package cannot hold or a loader cannot use is
// refused before anything is written.
func TestBuildRefuses(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o644)
	tests := []struct {
		name    string
		mtime   time.Time
		timeout int
		out     string
		wantErr string
	}{
		{"time past 32 bits", time.Unix(1<<32, 0), 0, "out", "time 4294967296 is out of range: packages store 32-bit times, 0 to 4294967295"},
		{"SOURCE_DATE_EPOCH=99999999999999", time.Unix(99999999999999, 0), 0, "out", "out of range"},
		{"time before 1970", time.Unix(-1, 0), 0, "out", "time -1 is out of range"},
		{"negative timeout", epoch, -1, "out", "loader timeout -1 s: want 1 to 3600 seconds"},
		{"huge timeout", epoch, 1 << 62, "out", "loader timeout 4611686018427387904"},
		{"output is a file", epoch, 0, "file", "output directory " + file + ": not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := release(t, "release-6.1")
			r.MTime = tt.mtime
			arts, err := Build(context.Background(), r, filepath.Join(base, tt.out), Options{Timeout: tt.timeout})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || arts != nil {
				t.Errorf("Build = %v, %v, want an error saying %q", arts, err, tt.wantErr)
			}
			if _, err := os.Stat(filepath.Join(base, "out")); err == nil {
				t.Error("Build made the output directory")
			}
		})
	}
	// The last moment a package can hold is fine.
	r := release(t, "release-6.1")
	r.MTime = time.Unix(MaxMTime, 0)
	if _, err := Build(context.Background(), r, t.TempDir(), Options{Formats: []string{FormatDeb}, Timeout: MaxTimeout}); err != nil {
		t.Errorf("Build at time %d, timeout %d = %v", int64(MaxMTime), MaxTimeout, err)
	}
}

// TestStageUnitTimeout: the unit's start timeout follows the loader's.
func TestStageUnitTimeout(t *testing.T) {
	for _, tt := range []struct{ timeout, want int }{{0, 390}, {120, 690}} { // templates.StartTimeout of 2 patches
		dir := t.TempDir()
		if _, err := Stage(release(t, "release-6.1").LoaderSpec(), dir, tt.timeout); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "unit"))
		if want := "TimeoutStartSec=" + strconv.Itoa(tt.want) + "\n"; !strings.Contains(string(b), want) {
			t.Errorf("timeout %d: unit lacks %q:\n%s", tt.timeout, want, b)
		}
	}
}

// TestFileNames: each format's conventional name, with the architecture
// as that format names it (an arm64 rpm is aarch64, an x86_64 deb amd64).
func TestFileNames(t *testing.T) {
	ps, err := New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ arch, rpm, deb string }{
		{"aarch64", "klp-patch-6.1.0-56-amd64-1.0_1-1.aarch64.rpm", "klp-patch-6.1.0-56-amd64_1.0-1_arm64.deb"},
		{"x86_64", "klp-patch-6.1.0-56-amd64-1.0_1-1.x86_64.rpm", "klp-patch-6.1.0-56-amd64_1.0-1_amd64.deb"},
	}
	for _, tt := range tests {
		r := release(t, "release-6.1")
		r.Arch = tt.arch
		s := r.Specs()[0]
		if got := ps[FormatRPM].FileName(s); got != tt.rpm {
			t.Errorf("%s: rpm file name %s, want %s", tt.arch, got, tt.rpm)
		}
		if got := ps[FormatDeb].FileName(s); got != tt.deb {
			t.Errorf("%s: deb file name %s, want %s", tt.arch, got, tt.deb)
		}
	}
}
