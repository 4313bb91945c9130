package xz

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"testing"

	txz "github.com/therootcompany/xz"
)

// benchFiles reads a spread of real modules: every len/n-th file.
func benchFiles(b *testing.B, n int) (names []string, files [][]byte, size int) {
	all := modules(b)
	for i := 0; i < len(all); i += max(1, len(all)/n) {
		c, err := os.ReadFile(all[i])
		if err != nil {
			b.Fatal(err)
		}
		out, err := Decode(nil, c, 1<<30)
		if err != nil {
			b.Fatalf("%s: %v", all[i], err)
		}
		names = append(names, all[i])
		files = append(files, c)
		size += len(out)
	}
	return names, files, size
}

// BenchmarkDecode decodes a sample of 40 real Debian modules per op, with
// this package, with github.com/therootcompany/xz, and with one `xz -dc`
// process over the same files (liblzma, including the process start).
func BenchmarkDecode(b *testing.B) {
	names, files, size := benchFiles(b, 40)
	b.Run("internal", func(b *testing.B) {
		b.SetBytes(int64(size))
		var d Decoder
		var buf []byte
		for b.Loop() {
			for _, c := range files {
				var err error
				if buf, err = d.Decode(buf[:0], c, 1<<30); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("therootcompany", func(b *testing.B) {
		b.SetBytes(int64(size))
		r, err := txz.NewReader(nil, 64<<20)
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		for b.Loop() {
			for _, c := range files {
				if err := r.Reset(bytes.NewReader(c)); err != nil {
					b.Fatal(err)
				}
				buf.Reset()
				if _, err := io.Copy(&buf, r); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("xz-dc", func(b *testing.B) {
		xz := xzTool(b)
		b.SetBytes(int64(size))
		for b.Loop() {
			cmd := exec.Command(xz, append([]string{"-dc"}, names...)...)
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeAll decodes every module of the tree per op (run it with
// -benchtime=1x or 3x: an op is the whole tree).
func BenchmarkDecodeAll(b *testing.B) {
	names := modules(b)
	files := make([][]byte, len(names))
	size := 0
	for i, name := range names {
		c, err := os.ReadFile(name)
		if err != nil {
			b.Fatal(err)
		}
		files[i] = c
		out, err := Decode(nil, c, 1<<30)
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		size += len(out)
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	var d Decoder
	var buf []byte
	for b.Loop() {
		for _, c := range files {
			var err error
			if buf, err = d.Decode(buf[:0], c, 1<<30); err != nil {
				b.Fatal(err)
			}
		}
	}
}
