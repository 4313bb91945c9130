package xz

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/klpack/klpack/internal/testutil"
)

// xzTool returns the path of the xz command, skipping the test without it
// (failing it under KLPACK_REQUIRE_TOOLS=1).
func xzTool(t testing.TB) string {
	t.Helper()
	return testutil.NeedTool(t, "xz")
}

// compress runs xz with args over data.
func compress(t testing.TB, data []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(xzTool(t), append(append([]string{"-c", "-T1"}, args...), "-")...)
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz %v: %v: %s", args, err, stderr.Bytes())
	}
	return out
}

// sample is compressible but not trivial data: text, code-like bytes,
// runs of zeros and random noise.
func sample(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	words := []string{"module_layout ", "vermagic=7.2.13 ", "SMP ", "preempt ", "\x00\x00\x00\x00", "\x48\x89\xe5", "\xe8\x00\x00\x00\x00", "__fentry__"}
	var b bytes.Buffer
	for b.Len() < n {
		switch r.IntN(10) {
		case 0:
			for range r.IntN(64) {
				b.WriteByte(byte(r.Uint32()))
			}
		case 1:
			b.Write(make([]byte, r.IntN(300)))
		case 2:
			// A long-range repeat.
			if l := b.Len(); l > 1000 {
				off := r.IntN(l - 500)
				b.Write(append([]byte(nil), b.Bytes()[off:off+r.IntN(400)]...))
			}
		default:
			b.WriteString(words[r.IntN(len(words))])
		}
	}
	return b.Bytes()[:n]
}

func TestRoundTrip(t *testing.T) {
	xzTool(t)
	sizes := []int{0, 1, 2, 100, 4096, 70000, 1<<20 + 3, 3<<20 + 17}
	type cfg struct{ args []string }
	var cfgs [][]string
	for _, c := range []string{"crc32", "crc64", "sha256", "none"} {
		cfgs = append(cfgs, []string{"--check=" + c, "--lzma2=dict=1MiB"})
	}
	for l := 0; l <= 9; l++ {
		cfgs = append(cfgs, []string{"-" + strconv.Itoa(l)})
	}
	cfgs = append(cfgs, []string{"-6e"}, []string{"--lzma2=lc=0,lp=4,pb=4"}, []string{"--lzma2=lc=4,lp=0,pb=0"},
		[]string{"--lzma2=lc=1,lp=3,pb=2,mode=fast"}, []string{"--block-size=100000"})
	var d Decoder
	for _, args := range cfgs {
		for _, n := range sizes {
			if n > 1<<20 && !(len(args) == 2 && args[0] == "--check=crc32") && args[0] != "-9" && args[0] != "-0" {
				continue // the big sizes with a few configurations only
			}
			data := sample(n, uint64(n))
			t.Run(strings.Join(args, " ")+"/"+strconv.Itoa(n), func(t *testing.T) {
				c := compress(t, data, args...)
				got, err := d.Decode(nil, c, n)
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("Decode = %d bytes, differ from the %d bytes compressed", len(got), len(data))
				}
				// One byte short of the limit.
				if n > 0 {
					got, err := d.Decode(nil, c, n-1)
					if !errors.Is(err, ErrLimit) || len(got) != 0 {
						t.Fatalf("Decode(limit %d) = %d bytes, %v; want ErrLimit", n-1, len(got), err)
					}
				}
			})
		}
	}
}

func TestUncompressedChunks(t *testing.T) {
	// Random data makes xz store uncompressed chunks; mixed with text it
	// alternates them with LZMA chunks that keep or reset the state.
	r := rand.New(rand.NewPCG(3, 4))
	var data []byte
	for range 6 {
		noise := make([]byte, 100000)
		for i := range noise {
			noise[i] = byte(r.Uint32())
		}
		data = append(data, noise...)
		data = append(data, sample(150000, r.Uint64())...)
	}
	c := compress(t, data, "--lzma2=dict=1MiB")
	got, err := Decode(nil, c, len(data))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Decode = %d bytes, %v; want %d bytes", len(got), err, len(data))
	}
}

