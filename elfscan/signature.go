package elfscan

import (
	"bytes"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/klpack/klpack/pkg/klp"
)

// ErrNoSignature means the module carries no appended signature: it does
// not end with the signature magic.
var ErrNoSignature = errors.New("no module signature")

// A signed module is laid out as (include/linux/module_signature.h,
// scripts/sign-file.c):
//
//	[ module                  ]
//	[ signer's name           ]  signer_len bytes, legacy layout only
//	[ key identifier          ]  key_id_len bytes, legacy layout only
//	[ signature data          ]  sig_len bytes: PKCS#7 DER, or raw
//	[ struct module_signature ]  12 bytes
//	[ sigMagic                ]
const sigMagic = "~Module signature appended~\n"

// moduleSignatureSize is sizeof(struct module_signature): algo, hash,
// id_type, signer_len, key_id_len (one byte each), three bytes of padding,
// then sig_len as a big-endian u32.
const moduleSignatureSize = 12

// Key identifier types, struct module_signature.id_type.
const (
	idPGP   = 0
	idX509  = 1
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

// parseSignature reads the signature appended to the module bytes b. It
// returns the signature in modinfo's words and the length of the module
// proper (b[:moduleLen] is the ELF file). It returns ErrNoSignature when b
// does not end with the signature magic, and a *FormatError when a
// signature is there but malformed.
//
// The signer, key and hash are what kmod's modinfo prints (kmod's
// libkmod-signature.c with OpenSSL), with two deliberate differences:
// modinfo silently shows no signature where this reports a malformed one,
// and it cannot read a PKCS#7 signer identified by subjectKeyIdentifier,
// which this reports with an empty signer and the identifier as key.
func parseSignature(b []byte) (sig *klp.Signature, moduleLen int, err error) {
	if len(b) < len(sigMagic) || string(b[len(b)-len(sigMagic):]) != sigMagic {
		return nil, 0, ErrNoSignature
	}
	end := len(b) - len(sigMagic)
	if end < moduleSignatureSize {
		return nil, 0, sigErr(end, "signature magic without struct module_signature: %d bytes before the magic", end)
	}
	end -= moduleSignatureSize
	ms := b[end : end+moduleSignatureSize]
	algo, hash, idType := ms[0], ms[1], ms[2]
	signerLen, keyIDLen := int(ms[3]), int(ms[4])
	sigLen := uint64(binary.BigEndian.Uint32(ms[8:]))
	switch {
	case algo >= sigAlgoCount:
		return nil, 0, sigErr(end, "unknown algorithm %d", algo)
	case int(hash) >= len(legacyHashNames):
		return nil, 0, sigErr(end, "unknown hash %d", hash)
	case int(idType) >= len(sigIDNames):
		return nil, 0, sigErr(end, "unknown id_type %d", idType)
	case sigLen == 0:
		return nil, 0, sigErr(end, "empty signature")
	}
	// All three lengths are below 2^33, so the sum cannot overflow.
	if total := sigLen + uint64(signerLen) + uint64(keyIDLen); total > uint64(end) {
		return nil, 0, sigErr(end, "signature of %d bytes (sig_len %d, signer_len %d, key_id_len %d) exceeds the %d bytes before it",
			total, sigLen, signerLen, keyIDLen, end)
	}
	sigOff := end - int(sigLen)
	keyOff := sigOff - keyIDLen
	signerOff := keyOff - signerLen
	sig = &klp.Signature{IDType: sigIDNames[idType]}
	if idType == idPKCS7 {
		if err := parsePKCS7(b[sigOff:end], sig); err != nil {
			return nil, 0, sigErr(sigOff, "PKCS#7: %v", err)
		}
	} else {
		sig.Signer = cString(b[signerOff:keyOff])
		sig.KeyID = hexKey(b[keyOff:sigOff])
		sig.HashAlgo = legacyHashNames[hash]
	}
	return sig, signerOff, nil
}

func sigErr(off int, format string, args ...any) error {
	return &FormatError{Off: uint64(off), Msg: fmt.Sprintf(format, args...)}
}

// OIDs of the PKCS#7 (RFC 2315) / CMS (RFC 5652) structures we walk.
var (
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}
)

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

// ASN.1 universal tags (encoding/asn1 names only some of them).
const (
	tagInteger     = 2
	tagOctetString = 4
	tagOID         = 6
	tagSequence    = 16
	tagSet         = 17
)

// derReader walks a run of DER elements.
type derReader struct {
	rest []byte
	what string // what the run is, for errors
}

