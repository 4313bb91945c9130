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
