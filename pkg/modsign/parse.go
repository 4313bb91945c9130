package modsign

import (
	encasn1 "encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/klpack/klpack/pkg/klp"
)

// ErrNoSignature means the module carries no appended signature: it does
// not end with Magic.
var ErrNoSignature = errors.New("no module signature")

// FormatError reports a malformed signature: a trailer whose lengths do not
// fit, a field kmod does not know, or PKCS#7 that does not read. Off is
// where in the signed module the fault lies.
type FormatError struct {
	Off int
	Msg string
}

func (e *FormatError) Error() string { return e.Msg }

func formatErr(off int, format string, args ...any) *FormatError {
	return &FormatError{Off: off, Msg: fmt.Sprintf(format, args...)}
}

// A signed module is laid out as (include/linux/module_signature.h,
// scripts/sign-file.c):
//
//	[ module                  ]
//	[ signer's name           ]  signer_len bytes, legacy layout only
//	[ key identifier          ]  key_id_len bytes, legacy layout only
//	[ signature data          ]  sig_len bytes: PKCS#7 DER, or raw
//	[ struct module_signature ]  12 bytes
//	[ Magic                   ]
//
// struct module_signature is algo, hash, id_type, signer_len, key_id_len
// (one byte each), three bytes of padding, then sig_len as a big-endian
// u32.
type trailer struct {
	algo, hash, idType  byte
	signer, keyID, data []byte
	moduleLen           int // the module proper is b[:moduleLen]
	structOff           int // where struct module_signature starts
}

// readTrailer splits b into the module proper and its signature trailer.
func readTrailer(b []byte) (trailer, error) {
	if len(b) < len(Magic) || string(b[len(b)-len(Magic):]) != Magic {
		return trailer{}, ErrNoSignature
	}
	end := len(b) - len(Magic)
	if end < moduleSignatureSize {
		return trailer{}, formatErr(end, "signature magic without struct module_signature: %d bytes before the magic", end)
	}
	end -= moduleSignatureSize
	ms := b[end : end+moduleSignatureSize]
	signerLen, keyIDLen := int(ms[3]), int(ms[4])
	sigLen := uint64(binary.BigEndian.Uint32(ms[8:]))
	// All three lengths are below 2^33, so the sum cannot overflow.
	if total := sigLen + uint64(signerLen) + uint64(keyIDLen); total > uint64(end) {
		return trailer{}, formatErr(end, "signature of %d bytes (sig_len %d, signer_len %d, key_id_len %d) exceeds the %d bytes before it",
			total, sigLen, signerLen, keyIDLen, end)
	}
	sigOff := end - int(sigLen)
	keyOff := sigOff - keyIDLen
	signerOff := keyOff - signerLen
	return trailer{
		algo: ms[0], hash: ms[1], idType: ms[2],
		signer: b[signerOff:keyOff], keyID: b[keyOff:sigOff], data: b[sigOff:end],
		moduleLen: signerOff, structOff: end,
	}, nil
}

// Key identifier types, struct module_signature.id_type.
const (
	idPGP  = 0
	idX509 = 1
	// idPKCS7 is the id_type sign-file writes, and Append.
	idPKCS7 = 2
)

// sigIDNames are modinfo's sig_id values, by id_type.
var sigIDNames = [...]string{idPGP: "PGP", idX509: "X509", idPKCS7: "PKCS#7"}

// sigAlgoCount is the number of public-key algorithms kmod knows (DSA,
// RSA); a larger algo byte makes kmod ignore the signature.
const sigAlgoCount = 2

// legacyHashNames are modinfo's sig_hashalgo values for the hash byte of
// the legacy (non-PKCS#7) layout, by enum pkey_hash_algo.
var legacyHashNames = [...]string{"md4", "md5", "sha1", "rmd160", "sha256", "sha384", "sha512", "sha224", "sm3"}

// Parse reads the signature appended to the module bytes b. It returns the
// signature in modinfo's words and the length of the module proper
// (b[:moduleLen] is the ELF file). It returns ErrNoSignature when b does
// not end with Magic, and a *FormatError when a signature is there but
// malformed.
//
// The signer, key and hash are what kmod's modinfo prints (kmod's
// libkmod-signature.c with OpenSSL), with two deliberate differences:
// modinfo silently shows no signature where this reports a malformed one,
// and it cannot read a PKCS#7 signer identified by subjectKeyIdentifier,
// which this reports with an empty signer and the identifier as key.
func Parse(b []byte) (sig *klp.Signature, moduleLen int, err error) {
	t, err := readTrailer(b)
	if err != nil {
		return nil, 0, err
	}
	switch {
	case t.algo >= sigAlgoCount:
		return nil, 0, formatErr(t.structOff, "unknown algorithm %d", t.algo)
	case int(t.hash) >= len(legacyHashNames):
		return nil, 0, formatErr(t.structOff, "unknown hash %d", t.hash)
	case int(t.idType) >= len(sigIDNames):
		return nil, 0, formatErr(t.structOff, "unknown id_type %d", t.idType)
	case len(t.data) == 0:
		return nil, 0, formatErr(t.structOff, "empty signature")
	}
	sig = &klp.Signature{IDType: sigIDNames[t.idType]}
	if t.idType != idPKCS7 {
		sig.Signer = cString(t.signer)
		sig.KeyID = hexKey(t.keyID)
		sig.HashAlgo = legacyHashNames[t.hash]
		return sig, t.moduleLen, nil
	}
	if err := parsePKCS7(t.data, sig); err != nil {
		return nil, 0, formatErr(t.structOff-len(t.data), "PKCS#7: %v", err)
	}
	return sig, t.moduleLen, nil
}

