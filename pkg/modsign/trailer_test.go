package modsign_test

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/klpack/klpack/pkg/modsign"
)

// trailer is a module of n bytes ending in a legacy signature trailer:
// signer and key id bytes, then sig bytes of signature, then struct
// module_signature claiming the lengths given, then the magic.
func trailer(n, signer, keyID, sig int, claimSig uint32) []byte {
	b := []byte(strings.Repeat("m", n) + strings.Repeat("s", signer) + strings.Repeat("k", keyID) + strings.Repeat("d", sig))
	ms := make([]byte, 12)
	ms[3], ms[4] = byte(signer), byte(keyID)
	binary.BigEndian.PutUint32(ms[8:], claimSig)
	return append(append(b, ms...), modsign.Magic...)
}

// TestStripTrailer: Strip cuts exactly the trailer, and refuses one whose
// lengths do not fit in what precedes them, without panicking.
func TestStripTrailer(t *testing.T) {
	tests := []struct {
		name    string
		b       []byte
		wantLen int // of the module proper; -1: a *FormatError
		signed  bool
	}{
		{"no magic", []byte("plain module"), 12, false},
		{"trailer", trailer(10, 2, 3, 4, 4), 10, true},
		{"trailer is everything", trailer(0, 2, 3, 4, 4), 0, true},
		{"lengths one past the start", trailer(0, 2, 3, 4, 5), -1, false},
		{"sig_len far past the start", trailer(10, 0, 0, 4, 1<<31), -1, false},
		{"magic alone", []byte(modsign.Magic), -1, false},
		{"magic after 11 bytes", append([]byte(strings.Repeat("x", 11)), modsign.Magic...), -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, signed, err := modsign.Strip(tt.b)
			if tt.wantLen < 0 {
				if _, ok := errors.AsType[*modsign.FormatError](err); !ok {
					t.Fatalf("Strip() = %d bytes, %v, %v; want a *FormatError", len(got), signed, err)
				}
				return
			}
			if err != nil || signed != tt.signed || len(got) != tt.wantLen {
				t.Fatalf("Strip() = %d bytes, %v, %v; want %d bytes, signed %v", len(got), signed, err, tt.wantLen, tt.signed)
			}
		})
	}
}