// next reads the next element, which must have the given class and tag
// and be constructed or not as said.
func (d *derReader) next(class, tag int, constructed bool, what string) (asn1.RawValue, error) {
	if len(d.rest) == 0 {
		return asn1.RawValue{}, fmt.Errorf("%s: missing %s", d.what, what)
	}
	var v asn1.RawValue
	rest, err := asn1.Unmarshal(d.rest, &v)
	if err != nil {
		return asn1.RawValue{}, fmt.Errorf("%s: %s: %w", d.what, what, err)
	}
	if v.Class != class || v.Tag != tag || v.IsCompound != constructed {
		return asn1.RawValue{}, fmt.Errorf("%s: %s: unexpected element (class %d, tag %d)", d.what, what, v.Class, v.Tag)
	}
	d.rest = rest
	return v, nil
}

// peek reports whether the next element has the given class and tag.
func (d *derReader) peek(class, tag int) bool {
	var v asn1.RawValue
	if _, err := asn1.Unmarshal(d.rest, &v); err != nil {
		return false
	}
	return v.Class == class && v.Tag == tag
}

func (d *derReader) skip(what string) error {
	if len(d.rest) == 0 {
		return fmt.Errorf("%s: missing %s", d.what, what)
	}
	var v asn1.RawValue
	rest, err := asn1.Unmarshal(d.rest, &v)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", d.what, what, err)
	}
	d.rest = rest
	return nil
}

// parsePKCS7 fills sig from the first SignerInfo of a PKCS#7 SignedData:
//
//	ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT SignedData }
//	SignedData ::= SEQUENCE { version INTEGER, digestAlgorithms SET,
//	    contentInfo SEQUENCE, certificates [0] IMPLICIT OPTIONAL,
//	    crls [1] IMPLICIT OPTIONAL, signerInfos SET OF SignerInfo }
//	SignerInfo ::= SEQUENCE { version INTEGER,
//	    sid IssuerAndSerialNumber | [0] IMPLICIT SubjectKeyIdentifier,
//	    digestAlgorithm AlgorithmIdentifier, signedAttrs [0] IMPLICIT OPTIONAL,
//	    signatureAlgorithm AlgorithmIdentifier, signature OCTET STRING,
//	    unsignedAttrs [1] IMPLICIT OPTIONAL }
func parsePKCS7(der []byte, sig *klp.Signature) error {
	top := derReader{rest: der, what: "ContentInfo"}
	// Bytes after the ContentInfo are ignored, as OpenSSL's d2i_PKCS7 does.
	ci, err := top.next(asn1.ClassUniversal, tagSequence, true, "SEQUENCE")
	if err != nil {
		return err
	}
	d := derReader{rest: ci.Bytes, what: "ContentInfo"}
	v, err := d.next(asn1.ClassUniversal, tagOID, false, "contentType")
	if err != nil {
		return err
	}
	var ct asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(v.FullBytes, &ct); err != nil {
		return fmt.Errorf("ContentInfo: contentType: %w", err)
	}
	if !ct.Equal(oidSignedData) {
		return fmt.Errorf("ContentInfo: contentType %v is not signedData", ct)
	}
	if v, err = d.next(asn1.ClassContextSpecific, 0, true, "content"); err != nil {
		return err
	}
	d = derReader{rest: v.Bytes, what: "SignedData"}
	if v, err = d.next(asn1.ClassUniversal, tagSequence, true, "SEQUENCE"); err != nil {
		return err
	}
	d = derReader{rest: v.Bytes, what: "SignedData"}
	if _, err = d.next(asn1.ClassUniversal, tagInteger, false, "version"); err != nil {
		return err
	}
	if _, err = d.next(asn1.ClassUniversal, tagSet, true, "digestAlgorithms"); err != nil {
		return err
	}
	if _, err = d.next(asn1.ClassUniversal, tagSequence, true, "contentInfo"); err != nil {
		return err
	}
	for tag, what := range []string{"certificates", "crls"} {
		if d.peek(asn1.ClassContextSpecific, tag) {
			if _, err = d.next(asn1.ClassContextSpecific, tag, true, what); err != nil {
				return err
			}
		}
	}
	if v, err = d.next(asn1.ClassUniversal, tagSet, true, "signerInfos"); err != nil {
		return err
	}
	d = derReader{rest: v.Bytes, what: "signerInfos"}
	if len(d.rest) == 0 {
		return errors.New("signerInfos: no SignerInfo")
	}
	if v, err = d.next(asn1.ClassUniversal, tagSequence, true, "SignerInfo"); err != nil {
		return err
	}
	return parseSignerInfo(v.Bytes, sig)
}

