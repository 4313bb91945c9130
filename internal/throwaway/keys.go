// Package throwaway makes keys for trials and tests: an OpenPGP key to
// sign packages and repositories, and a module signing key and
// certificate. They are made fresh, unencrypted, and must never sign a
// release anyone installs.
package throwaway

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// File names Write uses in its directory.
const (
	PGPSecret  = "signing-key.asc" // armored OpenPGP secret key
	PGPPublic  = "signing-key.pub.asc"
	ModuleKey  = "module-key.pem" // PKCS#8 PEM
	ModuleCert = "module-cert.pem"
)

// Write makes the keys in dir (created when missing).
func Write(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	sec, pub, err := pgpKey()
	if err != nil {
		return err
	}
	key, cert, err := moduleKey()
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{PGPSecret: sec, PGPPublic: pub, ModuleKey: key, ModuleCert: cert} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func pgpKey() (sec, pub []byte, err error) {
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048}
	ent, err := openpgp.NewEntity("klpack throwaway key", "not for releases", "klpack-throwaway@example.invalid", cfg)
	if err != nil {
		return nil, nil, err
	}
	var s, p bytes.Buffer
	w, err := armor.Encode(&s, openpgp.PrivateKeyType, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := ent.SerializePrivate(w, cfg); err != nil {
		return nil, nil, err
	}
	w.Close()
	if w, err = armor.Encode(&p, openpgp.PublicKeyType, nil); err != nil {
		return nil, nil, err
	}
	if err := ent.Serialize(w); err != nil {
		return nil, nil, err
	}
	w.Close()
	return s.Bytes(), p.Bytes(), nil
}

func moduleKey() (keyPEM, certPEM []byte, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "klpack throwaway module key"},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert}), nil
}
