package pack

import (
	"bytes"
	"crypto"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// OpenPGPClearSigner reads an OpenPGP secret key as OpenPGPSigner does and
// returns a signer making clearsigned documents (an apt InRelease): the
// text and a SHA-256 text-mode signature in one armored file. A detached
// signature of the bytes cannot stand in for it, since a clearsigned text
// is signed in canonical form (CRLF line ends, trailing blanks dropped),
// so a sign command cannot make one. Each document is decoded and
// verified with the key, and its text compared with the input, before it
// is returned; input whose lines end in blanks is refused, since the
// signed text would differ from it.
func OpenPGPClearSigner(keyFile string, passphrase []byte) (func(data []byte) ([]byte, error), error) {
	ent, err := secretKey(keyFile, passphrase)
	if err != nil {
		return nil, err
	}
	keyring := openpgp.EntityList{ent}
	cfg := &packet.Config{DefaultHash: crypto.SHA256}
	return func(data []byte) ([]byte, error) {
		var out bytes.Buffer
		w, err := clearsign.Encode(&out, ent.PrivateKey, cfg)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		blk, rest := clearsign.Decode(out.Bytes())
		switch {
		case blk == nil:
			return nil, fmt.Errorf("%w: the clearsigned document does not decode", ErrBadSignature)
		case len(bytes.TrimSpace(rest)) != 0:
			return nil, fmt.Errorf("%w: %d bytes after the clearsigned document", ErrBadSignature, len(rest))
		case !bytes.Equal(blk.Plaintext, data):
			return nil, fmt.Errorf("%w: the clearsigned text differs from the input (lines ending in blanks?)", ErrBadSignature)
		}
		if _, err := blk.VerifySignature(keyring, nil); err != nil {
			return nil, fmt.Errorf("%w: the clearsigned document does not verify: %v", ErrBadSignature, err)
		}
		return out.Bytes(), nil
	}, nil
}

// secretKey is the first secret key of keyFile, unlocked in memory with
// passphrase when it is encrypted; errors never quote key material or the
// passphrase.
func secretKey(keyFile string, passphrase []byte) (*openpgp.Entity, error) {
	ents, err := readKeyRing(keyFile)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if e.PrivateKey == nil {
			continue
		}
		if e.PrivateKey.Encrypted {
			if len(passphrase) == 0 {
				return nil, fmt.Errorf("file %s: key is encrypted and no passphrase was given", keyFile)
			}
			if err := e.DecryptPrivateKeys(passphrase); err != nil {
				return nil, fmt.Errorf("file %s: %w", keyFile, ErrBadPassphrase)
			}
		}
		return e, nil
	}
	return nil, fmt.Errorf("file %s: no OpenPGP secret key", keyFile)
}

// OpenPGPPublicKey returns the armored public key of the first key in
// keyFile (a secret or a public key, armored or binary): the file a host
// trusts the repositories with (apt's signed-by=, dnf's gpgkey=). Only
// public parts are written, whatever keyFile holds.
func OpenPGPPublicKey(keyFile string) ([]byte, error) {
	ents, err := readKeyRing(keyFile)
	if err != nil {
		return nil, err
	}
	if len(ents) == 0 {
		return nil, fmt.Errorf("file %s: no OpenPGP key", keyFile)
	}
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := ents[0].Serialize(w); err != nil {
		return nil, fmt.Errorf("file %s: %v", keyFile, err)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}
