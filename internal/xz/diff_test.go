package xz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	uxz "github.com/ulikunitz/xz"

	"github.com/klpack/klpack/internal/testutil"
)

// diffLimit bounds the output of both decoders in the differential tests.
// The largest real seed decodes to about 330 KiB.
const diffLimit = 1 << 20

// seed is an input of the differential tests. valid says whether both
// decoders must accept it, so that agreement is not only in failing.
type seed struct {
	name  string
	in    []byte
	valid bool
}

// differentialSeeds are the committed .ko.xz modules and inputs made by the
// xz command with several presets, check types, block sizes and stream
// layouts, plus a few that both decoders must refuse. Dictionaries stay at
// 8 MiB or less: ulikunitz allocates the whole dictionary a block header
// declares, up front.
func differentialSeeds(t testing.TB) []seed {
	t.Helper()
	mods, err := filepath.Glob(filepath.Join(testutil.Root(), "testdata", "ko", "*", "*.ko.xz"))
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) == 0 {
		t.Fatal("no testdata/ko/*/*.ko.xz")
	}
	var seeds []seed
	for _, m := range mods {
		in, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, seed{filepath.Base(filepath.Dir(m)) + "/" + filepath.Base(m), in, true})
	}
	data := sample(30000, 11)
	for _, args := range [][]string{
		{"-0", "--check=none"}, {"-1", "--check=crc32"}, {"-3", "--check=crc64"}, {"-6", "--check=sha256"},
		{"-6e"}, {"--lzma2=lc=0,lp=4,pb=4"}, {"--lzma2=lc=4,lp=0,pb=0,mode=fast"},
		{"-1", "--block-size=4000"}, {"-0", "--block-size=1000", "--check=sha256"},
	} {
		seeds = append(seeds, seed{"xz " + strings.Join(args, " "), compress(t, data, args...), true})
	}
	// Random bytes become uncompressed LZMA2 chunks among compressed ones.
	noise := make([]byte, 20000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	mixed := compress(t, cat(noise, data[:5000], noise[:3000]), "-1")
	seeds = append(seeds, seed{"uncompressed chunks", mixed, true})
	empty := compress(t, nil)
	small := compress(t, []byte("klpack\n"), "--check=crc64")
	seeds = append(seeds,
		seed{"empty", empty, true},
		seed{"streams and padding", cat(small, make([]byte, 8), empty, small, make([]byte, 4)), true},
		seed{"BCJ x86", compress(t, data[:2000], "--x86", "--lzma2=preset=0"), false},
		seed{"truncated", small[:len(small)-1], false},
		seed{"odd padding", cat(small, make([]byte, 3)), false},
		seed{"leading padding", cat(make([]byte, 4), small), false},
		seed{"trailing garbage", cat(small, []byte("junk")), false},
	)
	return seeds
}

// theirs decodes in with github.com/ulikunitz/xz, reading at most limit+1
// bytes: more than limit means "too big" and stops there.
func theirs(in []byte, limit int) ([]byte, error) {
	r, err := uxz.NewReader(bytes.NewReader(in))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(r, int64(limit)+1))
}

// differ decodes in with both decoders and describes how they disagree, or
// returns "". Both refuse the same things (leading or odd stream padding,
// filters but LZMA2, check types but None/CRC32/CRC64/SHA-256), but
// ulikunitz v0.5.15 accepts some inputs that the spec, liblzma and ours
// refuse:
//
//   - It takes io.EOF met inside a stream for the stream's end: where a
//     block header or the index should start, inside a block header
//     (readBlockHeader passes on io.CopyN's io.EOF), inside an LZMA2 chunk
//     or at the end of a chunk's compressed data. So it decodes a truncated
//     .xz file to a shorter output without an error.
//   - It checks an LZMA2 chunk's properties by LZMA1's bounds (lc up to
//     8), where LZMA2 requires lc+lp <= 4.
//   - It does not check how an LZMA chunk ends: liblzma and ours require
//     the chunk's compressed bytes used up and the range decoder's code at
//     zero.
//
// So when ours fails and theirs succeeds, the input is accepted as that
// class only if liblzma refuses it too: at once if it does not end with a
// stream footer (every .xz file does; truncation, the common case), else
// by running xz -t.
//
// The limit: ours fails with ErrLimit as soon as an LZMA2 chunk header
// announces more bytes than the limit leaves, before decoding the chunk,
// and theirs is read to limit+1 bytes at most. Past the limit, whether
// theirs would have failed is unknown, so ours must fail, with ErrLimit or
// an error found earlier (a truncated chunk, which ours checks first).
func differ(in []byte, limit int) string {
	ours, errO := Decode(nil, in, limit)
	their, errT := theirs(in, limit)
	switch {
	case len(their) > limit:
		if errO == nil {
			return fmt.Sprintf("ours decoded %d bytes, theirs more than the limit %d", len(ours), limit)
		}
	case errO != nil && errT == nil:
		if endsWithFooter(in) && !liblzmaRefuses(in) {
			return fmt.Sprintf("ours: %v; theirs and xz -t accept it (%d bytes)", errO, len(their))
		}
	case errO == nil && errT != nil:
		return fmt.Sprintf("ours: %d bytes; theirs: %v", len(ours), errT)
	case errO == nil && !bytes.Equal(ours, their):
		return fmt.Sprintf("ours and theirs decoded %d and %d bytes that differ at byte %d", len(ours), len(their), firstDiff(ours, their))
	}
	return ""
}

// liblzmaRefuses reports whether xz -t, liblzma, refuses in. Without xz
// it reports false: the difference stands.
func liblzmaRefuses(in []byte) bool {
	xz, err := exec.LookPath("xz")
	if err != nil {
		return false
	}
	cmd := exec.Command(xz, "-t", "-q", "-q")
	cmd.Stdin = bytes.NewReader(in)
	err = cmd.Run()
	_, refused := errors.AsType[*exec.ExitError](err)
	return refused
}

// endsWithFooter reports whether in, less its stream padding, ends with a
// stream footer: its magic, and a CRC32 that matches.
func endsWithFooter(in []byte) bool {
	for len(in) >= 4 && binary.LittleEndian.Uint32(in[len(in)-4:]) == 0 {
		in = in[:len(in)-4]
	}
	if len(in) < 12 || !bytes.Equal(in[len(in)-2:], footerMagic) {
		return false
	}
	foot := in[len(in)-12:]
	return crc32.ChecksumIEEE(foot[4:10]) == binary.LittleEndian.Uint32(foot)
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestDifferentialSeeds checks the seeds: both decoders accept the valid
// ones with the same bytes and refuse the others.
func TestDifferentialSeeds(t *testing.T) {
	for _, s := range differentialSeeds(t) {
		t.Run(s.name, func(t *testing.T) {
			if d := differ(s.in, diffLimit); d != "" {
				t.Fatal(d)
			}
			ours, err := Decode(nil, s.in, diffLimit)
			if s.valid && err != nil {
				t.Fatalf("Decode = %v, want success", err)
			}
			if !s.valid && err == nil {
				t.Fatalf("Decode = %d bytes, want an error", len(ours))
			}
		})
	}
}

// FuzzDifferential checks that for any input this package and
// github.com/ulikunitz/xz both fail or both give the same bytes.
func FuzzDifferential(f *testing.F) {
	for _, s := range differentialSeeds(f) {
		f.Add(s.in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if d := differ(in, diffLimit); d != "" {
			t.Fatal(d)
		}
	})
}
