package modsign

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// ErrEncryptedKey means the private key is encrypted and no passphrase was
// given, or the passphrase is wrong.
var ErrEncryptedKey = errors.New("private key is encrypted: wrong or missing passphrase")

// LoadCert reads an X.509 certificate in PEM or DER, as sign-file takes it.
// In a PEM file holding key and certificate (the kernel's
// signing_key.pem), the first CERTIFICATE block is used.
func LoadCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
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
// encrypted PEM with passphrase). The key's bytes are not kept beyond
// parsing, and nothing is written anywhere; errors never quote key
// material.
func LoadKey(path string, passphrase []byte) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
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
