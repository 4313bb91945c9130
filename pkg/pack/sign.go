package pack

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/klpack/klpack/internal/safeio"
)

var (
	// ErrSign means signing a package failed.
	ErrSign = errors.New("signing failed")
	// ErrBadPassphrase means the passphrase does not unlock the key.
	ErrBadPassphrase = errors.New("wrong passphrase")
)

// SignError is a failure to sign a package; it matches ErrSign.
type SignError struct{ Err error }

func (e *SignError) Error() string        { return "sign: " + e.Err.Error() }
func (e *SignError) Unwrap() error        { return e.Err }
func (e *SignError) Is(target error) bool { return target == ErrSign }

// maxKey bounds a key file.
const maxKey = 1 << 20

// OpenPGPSigner reads an OpenPGP secret key (armored or binary) and returns
// a signer making binary detached SHA-256 signatures, which rpm and
// debsig-verify both read. An encrypted key is unlocked in memory with
// passphrase; the key is never written anywhere, and errors never quote
// key material or the passphrase.
func OpenPGPSigner(keyFile string, passphrase []byte) (SignFunc, error) {
	f, err := os.Open(keyFile)
	if err != nil {
		return nil, err
	}
	b, err := safeio.ReadAll(f, maxKey)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", keyFile, err)
	}
	defer clear(b)
	var r io.Reader = bytes.NewReader(b)
	if blk, err := armor.Decode(bytes.NewReader(b)); err == nil {
		r = blk.Body
	}
	ents, err := openpgp.ReadKeyRing(r)
	if err != nil {
		return nil, fmt.Errorf("file %s: not an OpenPGP key: %v", keyFile, err)
	}
	var ent *openpgp.Entity
	for _, e := range ents {
		if e.PrivateKey != nil {
			ent = e
			break
		}
	}
	if ent == nil {
		return nil, fmt.Errorf("file %s: no OpenPGP secret key", keyFile)
	}
	if ent.PrivateKey.Encrypted {
		if len(passphrase) == 0 {
			return nil, fmt.Errorf("file %s: key is encrypted and no passphrase was given", keyFile)
		}
		if err := ent.DecryptPrivateKeys(passphrase); err != nil {
			return nil, fmt.Errorf("file %s: %w", keyFile, ErrBadPassphrase)
		}
	}
	cfg := &packet.Config{DefaultHash: crypto.SHA256}
	return func(data io.Reader) ([]byte, error) {
		var sig bytes.Buffer
		if err := openpgp.DetachSign(&sig, ent, data, cfg); err != nil {
			return nil, err
		}
		return sig.Bytes(), nil
	}, nil
}

// CommandSigner runs a signing command (sh -c command) for each package
// with the data to sign on its standard input; it must print a detached
// OpenPGP signature. This is the hook for a KMS or HSM signer.
func CommandSigner(ctx context.Context, command string) SignFunc {
	return func(data io.Reader) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "sh", "-c", command)
		cmd.Stdin = data
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			msg := strings.TrimSpace(errb.String())
			if len(msg) > 500 {
				msg = msg[:500]
			}
			return nil, fmt.Errorf("sign command: %v: %s", err, msg)
		}
		if out.Len() == 0 {
			return nil, errors.New("sign command printed no signature")
		}
		return out.Bytes(), nil
	}
}

// ReadPassphrase returns the passphrase from an environment variable or
// a file (its first line), whichever is named.
func ReadPassphrase(env, file string) ([]byte, error) {
	switch {
	case env != "" && file != "":
		return nil, errors.New("passphrase: give an environment variable or a file, not both")
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return nil, fmt.Errorf("passphrase: environment variable %s is not set", env)
		}
		return []byte(v), nil
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("passphrase: %w", err)
		}
		defer f.Close()
		b, err := safeio.ReadAll(f, 4096)
		if err != nil {
			return nil, fmt.Errorf("passphrase: file %s: %w", file, err)
		}
		line, _, _ := bytes.Cut(b, []byte("\n"))
		return bytes.TrimSuffix(line, []byte("\r")), nil
	}
	return nil, nil
}
