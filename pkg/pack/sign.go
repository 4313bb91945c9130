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
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/safetext"
)

var (
	// ErrSign means signing a package failed.
	ErrSign = errors.New("signing failed")
	// ErrBadPassphrase means the passphrase does not unlock the key.
	ErrBadPassphrase = errors.New("wrong passphrase")
	// ErrBadSignature means a signer's output is no detached OpenPGP
	// signature of the data it was given (by the expected key, when one
	// is known).
	ErrBadSignature = errors.New("bad signature")
)

// SignError is a failure to sign a package; it matches ErrSign.
type SignError struct{ Err error }

func (e *SignError) Error() string        { return "sign: " + e.Err.Error() }
func (e *SignError) Unwrap() error        { return e.Err }
func (e *SignError) Is(target error) bool { return target == ErrSign }

const (
	// maxKey bounds a key file, secret or public: a keyring of a few
	// keys is some kilobytes.
	maxKey = 1 << 20
	// maxSignature bounds what a sign command may print: a signature is
	// under a kilobyte for RSA-4096, a few with notations or armor.
	maxSignature = 64 << 10
	// maxSignStderr is how much of a failing sign command's standard
	// error is kept for the message.
	maxSignStderr = 500
	// maxSigned bounds the data signed: a package, which rpm sizes in 32
	// bits.
	maxSigned = 1<<32 - 1
)

// signHashes are the digests a package signature may use: what rpm and
// debsig-verify accept and nothing weaker.
var signHashes = []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512}

// readKeyRing reads an OpenPGP keyring file, armored or binary.
func readKeyRing(file string) (openpgp.EntityList, error) {
	b, err := safeio.ReadFile(file, maxKey)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	var r io.Reader = bytes.NewReader(b)
	if blk, err := armor.Decode(bytes.NewReader(b)); err == nil {
		r = blk.Body
	}
	ents, err := openpgp.ReadKeyRing(r)
	if err != nil {
		return nil, fmt.Errorf("file %s: not an OpenPGP key: %v", file, err)
	}
	return ents, nil
}

// OpenPGPSigner reads an OpenPGP secret key (armored or binary) and returns
// a signer making binary detached SHA-256 signatures, which rpm and
// debsig-verify both read; each is verified with the key before it is
// used. An encrypted key is unlocked in memory with passphrase; the key
// is never written anywhere, and errors never quote key material or the
// passphrase.
func OpenPGPSigner(keyFile string, passphrase []byte) (SignFunc, error) {
	ent, err := secretKey(keyFile, passphrase)
	if err != nil {
		return nil, err
	}
	cfg := &packet.Config{DefaultHash: crypto.SHA256}
	return verified(openpgp.EntityList{ent}, func(data []byte) ([]byte, error) {
		var sig bytes.Buffer
		if err := openpgp.DetachSign(&sig, ent, bytes.NewReader(data), cfg); err != nil {
			return nil, err
		}
		return sig.Bytes(), nil
	}), nil
}

// ReadPublicKeys reads OpenPGP public keys (armored or binary) to check
// a sign command's signatures with.
func ReadPublicKeys(file string) (openpgp.EntityList, error) {
	ents, err := readKeyRing(file)
	if err != nil {
		return nil, err
	}
	if len(ents) == 0 {
		return nil, fmt.Errorf("file %s: no OpenPGP key", file)
	}
	return ents, nil
}

// CommandSigner runs a signing command (sh -c command) for each package
// with the data to sign on its standard input; it must print a detached
// OpenPGP signature, binary or armored. This is the hook for a KMS or HSM
// signer. What it prints is read up to a bound and checked by
// VerifySignature, with keyring when it is not nil, before it is used.
func CommandSigner(ctx context.Context, command string, keyring openpgp.EntityList) SignFunc {
	return verified(keyring, func(data []byte) ([]byte, error) {
		return runSignCommand(ctx, command, data)
	})
}

// verified wraps sign so that every signature it makes is checked by
// VerifySignature before a package gets it.
func verified(keyring openpgp.EntityList, sign func(data []byte) ([]byte, error)) SignFunc {
	return func(data io.Reader) ([]byte, error) {
		b, err := safeio.ReadAll(data, maxSigned)
		if err != nil {
			return nil, fmt.Errorf("data to sign: %w", err)
		}
		sig, err := sign(b)
		if err != nil {
			return nil, err
		}
		return VerifySignature(b, sig, keyring)
	}
}

// errOutputFull stops a command printing past a boundedBuffer.
var errOutputFull = errors.New("output over its limit")

