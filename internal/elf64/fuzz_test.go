package elf64

import (
	"debug/elf"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seeds are every uncompressed module under testdata/ko and the
// generators' testdata/gen/*/ko.
func seeds(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	root := filepath.Join("..", "..", "testdata")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".ko") {
			return err
		}
		if !strings.Contains(filepath.ToSlash(path), "/ko/") {
			return nil
		}
		b, err := os.ReadFile(path)
		out = append(out, b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no modules under testdata")
	}
	return out
}

// FuzzELF64 parses arbitrary bytes and calls every accessor on what
// parses: no panic, a nil *File exactly with an error, and every error a
// *FormatError or ErrNotELF.
func FuzzELF64(f *testing.F) {
	for _, b := range seeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse(b)
		if (err == nil) == (file == nil) {
			t.Fatalf("Parse = %v, %v: want exactly one of file and error", file, err)
		}
		if err != nil {
			checkErr(t, err)
			return
		}
		exercise(t, file)
	})
}

// TestParseSeeds reads every committed module through every accessor.
func TestParseSeeds(t *testing.T) {
	for _, b := range seeds(t) {
		file, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse = %v", err)
		}
		if _, err := file.Symbols(); err != nil {
			t.Fatalf("Symbols = %v", err)
		}
		exercise(t, file)
	}
}

func checkErr(t *testing.T, err error) {
	t.Helper()
	if _, ok := errors.AsType[*FormatError](err); !ok && !errors.Is(err, ErrNotELF) {
		t.Fatalf("error %v (%T) is neither a *FormatError nor ErrNotELF", err, err)
	}
}

// exercise calls every accessor on f, through pointers and strings at
// the start of every section and at every relocation.
func exercise(t *testing.T, f *File) {
	if f.Arch() == "" {
		t.Fatalf("Parse accepted machine %v", f.Machine)
	}
	syms, err := f.Symbols()
	if err != nil {
		checkErr(t, err)
		return
	}
	for i := range f.Sections {
		f.SectionData(i)
		f.FunctionStarts(i)
		if _, err := f.Read(i, 0, 8); err != nil {
			checkErr(t, err)
		}
		rs, err := f.Relocations(i)
		if err != nil {
			checkErr(t, err)
			continue
		}
		for _, r := range rs {
			f.RelocName(r.Type)
			if int(r.Sym) >= len(syms) {
				t.Fatalf("relocation symbol %d of %d", r.Sym, len(syms))
			}
			at, ok, err := f.Pointer(i, r.Off)
			if err != nil {
				checkErr(t, err)
				continue
			}
			if ok && at.Extern == "" {
				f.SymbolAt(at, elf.STT_FUNC)
				if _, err := f.StringAt(at); err != nil {
					checkErr(t, err)
				}
			}
		}
	}
	for _, s := range syms {
		f.SymbolIn(int(s.Shndx), s.Name)
	}
}
