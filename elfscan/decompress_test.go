package elfscan

import (
	"bytes"
	"compress/gzip"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/testutil"
)

// sample is compressible data that is not trivially so: repeated text with
// random bytes between.
func sample(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString("module_layout vermagic=7.2.13 SMP preempt mod_unload ")
		for range 8 {
			b.WriteByte(byte(r.IntN(256)))
		}
	}
	return b.Bytes()[:n]
}

// compressors, by kind. xz has no pure-Go encoder among our dependencies;
// the xz command makes the stream, as the kernel's build does.
func compress(t testing.TB, kind string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	switch kind {
	case compressionGzip:
		w := gzip.NewWriter(&b)
		w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case compressionZstd:
		w, err := zstd.NewWriter(&b, zstd.WithEncoderCRC(true))
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case compressionXZ:
		xzCmd := testutil.NeedTool(t, "xz")
		cmd := exec.Command(xzCmd, "--check=crc32", "--lzma2=dict=1MiB", "-c")
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("xz: %v", err)
		}
		return out
	default:
		t.Fatalf("no compressor for %q", kind)
	}
	return b.Bytes()
}

func TestCompressionOf(t *testing.T) {
	tests := []struct {
		head []byte
		want string
	}{
		{[]byte{0xfd, '7', 'z', 'X', 'Z', 0x00, 0x00, 0x01}, "xz"},
		{[]byte{0xfd, '7', 'z', 'X', 'Z'}, ""}, // short
		{[]byte{0x28, 0xb5, 0x2f, 0xfd, 0x24}, "zstd"},
		{[]byte{0x1f, 0x8b, 0x08}, "gzip"},
		{[]byte{0x1f, 0x8b}, "gzip"},
		{[]byte("\x7fELF\x02\x01\x01"), ""},
		{nil, ""},
		{[]byte{0x1f}, ""},
	}
	for _, tt := range tests {
		if got := compressionOf(tt.head); got != tt.want {
			t.Errorf("compressionOf(% x) = %q, want %q", tt.head, got, tt.want)
		}
	}
}

var kinds = []string{compressionXZ, compressionZstd, compressionGzip}

func TestDecompressRoundTrip(t *testing.T) {
	for _, kind := range kinds {
		for _, n := range []int{0, 1, 4096, 3<<20 + 17} {
			data := sample(n)
			t.Run(kind+"/"+strconv.Itoa(n), func(t *testing.T) {
				c := compress(t, kind, data)
				if compressionOf(c) != kind {
					t.Fatalf("compressionOf(compressed) = %q, want %q", compressionOf(c), kind)
				}
				// Twice: the second run takes a pooled decoder.
				for range 2 {
					got, err := newScanner(nil).decompress(kind, c, int64(n))
					if err != nil {
						t.Fatalf("decompress(%q, %d bytes) error = %v", kind, len(c), err)
					}
					if !bytes.Equal(got, data) {
						t.Fatalf("decompress(%q) = %d bytes, want %d", kind, len(got), len(data))
					}
				}
			})
		}
	}
}

// TestDecompressBomb: a small stream that expands past the limit fails
// with ErrTooLarge, having used memory near the limit, not the full size.
func TestDecompressBomb(t *testing.T) {
	const full = 64 << 20 // zeros: compress to a few KiB (xz, zstd) or 64 KiB (gzip)
	const limit = 1 << 20
	zeros := make([]byte, full)
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			c := compress(t, kind, zeros)
			t.Logf("%s bomb: %d bytes → %d", kind, len(c), full)
			got, err := newScanner(nil).decompress(kind, c, limit)
			if !errors.Is(err, safeio.ErrTooLarge) {
				t.Fatalf("decompress(%q bomb) = %d bytes, %v; want ErrTooLarge", kind, len(got), err)
			}
			if got != nil {
				t.Errorf("decompress(%q bomb) returned %d bytes with the error", kind, len(got))
			}
			// Exactly at the limit is fine.
			small := compress(t, kind, zeros[:limit])
			if got, err := newScanner(nil).decompress(kind, small, limit); err != nil || len(got) != limit {
				t.Errorf("decompress(%q, limit bytes) = %d bytes, %v; want %d, nil", kind, len(got), err, limit)
			}
		})
	}
}

