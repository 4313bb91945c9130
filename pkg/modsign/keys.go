package modsign

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/klpack/klpack/internal/safeio"
)

// ErrEncryptedKey means the private key is encrypted and no passphrase was
// given, or the passphrase is wrong.
var ErrEncryptedKey = errors.New("private key is encrypted: wrong or missing passphrase")

// MaxKeyFile bounds a key or certificate file: a PEM key and its
// certificate are a few kilobytes.
const MaxKeyFile = 1 << 20

// LoadCert reads an X.509 certificate in PEM or DER, as sign-file takes it.
// The file must be a regular file of at most MaxKeyFile bytes.
// In a PEM file holding key and certificate (the kernel's
// signing_key.pem), the first CERTIFICATE block is used.
func LoadCert(path string) (*x509.Certificate, error) {
	b, err := safeio.ReadFile(path, MaxKeyFile)
	if err != nil {
		return nil, err
	}
	der := b
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			der = blk.Bytes
			break
		}
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("file %s: certificate: %w", path, err)
	}
	return c, nil
}

// LoadKey reads a PEM private key (PKCS#8, PKCS#1 or SEC 1; legacy
// encrypted PEM with passphrase) from a regular file of at most
// MaxKeyFile bytes. The key's bytes are not kept beyond
// parsing, and nothing is written anywhere; errors never quote key
// material.
func LoadKey(path string, passphrase []byte) (crypto.Signer, error) {
	b, err := safeio.ReadFile(path, MaxKeyFile)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return nil, fmt.Errorf("file %s: no PEM private key", path)
		}
		switch blk.Type {
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("file %s: PKCS#8-encrypted keys are not supported: convert with openssl pkey -traditional", path)
		default:
			continue
		}
		der := blk.Bytes
		//lint:ignore SA1019 legacy PEM encryption is what openssl -traditional writes and sign-file reads
		if x509.IsEncryptedPEMBlock(blk) { //nolint:staticcheck
			if len(passphrase) == 0 {
				return nil, fmt.Errorf("file %s: %w", path, ErrEncryptedKey)
			}
			der, err = x509.DecryptPEMBlock(blk, passphrase) //nolint:staticcheck
			if err != nil {
				return nil, fmt.Errorf("file %s: %w", path, ErrEncryptedKey)
			}
			defer clear(der)
		}
		k, err := parseKey(der)
		if err != nil {
			return nil, fmt.Errorf("file %s: private key: %w", path, err)
		}
		return k, nil
	}
}

func parseKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, ErrUnsupportedKey
		}
		return s, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKCS#8, PKCS#1 or SEC 1 key")
}
