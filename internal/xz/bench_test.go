package xz

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	txz "github.com/therootcompany/xz"
	uxz "github.com/ulikunitz/xz"

	"github.com/klpack/klpack/internal/testutil"
)

// cpuTime is the user+system CPU time used so far by this process (who =
// syscall.RUSAGE_SELF) or its waited-for children (RUSAGE_CHILDREN). The
// machine may be busy with other work; CPU time measures the decoder, not
// the scheduler.
func cpuTime(b *testing.B, who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the throughput over CPU time since start as cpuMB/s.
func reportCPU(b *testing.B, who int, start time.Duration, size int) {
	if d := cpuTime(b, who) - start; d > 0 {
		b.ReportMetric(float64(size)*float64(b.N)/d.Seconds()/1e6, "cpuMB/s")
	}
}

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
		decodeLoop(b, files, size)
	})
	b.Run("therootcompany", func(b *testing.B) {
		b.SetBytes(int64(size))
		r, err := txz.NewReader(nil, 64<<20)
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		start := cpuTime(b, syscall.RUSAGE_SELF)
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
		reportCPU(b, syscall.RUSAGE_SELF, start, size)
	})
	b.Run("xz-dc", func(b *testing.B) {
		xz := xzTool(b)
		b.SetBytes(int64(size))
		start := cpuTime(b, syscall.RUSAGE_CHILDREN)
		for b.Loop() {
			cmd := exec.Command(xz, append([]string{"-dc"}, names...)...)
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, syscall.RUSAGE_CHILDREN, start, size)
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
	decodeLoop(b, files, size)
}

// decodeLoop decodes every file per iteration with one reused decoder and
// reports CPU throughput.
func decodeLoop(b *testing.B, files [][]byte, size int) {
	var d Decoder
	var buf []byte
	start := cpuTime(b, syscall.RUSAGE_SELF)
	for b.Loop() {
		for _, c := range files {
			var err error
			if buf, err = d.Decode(buf[:0], c, 1<<30); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportCPU(b, syscall.RUSAGE_SELF, start, size)
}

// BenchmarkDecodeModule decodes one committed module, a real kbuild .ko.xz
// (CRC32, 1 MiB dictionary), with this package and with
// github.com/ulikunitz/xz, which FuzzDifferential checks it against: the
// hand-written decoder has to stay faster to be worth its code.
func BenchmarkDecodeModule(b *testing.B) {
	c, err := os.ReadFile(filepath.Join(testutil.Root(), "testdata", "ko", "6.12.117+deb12-amd64", "lp_replace.ko.xz"))
	if err != nil {
		b.Fatal(err)
	}
	want, err := Decode(nil, c, 1<<30)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("internal", func(b *testing.B) {
		b.SetBytes(int64(len(want)))
		b.ReportAllocs()
		decodeLoop(b, [][]byte{c}, len(want))
	})
	b.Run("ulikunitz", func(b *testing.B) {
		b.SetBytes(int64(len(want)))
		b.ReportAllocs()
		var buf bytes.Buffer
		start := cpuTime(b, syscall.RUSAGE_SELF)
		for b.Loop() {
			r, err := uxz.NewReader(bytes.NewReader(c))
			if err != nil {
				b.Fatal(err)
			}
			buf.Reset()
			if _, err := io.Copy(&buf, r); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, syscall.RUSAGE_SELF, start, len(want))
		if !bytes.Equal(buf.Bytes(), want) {
			b.Fatalf("ulikunitz decoded %d bytes, ours %d that differ", buf.Len(), len(want))
		}
	})
}