func TestMultiStream(t *testing.T) {
	a, b := sample(5000, 1), sample(300000, 2)
	ca := compress(t, a, "--check=crc64")
	cb := compress(t, b, "--check=sha256")
	ce := compress(t, nil, "--check=none")
	pad := make([]byte, 8)
	want := append(append([]byte(nil), a...), b...)
	for _, tt := range []struct {
		name string
		in   []byte
		want []byte
	}{
		{"two", cat(ca, cb), want},
		{"padded", cat(ca, pad, cb, pad), want},
		{"empty streams", cat(ce, ca, ce, pad[:4], cb, ce), want},
		{"only empty", cat(ce, ce), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(nil, tt.in, len(tt.want))
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("Decode = %d bytes, %v; want %d bytes", len(got), err, len(tt.want))
			}
		})
	}
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{"odd padding", cat(ca, pad[:3])},
		{"odd padding between", cat(ca, pad[:5], cb)},
		{"garbage after", cat(ca, []byte("junk"))},
		{"leading padding", cat(pad[:4], ca)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := Decode(nil, tt.in, 1<<30); err == nil {
				t.Fatalf("Decode = %d bytes, want error", len(got))
			} else {
				t.Log(err)
			}
		})
	}
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func TestAppend(t *testing.T) {
	data := sample(100000, 9)
	c := compress(t, data)
	dst := make([]byte, 3, 1000)
	copy(dst, "abc")
	got, err := Decode(dst, c, len(data))
	if err != nil || string(got[:3]) != "abc" || !bytes.Equal(got[3:], data) {
		t.Fatalf("Decode(dst) = %d bytes, %v", len(got), err)
	}
	// With room to spare, dst's array is reused.
	dst = make([]byte, 3, 3+len(data))
	got, err = Decode(dst, c, len(data))
	if err != nil || &got[0] != &dst[0] {
		t.Fatalf("Decode(dst with room) did not reuse dst: %v", err)
	}
	// The limit counts only the appended bytes.
	if _, err := Decode(dst, c, len(data)-1); !errors.Is(err, ErrLimit) {
		t.Fatalf("Decode(dst, limit-1) error = %v, want ErrLimit", err)
	}
}

func TestEmpty(t *testing.T) {
	for _, check := range []string{"none", "crc32", "crc64", "sha256"} {
		c := compress(t, nil, "--check="+check)
		got, err := Decode(nil, c, 0)
		if err != nil || len(got) != 0 {
			t.Errorf("Decode(empty, %s) = %d bytes, %v", check, len(got), err)
		}
	}
	if _, err := Decode(nil, nil, 100); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Decode(nil) error = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestTruncated(t *testing.T) {
	data := sample(200000, 5)
	for _, check := range []string{"none", "crc32", "sha256"} {
		c := compress(t, data, "--check="+check)
		for cut := 0; cut < len(c); cut += 1 + cut/7 {
			got, err := Decode(nil, c[:cut], 1<<30)
			if err == nil {
				t.Fatalf("Decode(%d of %d bytes, %s) = %d bytes, want error", cut, len(c), check, len(got))
			}
			if len(got) != 0 {
				t.Fatalf("Decode(%d of %d bytes) returned %d bytes with the error", cut, len(c), len(got))
			}
		}
		got, err := Decode(nil, c[:len(c)-1], 1<<30)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("Decode(all but one byte) = %d bytes, %v; want io.ErrUnexpectedEOF", len(got), err)
		}
	}
}

func TestCorrupt(t *testing.T) {
	data := sample(100000, 6)
	r := rand.New(rand.NewPCG(5, 6))
	for _, check := range []string{"crc32", "crc64", "sha256"} {
		c := compress(t, data, "--check="+check)
		// Every byte of the headers, index and footer, and a sample of
		// the data, flipped: with a check, every change is caught.
		var offs []int
		for i := 0; i < len(c); i++ {
			if i < 64 || i >= len(c)-64 || r.IntN(20) == 0 {
				offs = append(offs, i)
			}
		}
		for _, i := range offs {
			bad := bytes.Clone(c)
			bad[i] ^= 1 << r.IntN(8)
			got, err := Decode(nil, bad, 1<<30)
			if err == nil {
				t.Fatalf("Decode(%s, byte %d of %d flipped) = %d bytes, want error", check, i, len(c), len(got))
			}
		}
	}
}

func TestUnsupportedFilter(t *testing.T) {
	data := sample(10000, 8)
	for _, f := range []string{"--x86", "--delta=dist=4", "--arm64"} {
		c := compress(t, data, f, "--lzma2=preset=6")
		_, err := Decode(nil, c, 1<<30)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "filter") {
			t.Errorf("Decode(%s) error = %v, want unsupported filter", f, err)
		} else {
			t.Log(err)
		}
	}
}