func TestDecompressTruncated(t *testing.T) {
	data := sample(200 << 10)
	for _, kind := range kinds {
		c := compress(t, kind, data)
		for _, cut := range []int{len(magicGzip), 6, 12, len(c) / 2, len(c) - 9, len(c) - 1} {
			t.Run(kind+"/"+strconv.Itoa(cut), func(t *testing.T) {
				got, err := newScanner(nil).decompress(kind, c[:cut], 1<<30)
				if err == nil {
					t.Fatalf("decompress(%q, %d of %d bytes) = %d bytes, want error", kind, cut, len(c), len(got))
				}
				t.Log(err)
			})
		}
	}
}

func TestDecompressCorrupt(t *testing.T) {
	data := sample(200 << 10)
	for _, kind := range kinds {
		c := compress(t, kind, data)
		// Flip a byte in the middle of the compressed data, and one in
		// the trailer, where the checksum lives.
		for _, at := range []int{len(c) / 2, len(c) - 10} {
			bad := bytes.Clone(c)
			bad[at] ^= 0x55
			got, err := newScanner(nil).decompress(kind, bad, 1<<30)
			if err == nil && bytes.Equal(got, data) {
				continue // the flipped byte did not matter (padding, or an index field read only by seeking readers)
			}
			if err == nil {
				t.Errorf("decompress(%q with byte %d of %d flipped) = wrong data, no error", kind, at, len(c))
			}
		}
	}
}

func TestDecompressUnknownKind(t *testing.T) {
	if _, err := newScanner(nil).decompress("lz4", nil, 10); err == nil {
		t.Error(`decompress("lz4") succeeded, want error`)
	}
}

// TestDecompressConcurrent runs pooled decoders from many goroutines (go
// test -race catches sharing).
func TestDecompressConcurrent(t *testing.T) {
	data := sample(300 << 10)
	streams := map[string][]byte{}
	for _, kind := range kinds {
		streams[kind] = compress(t, kind, data)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		kind := kinds[i%len(kinds)]
		wg.Go(func() {
			for range 4 {
				got, err := newScanner(nil).decompress(kind, streams[kind], 1<<30)
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("decompress(%q) = %d bytes, %v", kind, len(got), err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// realXZ returns a real .ko.xz from the sid tree, or skips.
func realXZ(b testing.TB) (string, []byte) {
	dir, why := signatureTrees()
	if dir == "" {
		testutil.Missing(b, why)
	}
	// A mid-sized module, always the same one.
	p := filepath.Join(dir, "7.2", "usr/lib/modules/7.2.13+deb14-amd64/kernel/fs/ext4/ext4.ko.xz")
	raw, err := os.ReadFile(p)
	if err != nil {
		mods := sampleModules(b, filepath.Join(dir, "7.2"), 1)
		p = mods[0]
		if raw, err = os.ReadFile(p); err != nil {
			b.Fatal(err)
		}
	}
	return p, raw
}

// TestDecompressRealXZ checks the decoder against the xz command on a
// real module.
func TestDecompressRealXZ(t *testing.T) {
	xzCmd := testutil.NeedTool(t, "xz")
	p, raw := realXZ(t)
	want, err := exec.Command(xzCmd, "-dc", p).Output()
	if err != nil {
		t.Fatalf("xz -dc %s: %v", p, err)
	}
	got, err := newScanner(nil).decompress(compressionOf(raw), raw, 1<<30)
	if err != nil {
		t.Fatalf("decompress(%s) error = %v", p, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("decompress(%s) = %d bytes, differs from xz -dc (%d bytes)", p, len(got), len(want))
	}
}

// BenchmarkDecompressXZ decodes a real Debian .ko.xz; MB/s is of output.
func BenchmarkDecompressXZ(b *testing.B) {
	_, raw := realXZ(b)
	out, err := newScanner(nil).decompress(compressionXZ, raw, 1<<30)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := newScanner(nil).decompress(compressionXZ, raw, 1<<30); err != nil {
			b.Fatal(err)
		}
	}
}