// oidCommonName is the X.520 commonName attribute type.
var oidCommonName = encasn1.ObjectIdentifier{2, 5, 4, 3}

// digestNames maps digest algorithm OIDs to the names OpenSSL's
// OBJ_obj2txt gives them (their long names), which is what modinfo prints.
// Other OIDs print in dotted form, as OpenSSL does for OIDs it does not
// know.
var digestNames = map[string]string{
	"1.2.840.113549.2.2":      "md2",
	"1.2.840.113549.2.4":      "md4",
	"1.2.840.113549.2.5":      "md5",
	"1.3.14.3.2.26":           "sha1",
	"1.3.36.3.2.1":            "ripemd160",
	"2.16.840.1.101.3.4.2.1":  "sha256",
	"2.16.840.1.101.3.4.2.2":  "sha384",
	"2.16.840.1.101.3.4.2.3":  "sha512",
	"2.16.840.1.101.3.4.2.4":  "sha224",
	"2.16.840.1.101.3.4.2.5":  "sha512-224",
	"2.16.840.1.101.3.4.2.6":  "sha512-256",
	"2.16.840.1.101.3.4.2.7":  "sha3-224",
	"2.16.840.1.101.3.4.2.8":  "sha3-256",
	"2.16.840.1.101.3.4.2.9":  "sha3-384",
	"2.16.840.1.101.3.4.2.10": "sha3-512",
	"2.16.840.1.101.3.4.2.11": "shake128",
	"2.16.840.1.101.3.4.2.12": "shake256",
	"1.2.156.10197.1.401":     "sm3",
}

// Context-specific tags of SignedData and SignerInfo.
var (
	tagExplicit0 = asn1.Tag(0).ContextSpecific().Constructed() // content, certificates, signedAttrs
	tagImplicit1 = asn1.Tag(1).ContextSpecific().Constructed() // crls
	tagSKID      = asn1.Tag(0).ContextSpecific()               // subjectKeyIdentifier
)

// bad names the element of a structure that is missing or not DER.
func bad(in, what string) error { return fmt.Errorf("%s: %s: missing or malformed", in, what) }

// parsePKCS7 fills sig from the first SignerInfo of a PKCS#7 SignedData:
//
//	ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT SignedData }
//	SignedData ::= SEQUENCE { version INTEGER, digestAlgorithms SET,
//	    contentInfo SEQUENCE, certificates [0] IMPLICIT OPTIONAL,
//	    crls [1] IMPLICIT OPTIONAL, signerInfos SET OF SignerInfo }
//
// Bytes after the ContentInfo are ignored, as OpenSSL's d2i_PKCS7 does.
func parsePKCS7(der []byte, sig *klp.Signature) error {
	in := cryptobyte.String(der)
	var ci, content, sd, signers, si cryptobyte.String
	var ct encasn1.ObjectIdentifier
	if !in.ReadASN1(&ci, asn1.SEQUENCE) {
		return bad("ContentInfo", "SEQUENCE")
	}
	if !ci.ReadASN1ObjectIdentifier(&ct) {
		return bad("ContentInfo", "contentType")
	}
	if !ct.Equal(oidSignedData) {
		return fmt.Errorf("ContentInfo: contentType %v is not signedData", ct)
	}
	if !ci.ReadASN1(&content, tagExplicit0) {
		return bad("ContentInfo", "content")
	}
	if !content.ReadASN1(&sd, asn1.SEQUENCE) {
		return bad("SignedData", "SEQUENCE")
	}
	for _, f := range []struct {
		tag  asn1.Tag
		what string
	}{{asn1.INTEGER, "version"}, {asn1.SET, "digestAlgorithms"}, {asn1.SEQUENCE, "contentInfo"}} {
		if !sd.SkipASN1(f.tag) {
			return bad("SignedData", f.what)
		}
	}
	if !sd.SkipOptionalASN1(tagExplicit0) {
		return bad("SignedData", "certificates")
	}
	if !sd.SkipOptionalASN1(tagImplicit1) {
		return bad("SignedData", "crls")
	}
	if !sd.ReadASN1(&signers, asn1.SET) {
		return bad("SignedData", "signerInfos")
	}
	if signers.Empty() {
		return errors.New("signerInfos: no SignerInfo")
	}
	if !signers.ReadASN1(&si, asn1.SEQUENCE) {
		return bad("signerInfos", "SignerInfo")
	}
	return parseSignerInfo(si, sig)
}

