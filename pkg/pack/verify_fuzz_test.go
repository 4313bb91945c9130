package pack

import (
	"bytes"
	"crypto"
	"errors"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

// FuzzVerifySignature feeds VerifySignature what a sign command might
// print. An accepted signature is binary, accepted again as it is (it
// round-trips), and verifies with the key when one was given; a refused
// one is ErrBadSignature with nothing returned.
func FuzzVerifySignature(f *testing.F) {
	key := edKey(f, 1)
	ring := openpgp.EntityList{key}
	data := []byte("the package header and payload")
	good := detach(f, key, data, crypto.SHA256)
	f.Add(data, good, true)
	f.Add(data, good, false)
	f.Add(data, armored(f, openpgp.SignatureType, good), true)
	f.Add([]byte("other"), good, false)
	f.Add(data, detach(f, edKey(f, 2), data, crypto.SHA512), true)
	f.Add(data, weakSig(f, key, data), false)
	f.Add(data, []byte("garbage"), false)
	f.Fuzz(func(t *testing.T, data, sig []byte, withKey bool) {
		var kr openpgp.EntityList
		if withKey {
			kr = ring
		}
		got, err := VerifySignature(data, sig, kr)
		if err != nil {
			if got != nil || !errors.Is(err, ErrBadSignature) {
				t.Fatalf("VerifySignature = %d bytes, %v, want nil and ErrBadSignature", len(got), err)
			}
			return
		}
		if _, aerr := armor.Decode(bytes.NewReader(got)); aerr == nil {
			t.Fatal("VerifySignature returned an armored signature")
		}
		again, err := VerifySignature(data, got, kr)
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("the accepted signature is refused on a second look: %v", err)
		}
		if withKey {
			if _, err := openpgp.CheckDetachedSignature(ring, bytes.NewReader(data), bytes.NewReader(got), nil); err != nil {
				t.Fatalf("accepted with the key, but it does not verify: %v", err)
			}
		}
	})
}