func TestBomb(t *testing.T) {
	zeros := make([]byte, 64<<20)
	c := compress(t, zeros)
	t.Logf("%d bytes → %d", len(c), len(zeros))
	got, err := Decode(nil, c, 1<<20)
	if !errors.Is(err, ErrLimit) || got != nil {
		t.Fatalf("Decode(bomb) = %d bytes, %v; want nil, ErrLimit", len(got), err)
	}
	got, err = Decode(nil, c, len(zeros))
	if err != nil || !bytes.Equal(got, zeros) {
		t.Fatalf("Decode(zeros) = %d bytes, %v", len(got), err)
	}
}

// modules lists the .ko.xz files of the real Debian 7.2 tree (make trees),
// sorted, or skips (fails under KLPACK_REQUIRE_TOOLS=1).
func modules(t testing.TB) []string {
	t.Helper()
	tree := filepath.Join(testutil.TreesDir(), "7.2")
	var files []string
	filepath.WalkDir(tree, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() && strings.HasSuffix(p, ".ko.xz") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		testutil.Missing(t, "no .ko.xz files under "+tree+" (make trees)")
	}
	sort.Strings(files)
	return files
}

func TestModules(t *testing.T) {
	files := modules(t)
	xz := xzTool(t)
	step := max(1, len(files)/100)
	var d Decoder
	var buf []byte
	n := 0
	for i := 0; i < len(files); i += step {
		c, err := os.ReadFile(files[i])
		if err != nil {
			t.Fatal(err)
		}
		want, err := exec.Command(xz, "-dc", files[i]).Output()
		if err != nil {
			t.Fatalf("xz -dc %s: %v", files[i], err)
		}
		buf, err = d.Decode(buf[:0], c, 1<<30)
		if err != nil {
			t.Fatalf("%s: %v", files[i], err)
		}
		if !bytes.Equal(buf, want) {
			t.Fatalf("%s: decoded %d bytes differ from xz -dc's %d", files[i], len(buf), len(want))
		}
		n++
	}
	t.Logf("%d modules match xz -dc", n)
}

func FuzzDecode(f *testing.F) {
	if _, err := exec.LookPath("xz"); err == nil {
		for i, args := range [][]string{
			{"--check=crc32", "--lzma2=dict=1MiB"}, {"--check=none", "-0"}, {"--check=crc64", "-9"},
			{"--check=sha256"}, {"--lzma2=lc=0,lp=4,pb=0"}, {"--x86", "--lzma2=preset=0"},
		} {
			f.Add(compress(f, sample(50+i*300, uint64(i)), args...))
		}
		f.Add(compress(f, nil))
		f.Add(cat(compress(f, []byte("a")), make([]byte, 4), compress(f, []byte("bc"))))
	}
	const limit = 1 << 20
	var d Decoder
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := d.Decode(nil, in, limit)
		if len(out) > limit {
			t.Fatalf("Decode = %d bytes, past the limit %d", len(out), limit)
		}
		if err != nil && len(out) != 0 {
			t.Fatalf("Decode returned %d bytes with error %v", len(out), err)
		}
		// A fresh decoder agrees with the reused one.
		out2, err2 := Decode(nil, in, limit)
		if (err == nil) != (err2 == nil) || !bytes.Equal(out, out2) {
			t.Fatalf("reused decoder: %d bytes, %v; fresh: %d bytes, %v", len(out), err, len(out2), err2)
		}
	})
}

// FuzzLZMA2 feeds raw LZMA2 data to the chunk decoder, past the container's
// CRCs, which shield it from most of FuzzDecode's mutations.
func FuzzLZMA2(f *testing.F) {
	if _, err := exec.LookPath("xz"); err == nil {
		for i, args := range [][]string{
			{"--lzma2=dict=1MiB"}, {"--lzma2=preset=0"}, {"--lzma2=lc=0,lp=4,pb=4"}, {"--lzma2=lc=4,lp=0,pb=0,mode=fast"},
		} {
			f.Add(compress(f, sample(100+i*2000, uint64(i)), append([]string{"--format=raw"}, args...)...))
		}
	}
	f.Add([]byte{0x01, 0x00, 0x02, 'a', 'b', 'c', 0x02, 0x00, 0x00, 'd', 0x00})
	const limit = 1 << 20
	var d Decoder
	f.Fuzz(func(t *testing.T, in []byte) {
		out, n, err := d.lzma2(nil, in, 1<<16, 0, limit)
		if len(out) > limit {
			t.Fatalf("lzma2 = %d bytes, past the limit %d", len(out), limit)
		}
		if err == nil && (n < 1 || n > len(in) || in[n-1] != 0) {
			t.Fatalf("lzma2 consumed %d of %d bytes", n, len(in))
		}
	})
}
