// Package safeio reads sizes that come from untrusted input without trusting
// them: nothing is allocated because a file claims it is large, memory grows
// only as data actually arrives, and every read is bounded by a limit the
// caller chooses.
//
// Callers may test errors with errors.Is for ErrTooLarge (the data is
// bigger than the caller's limit).
package safeio

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// ErrTooLarge means the data went past the caller's limit.
var ErrTooLarge = errors.New("data exceeds limit")

// firstChunk is the first allocation of ReadAll: small inputs stay small.
const firstChunk = 64 << 10

// ReadAll reads r to EOF and returns the data. It fails with an error
// matching ErrTooLarge as soon as more than limit bytes arrive; it never
// holds more than limit+1 bytes of data, and grows its buffer by doubling
// as data arrives, so it never holds more than twice what it has read
// and copies each byte a bounded number of times.
func ReadAll(r io.Reader, limit int64) ([]byte, error) {
	return ReadAllInto(nil, r, limit)
}

// ReadAllInto is ReadAll into the capacity of dst, for callers that
// reuse one buffer across reads: the data replaces what dst held.
// Its limit counts only the bytes read.
func ReadAllInto(dst []byte, r io.Reader, limit int64) ([]byte, error) {
	if limit < 0 {
		return nil, fmt.Errorf("safeio: negative limit %d", limit)
	}
	// One byte past the limit tells "exactly limit" from "more".
	want := limit
	if want < math.MaxInt64 {
		want++
	}
	buf := dst[:0]
	if cap(buf) == 0 {
		buf = make([]byte, 0, int(min(want, firstChunk)))
	}
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= want {
				return nil, fmt.Errorf("%w of %d bytes", ErrTooLarge, limit)
			}
			grow := min(int64(cap(buf)), want-int64(len(buf)))
			next := make([]byte, len(buf), len(buf)+int(grow))
			copy(next, buf)
			buf = next
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		if n < 0 || n > cap(buf)-len(buf) {
			return nil, fmt.Errorf("safeio: reader returned invalid count %d", n)
		}
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, fmt.Errorf("%w of %d bytes", ErrTooLarge, limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