// parseSignerInfo reads the contents of a SignerInfo SEQUENCE.
func parseSignerInfo(b []byte, sig *klp.Signature) error {
	d := derReader{rest: b, what: "SignerInfo"}
	if _, err := d.next(asn1.ClassUniversal, tagInteger, false, "version"); err != nil {
		return err
	}
	if d.peek(asn1.ClassContextSpecific, 0) {
		// sid is a subjectKeyIdentifier: there is no issuer name.
		v, err := d.next(asn1.ClassContextSpecific, 0, false, "subjectKeyIdentifier")
		if err != nil {
			return err
		}
		sig.KeyID = hexKey(v.Bytes)
	} else {
		v, err := d.next(asn1.ClassUniversal, tagSequence, true, "issuerAndSerialNumber")
		if err != nil {
			return err
		}
		is := derReader{rest: v.Bytes, what: "issuerAndSerialNumber"}
		name, err := is.next(asn1.ClassUniversal, tagSequence, true, "issuer")
		if err != nil {
			return err
		}
		if sig.Signer, err = commonName(name.Bytes); err != nil {
			return fmt.Errorf("issuerAndSerialNumber: issuer: %w", err)
		}
		v, err = is.next(asn1.ClassUniversal, tagInteger, false, "serialNumber")
		if err != nil {
			return err
		}
		serial := new(big.Int)
		if _, err := asn1.Unmarshal(v.FullBytes, &serial); err != nil {
			return fmt.Errorf("issuerAndSerialNumber: serialNumber: %w", err)
		}
		// OpenSSL's BN_bn2bin: the magnitude, without leading zero bytes.
		sig.KeyID = hexKey(serial.Abs(serial).Bytes())
	}
	v, err := d.next(asn1.ClassUniversal, tagSequence, true, "digestAlgorithm")
	if err != nil {
		return err
	}
	alg := derReader{rest: v.Bytes, what: "digestAlgorithm"}
	if v, err = alg.next(asn1.ClassUniversal, tagOID, false, "algorithm"); err != nil {
		return err
	}
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(v.FullBytes, &oid); err != nil {
		return fmt.Errorf("digestAlgorithm: %w", err)
	}
	sig.HashAlgo = digestName(oid)
	if d.peek(asn1.ClassContextSpecific, 0) {
		if _, err = d.next(asn1.ClassContextSpecific, 0, true, "signedAttrs"); err != nil {
			return err
		}
	}
	if _, err = d.next(asn1.ClassUniversal, tagSequence, true, "signatureAlgorithm"); err != nil {
		return err
	}
	if _, err = d.next(asn1.ClassUniversal, tagOctetString, false, "signature"); err != nil {
		return err
	}
	return nil
}

// commonName returns what kmod shows as the signer for an X.509 Name (the
// contents of its SEQUENCE): the value of the first commonName attribute.
// kmod's lookup has a quirk we keep: with no commonName it shows the value
// of the last attribute, and with no attribute at all, nothing. The value
// is the string's raw bytes up to the first NUL, as C reads them.
func commonName(name []byte) (string, error) {
	rdns := derReader{rest: name, what: "Name"}
	var last []byte
	for len(rdns.rest) > 0 {
		rdn, err := rdns.next(asn1.ClassUniversal, tagSet, true, "RelativeDistinguishedName")
		if err != nil {
			return "", err
		}
		atvs := derReader{rest: rdn.Bytes, what: "RelativeDistinguishedName"}
		for len(atvs.rest) > 0 {
			atv, err := atvs.next(asn1.ClassUniversal, tagSequence, true, "AttributeTypeAndValue")
			if err != nil {
				return "", err
			}
			d := derReader{rest: atv.Bytes, what: "AttributeTypeAndValue"}
			t, err := d.next(asn1.ClassUniversal, tagOID, false, "type")
			if err != nil {
				return "", err
			}
			var oid asn1.ObjectIdentifier
			if _, err := asn1.Unmarshal(t.FullBytes, &oid); err != nil {
				return "", fmt.Errorf("AttributeTypeAndValue: type: %w", err)
			}
			if len(d.rest) == 0 {
				return "", errors.New("AttributeTypeAndValue: missing value")
			}
			var val asn1.RawValue
			if _, err := asn1.Unmarshal(d.rest, &val); err != nil {
				return "", fmt.Errorf("AttributeTypeAndValue: value: %w", err)
			}
			if oid.Equal(oidCommonName) {
				return cString(val.Bytes), nil
			}
			last = val.Bytes
		}
	}
	return cString(last), nil
}

func digestName(oid asn1.ObjectIdentifier) string {
	s := oid.String()
	if name, ok := digestNames[s]; ok {
		return name
	}
	return s
}

// cString returns b up to its first NUL byte, as C string functions see it.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
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
