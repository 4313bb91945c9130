package elfscan

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/klp"
)

func TestParseBuildID(t *testing.T) {
	id := []byte{0x46, 0xf1, 0x29, 0xf6, 0xd4, 0x16, 0x83, 0x27, 0xb6, 0x66, 0xa0, 0x2d, 0x62, 0x87, 0xbc, 0xd5, 0xec, 0xe7, 0x7f, 0x9b}
	linux := testutil.ELFNote("Linux\x00", 0x100, []byte{0, 0, 0, 0})
	open := testutil.ELFNote("Linux\x00", 0x101, []byte{0})
	gnu := testutil.ELFNote("GNU\x00", 3, id)
	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr error
		bad     bool
	}{
		// /sys/kernel/notes of the test kernel: two Linux notes first.
		{name: "after linux notes", in: append(append(append([]byte{}, linux...), open...), gnu...), want: "46f129f6d4168327b666a02d6287bcd5ece77f9b"},
		{name: "alone", in: gnu, want: "46f129f6d4168327b666a02d6287bcd5ece77f9b"},
		{name: "other type of GNU", in: append(testutil.ELFNote("GNU\x00", 1, []byte{0, 0, 0, 0}), gnu...), want: "46f129f6d4168327b666a02d6287bcd5ece77f9b"},
		{name: "type 3 of another owner", in: testutil.ELFNote("Xen\x00", 3, id), wantErr: ErrNoBuildID},
		{name: "none", in: linux, wantErr: ErrNoBuildID},
		{name: "empty", in: nil, wantErr: ErrNoBuildID},
		{name: "truncated header", in: gnu[:8], bad: true},
		{name: "desc past the end", in: gnu[:len(gnu)-4], bad: true},
		{name: "empty build-id", in: testutil.ELFNote("GNU\x00", 3, nil), bad: true},
		{name: "huge build-id", in: testutil.ELFNote("GNU\x00", 3, make([]byte, 65)), bad: true},
		{name: "size near 4 GiB", in: binary.LittleEndian.AppendUint32([]byte{4, 0, 0, 0}, 0xfffffffc), bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBuildID(tt.in)
			if tt.bad {
				if _, ok := errors.AsType[*FormatError](err); !ok || got != "" {
					t.Fatalf("ParseBuildID = %q, %v, want a *FormatError", got, err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("ParseBuildID = %q, %v, want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestOpenBuildID(t *testing.T) {
	dir := filepath.Join("..", "testdata", "ko", "6.1.0-56-amd64")
	tests := []struct {
		file    string
		want    string
		wantErr error
	}{
		// Hand-copied from readelf -n.
		{"klpack_target.ko", "373d6929f701bca968f0067e0495cd52693c8513", nil},
		{"klp_user.ko", "6b874e05ee8d3f0849ff367e4387c6edd6083414", nil},
		{"klp_user.ko.xz", "", ErrNotELF},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := OpenBuildID(filepath.Join(dir, tt.file))
			if got != tt.want || (tt.wantErr == nil) != (err == nil) || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("OpenBuildID(%s) = %q, %v, want %q, %v", tt.file, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestReadTarget(t *testing.T) {
	src := filepath.Join("..", "testdata", "ko", "6.1.0-56-amd64")
	copyFile := func(t *testing.T, from, to string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(src, from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Any ELF with a build-id stands for vmlinux: only its notes are read.
	tree := func(t *testing.T, files map[string]string) string {
		d := t.TempDir()
		for to, from := range files {
			copyFile(t, from, filepath.Join(d, to))
		}
		return d
	}
	tests := []struct {
		name    string
		files   map[string]string
		objects []string
		want    *klp.Target
		wantErr bool
	}{
		{
			name:    "vmlinux and the patched module",
			files:   map[string]string{"vmlinux": "klp_user.ko", "drivers/x/klpack_target.ko": "klpack_target.ko", "lp_clone.ko": "lp_clone.ko"},
			objects: []string{"klpack_target", "not_there"},
			want: &klp.Target{BuildID: "6b874e05ee8d3f0849ff367e4387c6edd6083414",
				Modules: []klp.TargetModule{{Name: "klpack_target", BuildID: "373d6929f701bca968f0067e0495cd52693c8513"}}},
		},
		{
			name:    "compressed module: no build-id read",
			files:   map[string]string{"vmlinux": "klp_user.ko", "klpack_target.ko.xz": "klpack_target.ko.xz"},
			objects: []string{"klpack_target"},
			want:    &klp.Target{BuildID: "6b874e05ee8d3f0849ff367e4387c6edd6083414", Modules: []klp.TargetModule{{Name: "klpack_target"}}},
		},
		{
			name:  "vmlinux only",
			files: map[string]string{"vmlinux": "klp_user.ko"},
			want:  &klp.Target{BuildID: "6b874e05ee8d3f0849ff367e4387c6edd6083414"},
		},
		{name: "no vmlinux", files: map[string]string{"klpack_target.ko": "klpack_target.ko"}, objects: []string{"klpack_target"}, wantErr: true},
		{name: "vmlinux not ELF", files: map[string]string{"vmlinux": "klp_user.ko.xz"}, wantErr: true},
		{
			name:    "module twice",
			files:   map[string]string{"vmlinux": "klp_user.ko", "a/klpack_target.ko": "klpack_target.ko", "b/klpack_target.ko": "klpack_target.ko"},
			objects: []string{"klpack_target"}, wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadTarget(context.Background(), tree(t, tt.files), tt.objects)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ReadTarget = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("ReadTarget (-want +got):\n%s", d)
			}
		})
	}
}

func FuzzParseBuildID(f *testing.F) {
	f.Add(testutil.ELFNote("GNU\x00", 3, []byte{1, 2, 3, 4}))
	f.Add(append(testutil.ELFNote("Linux\x00", 0x100, []byte{0, 0, 0, 0}), testutil.ELFNote("GNU\x00", 3, make([]byte, 20))...))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := ParseBuildID(b)
		if (err == nil) == (id == "") {
			t.Fatalf("ParseBuildID = %q, %v: want an id or an error", id, err)
		}
		if err == nil {
			if err := klp.CheckBuildID(id); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestTargetBuildNoVmlinux: a target without vmlinux (a modules directory,
// as KLP019 reads) pins nothing, and is no error.
func TestTargetBuildNoVmlinux(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "ko", "6.1.0-56-amd64", "klpack_target.ko"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "klpack_target.ko"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	tg, err := FindTarget(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tg.Build(context.Background(), []string{"klpack_target"}); got != nil || err != nil {
		t.Errorf("Build() = %+v, %v; want nothing pinned, no error", got, err)
	}
	if got, err := ReadTarget(context.Background(), dir, nil); got != nil || err == nil {
		t.Errorf("ReadTarget() = %+v, %v; want an error: a release asked to pin a build that is not there", got, err)
	}
}