// parseSignerInfo reads the contents of a SignerInfo SEQUENCE:
//
//	SignerInfo ::= SEQUENCE { version INTEGER,
//	    sid IssuerAndSerialNumber | [0] IMPLICIT SubjectKeyIdentifier,
//	    digestAlgorithm AlgorithmIdentifier, signedAttrs [0] IMPLICIT OPTIONAL,
//	    signatureAlgorithm AlgorithmIdentifier, signature OCTET STRING,
//	    unsignedAttrs [1] IMPLICIT OPTIONAL }
func parseSignerInfo(si cryptobyte.String, sig *klp.Signature) error {
	if !si.SkipASN1(asn1.INTEGER) {
		return bad("SignerInfo", "version")
	}
	if si.PeekASN1Tag(tagSKID) {
		// sid is a subjectKeyIdentifier: there is no issuer name.
		var skid []byte
		if !si.ReadASN1Bytes(&skid, tagSKID) {
			return bad("SignerInfo", "subjectKeyIdentifier")
		}
		sig.KeyID = hexKey(skid)
	} else if err := readIssuerAndSerial(&si, sig); err != nil {
		return err
	}
	var alg cryptobyte.String
	var oid encasn1.ObjectIdentifier
	if !si.ReadASN1(&alg, asn1.SEQUENCE) {
		return bad("SignerInfo", "digestAlgorithm")
	}
	if !alg.ReadASN1ObjectIdentifier(&oid) {
		return bad("digestAlgorithm", "algorithm")
	}
	sig.HashAlgo = digestName(oid)
	if !si.SkipOptionalASN1(tagExplicit0) {
		return bad("SignerInfo", "signedAttrs")
	}
	if !si.SkipASN1(asn1.SEQUENCE) {
		return bad("SignerInfo", "signatureAlgorithm")
	}
	if !si.SkipASN1(asn1.OCTET_STRING) {
		return bad("SignerInfo", "signature")
	}
	return nil
}

// readIssuerAndSerial reads an IssuerAndSerialNumber: the signer is the
// issuer's common name, the key the serial number's magnitude (OpenSSL's
// BN_bn2bin, without leading zero bytes).
func readIssuerAndSerial(si *cryptobyte.String, sig *klp.Signature) error {
	var is, name cryptobyte.String
	if !si.ReadASN1(&is, asn1.SEQUENCE) {
		return bad("SignerInfo", "issuerAndSerialNumber")
	}
	if !is.ReadASN1(&name, asn1.SEQUENCE) {
		return bad("issuerAndSerialNumber", "issuer")
	}
	cn, err := commonName(name)
	if err != nil {
		return fmt.Errorf("issuerAndSerialNumber: issuer: %w", err)
	}
	serial := new(big.Int)
	if !is.ReadASN1Integer(serial) {
		return bad("issuerAndSerialNumber", "serialNumber")
	}
	sig.Signer, sig.KeyID = cn, hexKey(serial.Abs(serial).Bytes())
	return nil
}

// commonName returns what kmod shows as the signer for an X.509 Name (the
// contents of its SEQUENCE): the value of the first commonName attribute.
// kmod's lookup has a quirk we keep: with no commonName it shows the value
// of the last attribute, and with no attribute at all, nothing. The value
// is the string's raw bytes up to the first NUL, as C reads them.
func commonName(name cryptobyte.String) (string, error) {
	var last []byte
	for !name.Empty() {
		var rdn cryptobyte.String
		if !name.ReadASN1(&rdn, asn1.SET) {
			return "", bad("Name", "RelativeDistinguishedName")
		}
		for !rdn.Empty() {
			var atv, val cryptobyte.String
			var oid encasn1.ObjectIdentifier
			var tag asn1.Tag
			if !rdn.ReadASN1(&atv, asn1.SEQUENCE) {
				return "", bad("RelativeDistinguishedName", "AttributeTypeAndValue")
			}
			if !atv.ReadASN1ObjectIdentifier(&oid) {
				return "", bad("AttributeTypeAndValue", "type")
			}
			if !atv.ReadAnyASN1(&val, &tag) {
				return "", bad("AttributeTypeAndValue", "value")
			}
			if oid.Equal(oidCommonName) {
				return cString(val), nil
			}
			last = val
		}
	}
	return cString(last), nil
}

func digestName(oid encasn1.ObjectIdentifier) string {
	s := oid.String()
	if name, ok := digestNames[s]; ok {
		return name
	}
	return s
}

// cString returns b up to its first NUL byte, as C string functions see it.
func cString(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\x00")
	return s
}

// hexKey formats a key identifier as modinfo's sig_key does: uppercase hex
// bytes joined by colons. (modinfo also breaks lines after every 20 bytes,
// "\n\t\t"; key identifiers are at most 20 bytes in practice, and a JSON
// value carries no layout, so this does not.)
func hexKey(b []byte) string {
	var sb strings.Builder
	sb.Grow(3 * len(b))
	const digits = "0123456789ABCDEF"
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteByte(digits[c>>4])
		sb.WriteByte(digits[c&0x0f])
	}
	return sb.String()
}
