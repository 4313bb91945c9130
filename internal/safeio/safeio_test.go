package safeio

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"
)

// endless yields zero bytes forever, like a decompression bomb.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	clear(p)
	e.n += int64(len(p))
	return len(p), nil
}

func TestReadAll(t *testing.T) {
	data := bytes.Repeat([]byte("klpack"), 50000) // 300,000 bytes: several growth steps
	tests := []struct {
		name    string
		r       io.Reader
		limit   int64
		want    []byte
		wantErr error
	}{
		{"empty", strings.NewReader(""), 0, []byte{}, nil},
		{"empty with room", strings.NewReader(""), 10, []byte{}, nil},
		{"exactly limit", bytes.NewReader(data), int64(len(data)), data, nil},
		{"below limit", bytes.NewReader(data), int64(len(data)) + 1, data, nil},
		{"one past limit", bytes.NewReader(data), int64(len(data)) - 1, nil, ErrTooLarge},
		{"zero limit", strings.NewReader("x"), 0, nil, ErrTooLarge},
		{"one byte reads", iotest.OneByteReader(bytes.NewReader(data[:1000])), 1000, data[:1000], nil},
		{"data with EOF", iotest.DataErrReader(bytes.NewReader(data)), math.MaxInt64, data, nil},
		{"reader error", iotest.ErrReader(io.ErrClosedPipe), 10, nil, io.ErrClosedPipe},
		{"bomb", &endless{}, 1 << 20, nil, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadAll(tt.r, tt.limit)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadAll() error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if got != nil {
					t.Errorf("ReadAll() = %d bytes with error, want nil", len(got))
				}
				return
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("ReadAll() = %d bytes, want %d", len(got), len(tt.want))
			}
		})
	}
}

func TestReadAllNegativeLimit(t *testing.T) {
	if _, err := ReadAll(strings.NewReader("x"), -1); err == nil {
		t.Fatal("ReadAll(limit -1) succeeded, want error")
	}
}

func TestReadAllBombStopsEarly(t *testing.T) {
	e := &endless{}
	_, err := ReadAll(e, 3<<20)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("ReadAll() error = %v, want ErrTooLarge", err)
	}
	if e.n > 8<<20 {
		t.Errorf("ReadAll() consumed %d bytes of a bomb with limit %d", e.n, 3<<20)
	}
}

func TestRange(t *testing.T) {
	tests := []struct {
		off, n, size int64
		ok           bool
	}{
		{0, 0, 0, true},
		{0, 10, 10, true},
		{10, 0, 10, true},
		{5, 5, 10, true},
		{5, 6, 10, false},
		{11, 0, 10, false},
		{-1, 1, 10, false},
		{1, -1, 10, false},
		{0, 1, -1, false},
		{math.MaxInt64, math.MaxInt64, math.MaxInt64, false},
		{1, math.MaxInt64, math.MaxInt64, false},
		{math.MaxInt64, 1, math.MaxInt64, false},
	}
	for _, tt := range tests {
		err := Range(tt.off, tt.n, tt.size)
		if (err == nil) != tt.ok {
			t.Errorf("Range(%d, %d, %d) = %v, want ok=%v", tt.off, tt.n, tt.size, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrOutOfBounds) {
			t.Errorf("Range(%d, %d, %d) = %v, want ErrOutOfBounds", tt.off, tt.n, tt.size, err)
		}
	}
}

// liar is an io.ReaderAt that claims more data than it has.
type liar struct{ data []byte }

func (l liar) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(l.data).ReadAt(p, off)
}

func TestReadAt(t *testing.T) {
	data := bytes.Repeat([]byte{1, 2, 3, 4}, 1000)
	r := bytes.NewReader(data)
	size := int64(len(data))
	tests := []struct {
		name    string
		r       io.ReaderAt
		off, n  int64
		size    int64
		want    []byte
		wantErr error
	}{
		{"whole", r, 0, size, size, data, nil},
		{"middle", r, 100, 20, size, data[100:120], nil},
		{"empty at end", r, size, 0, size, []byte{}, nil},
		{"past end", r, size - 1, 2, size, nil, ErrOutOfBounds},
		{"overflow", r, 1, math.MaxInt64, size, nil, ErrOutOfBounds},
		{"negative", r, -1, 1, size, nil, ErrOutOfBounds},
		{"short reader", liar{data[:10]}, 0, 20, 20, nil, io.ErrUnexpectedEOF},
		// A claimed size of 1 TiB must fail on the real data, not on a
		// 1 TiB allocation.
		{"huge claim", liar{data}, 0, 1 << 40, 1 << 40, nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadAt(tt.r, tt.off, tt.n, tt.size)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadAt(%d, %d, %d) error = %v, want %v", tt.off, tt.n, tt.size, err, tt.wantErr)
			}
			if err == nil && !bytes.Equal(got, tt.want) {
				t.Errorf("ReadAt(%d, %d, %d) = %d bytes, want %d", tt.off, tt.n, tt.size, len(got), len(tt.want))
			}
		})
	}
}