// boundedBuffer keeps at most max bytes of what is written to it. Past
// that it fails the write, which makes exec close the pipe and the
// command stop, or, when truncate is set, drops the rest quietly.
type boundedBuffer struct {
	buf      bytes.Buffer
	max      int
	truncate bool
	full     bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	room := b.max - b.buf.Len()
	if len(p) <= room {
		return b.buf.Write(p)
	}
	b.full = true
	if !b.truncate {
		return 0, errOutputFull
	}
	b.buf.Write(p[:room])
	return len(p), nil
}

func runSignCommand(ctx context.Context, command string, data []byte) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Stdin = bytes.NewReader(data)
	out := &boundedBuffer{max: maxSignature}
	errb := &boundedBuffer{max: maxSignStderr, truncate: true}
	cmd.Stdout, cmd.Stderr = out, errb
	// A process the command left behind holding its output must not
	// hold us: after this long its pipes are closed.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	switch {
	case out.full:
		return nil, fmt.Errorf("sign command: printed more than %d bytes: %w", maxSignature, ErrBadSignature)
	case err != nil:
		msg := strings.TrimSpace(errb.buf.String())
		return nil, fmt.Errorf("sign command: %v: %s", err, safetext.Quote(msg))
	case out.buf.Len() == 0:
		return nil, fmt.Errorf("sign command printed no signature: %w", ErrBadSignature)
	}
	return out.buf.Bytes(), nil
}

// VerifySignature checks that sig, armored or binary, is one detached
// OpenPGP signature of data, as rpm and debsig-verify read it: a
// version 4 signature of a binary document with SHA-256, -384 or -512,
// and nothing else. Without keyring, what can be checked without a key is
// checked: the digest's first two bytes, which the signature carries,
// match data's (another document's passes once in 65,536). With keyring,
// the signature must also verify with one of its keys. It returns the
// binary signature; errors match ErrBadSignature.
func VerifySignature(data, sig []byte, keyring openpgp.EntityList) ([]byte, error) {
	bad := func(format string, args ...any) ([]byte, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrBadSignature}, args...)...)
	}
	bin := sig
	if blk, err := armor.Decode(bytes.NewReader(sig)); err == nil {
		if blk.Type != openpgp.SignatureType {
			return bad("armored %q, want %q", safetext.Quote(blk.Type), openpgp.SignatureType)
		}
		if bin, err = safeio.ReadAll(blk.Body, int64(len(sig))); err != nil {
			return bad("armor: %v", err)
		}
	}
	if len(bin) == 0 {
		return bad("empty")
	}
	r := bytes.NewReader(bin)
	p, err := packet.Read(r)
	if err != nil {
		return bad("not an OpenPGP packet: %v", err)
	}
	s, ok := p.(*packet.Signature)
	switch {
	case !ok:
		return bad("an OpenPGP %T, want a signature", p)
	case r.Len() != 0:
		return bad("%d bytes after the signature", r.Len())
	case s.Version != 4:
		return bad("version %d signature, want 4", s.Version)
	case s.SigType != packet.SigTypeBinary:
		return bad("signature type %#02x, want %#02x (a binary document)", uint8(s.SigType), uint8(packet.SigTypeBinary))
	case !slices.Contains(signHashes, s.Hash):
		return bad("hash %v, want SHA-256, SHA-384 or SHA-512", s.Hash)
	}
	h, err := s.PrepareVerify()
	if err != nil {
		return bad("%v", err)
	}
	h.Write(data)
	h.Write(s.HashSuffix)
	if d := h.Sum(nil); d[0] != s.HashTag[0] || d[1] != s.HashTag[1] {
		return bad("it signs other data: its digest starts %x, the data's %x", s.HashTag, d[:2])
	}
	if keyring != nil {
		if _, err := openpgp.CheckDetachedSignatureAndHash(keyring, bytes.NewReader(data), bytes.NewReader(bin), signHashes, nil); err != nil {
			return bad("not a valid signature by the given keys: %v", err)
		}
	}
	return bin, nil
}

// maxPassphraseFile bounds a passphrase file.
const maxPassphraseFile = 4096

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
		b, err := safeio.ReadFile(file, maxPassphraseFile)
		if err != nil {
			return nil, fmt.Errorf("passphrase: %w", err)
		}
		defer clear(b)
		line, _, _ := bytes.Cut(b, []byte("\n"))
		return bytes.Clone(bytes.TrimSuffix(line, []byte("\r"))), nil
	}
	return nil, nil
}
