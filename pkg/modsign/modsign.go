package modsign

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// Magic ends every signed module.
const Magic = "~Module signature appended~\n"

// moduleSignatureSize is sizeof(struct module_signature).
const moduleSignatureSize = 12

var (
	// ErrNotModule means the input is not an uncompressed ELF file.
	ErrNotModule = errors.New("not an uncompressed ELF module")
	// ErrKeyMismatch means the private key is not the certificate's.
	ErrKeyMismatch = errors.New("private key does not match the certificate")
	// ErrUnsupportedKey means the key is neither RSA nor ECDSA.
	ErrUnsupportedKey = errors.New("unsupported key type")
	// ErrUnknownHash means a hash name modsign does not offer.
	ErrUnknownHash = errors.New("unknown hash algorithm")
)

// Options say how to sign.
type Options struct {
	// Hash is sha256 (the default), sha384 or sha512.
	Hash string
	// KeyID identifies the signer by the certificate's subject key
	// identifier instead of its issuer and serial number (sign-file -k).
	KeyID bool
}

var hashes = map[string]struct {
	h   crypto.Hash
	oid asn1.ObjectIdentifier
}{
	"sha256": {crypto.SHA256, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}},
	"sha384": {crypto.SHA384, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}},
	"sha512": {crypto.SHA512, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}},
}

var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidECDSAWith     = map[crypto.Hash]asn1.ObjectIdentifier{
		crypto.SHA256: {1, 2, 840, 10045, 4, 3, 2},
		crypto.SHA384: {1, 2, 840, 10045, 4, 3, 3},
		crypto.SHA512: {1, 2, 840, 10045, 4, 3, 4},
	}
)

// The PKCS#7 (RFC 2315) structures sign-file's output holds.
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"optional"` // [0] EXPLICIT, built by hand
}

type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	ContentInfo      contentInfo
	SignerInfos      []signerInfo `asn1:"set"`
}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type signerInfo struct {
	Version            int
	SID                asn1.RawValue // issuerAndSerialNumber or [0] subjectKeyIdentifier
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
}

// Strip returns module without an appended signature, and whether it had
// one. A trailer whose lengths do not fit is a *FormatError.
func Strip(module []byte) ([]byte, bool, error) {
	t, err := readTrailer(module)
	switch {
	case errors.Is(err, ErrNoSignature):
		return module, false, nil
	case err != nil:
		return nil, false, err
	}
	return module[:t.moduleLen], true, nil
}

// Signature returns the PKCS#7 DER signature of module by key under cert.
func Signature(module []byte, cert *x509.Certificate, key crypto.Signer, o Options) ([]byte, error) {
	name := o.Hash
	if name == "" {
		name = "sha256"
	}
	alg, ok := hashes[name]
	if !ok {
		return nil, fmt.Errorf("%q: %w", name, ErrUnknownHash)
	}
	if !publicEqual(cert.PublicKey, key.Public()) {
		return nil, ErrKeyMismatch
	}
	var sigAlg pkix.AlgorithmIdentifier
	switch key.Public().(type) {
	case *rsa.PublicKey:
		sigAlg = pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue}
	case *ecdsa.PublicKey:
		sigAlg = pkix.AlgorithmIdentifier{Algorithm: oidECDSAWith[alg.h]}
	default:
		return nil, fmt.Errorf("%s: %w (want RSA or ECDSA)", keyKind(key.Public()), ErrUnsupportedKey)
	}
	h := alg.h.New()
	h.Write(module)
	sig, err := key.Sign(rand.Reader, h.Sum(nil), alg.h)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	si := signerInfo{Version: 1, DigestAlgorithm: pkix.AlgorithmIdentifier{Algorithm: alg.oid}, SignatureAlgorithm: sigAlg, Signature: sig}
	if o.KeyID {
		if len(cert.SubjectKeyId) == 0 {
			return nil, errors.New("certificate has no subject key identifier")
		}
		si.Version = 3
		si.SID = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, Bytes: cert.SubjectKeyId}
	} else {
		b, err := asn1.Marshal(issuerAndSerial{Issuer: asn1.RawValue{FullBytes: cert.RawIssuer}, Serial: cert.SerialNumber})
		if err != nil {
			return nil, err
		}
		si.SID = asn1.RawValue{FullBytes: b}
	}
	sd := signedData{
		Version:          1,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{{Algorithm: alg.oid}},
		ContentInfo:      contentInfo{ContentType: oidData},
		SignerInfos:      []signerInfo{si},
	}
	if o.KeyID {
		sd.Version = 3
	}
	inner, err := asn1.Marshal(sd)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(contentInfo{ContentType: oidSignedData, Content: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}})
}

func publicEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// Append writes module, its signature, struct module_signature and the
// magic to w. A signature already on the module is replaced.
func Append(w io.Writer, module []byte, cert *x509.Certificate, key crypto.Signer, o Options) error {
	if len(module) == 0 {
		return fmt.Errorf("empty file: %w", ErrNotModule)
	}
	if len(module) < 4 || string(module[:4]) != "\x7fELF" {
		return ErrNotModule
	}
	module, _, err := Strip(module)
	if err != nil {
		return err
	}
	sig, err := Signature(module, cert, key, o)
	if err != nil {
		return err
	}
	var ms [moduleSignatureSize]byte
	ms[2] = idPKCS7
	binary.BigEndian.PutUint32(ms[8:], uint32(len(sig)))
	for _, b := range [][]byte{module, sig, ms[:], []byte(Magic)} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// hash functions are linked in for crypto.Hash.New.
var _, _ = sha256.New, sha512.New

// keyKind names a public key's algorithm as people know it, never as a
// Go type.
func keyKind(pub crypto.PublicKey) string {
	switch pub.(type) {
	case ed25519.PublicKey:
		return "an Ed25519 key"
	case *ecdh.PublicKey:
		return "an X25519 or ECDH key"
	}
	return "a key of an unknown algorithm"
}
