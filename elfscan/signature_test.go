package elfscan

import (
	"bytes"
	"encoding/asn1"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/modsign"
)

// --- building signatures -----------------------------------------------------

// What the synthetic signatures are made of (include/linux/module_signature.h
// and the PKCS#7 structures), written out here so the tests do not read
// them from the parser they test.
const (
	sigMagic            = modsign.Magic
	moduleSignatureSize = 12
	idPGP               = 0
	idX509              = 1
	idPKCS7             = 2
	tagInteger          = 2
	tagSequence         = 16
	tagSet              = 17
)

var (
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}
)

// der marshals v or fails the test.
func der(t testing.TB, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatalf("asn1.Marshal(%T): %v", v, err)
	}
	return b
}

// tlv builds one DER element from its class, tag and contents.
func tlv(t testing.TB, class, tag int, compound bool, content ...[]byte) []byte {
	t.Helper()
	return der(t, asn1.RawValue{Class: class, Tag: tag, IsCompound: compound, Bytes: bytes.Join(content, nil)})
}

func seq(t testing.TB, content ...[]byte) []byte {
	return tlv(t, asn1.ClassUniversal, tagSequence, true, content...)
}

func set(t testing.TB, content ...[]byte) []byte {
	return tlv(t, asn1.ClassUniversal, tagSet, true, content...)
}

// attr is one AttributeTypeAndValue of a Name, its value a UTF8String.
type attr struct {
	oid   asn1.ObjectIdentifier
	value string
}

var (
	oidOrganization = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidCountry      = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidSHA256       = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidData         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidRSA          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
)

// pkcs7Spec describes a SignedData with one SignerInfo.
type pkcs7Spec struct {
	issuer      []attr // one RDN per attribute
	serial      []byte // DER INTEGER contents; nil: default
	skid        []byte // when set, the sid is this subjectKeyIdentifier
	digest      asn1.ObjectIdentifier
	contentType asn1.ObjectIdentifier
	noSigners   bool
	noSignature bool // the SignerInfo ends before its signature
	withCerts   bool
}

func buildPKCS7(t testing.TB, s pkcs7Spec) []byte {
	t.Helper()
	if s.digest == nil {
		s.digest = oidSHA256
	}
	if s.contentType == nil {
		s.contentType = oidSignedData
	}
	if s.serial == nil {
		s.serial = []byte{0x01, 0x02}
	}
	alg := func(oid asn1.ObjectIdentifier) []byte { return seq(t, der(t, oid)) }
	var sid []byte
	if s.skid != nil {
		sid = tlv(t, asn1.ClassContextSpecific, 0, false, s.skid)
	} else {
		var rdns [][]byte
		for _, a := range s.issuer {
			rdns = append(rdns, set(t, seq(t, der(t, a.oid), der(t, asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte(a.value)}))))
		}
		sid = seq(t, seq(t, rdns...), tlv(t, asn1.ClassUniversal, tagInteger, false, s.serial))
	}
	signature := der(t, bytes.Repeat([]byte{0x5a}, 64))
	if s.noSignature {
		signature = nil
	}
	signerInfo := seq(t,
		der(t, 1),
		sid,
		alg(s.digest),
		seq(t, der(t, oidRSA), der(t, asn1.NullRawValue)),
		signature,
	)
	var signers []byte
	if !s.noSigners {
		signers = signerInfo
	}
	var certs []byte
	if s.withCerts {
		certs = tlv(t, asn1.ClassContextSpecific, 0, true, seq(t, der(t, 7)))
	}
	signedData := seq(t,
		der(t, 1),
		set(t, alg(s.digest)),
		seq(t, der(t, oidData)),
		certs,
		set(t, signers),
	)
	return seq(t, der(t, s.contentType), tlv(t, asn1.ClassContextSpecific, 0, true, signedData))
}

// fakeELF stands for the module proper in synthetic signed modules.
var fakeELF = append([]byte("\x7fELF"), bytes.Repeat([]byte{0}, 60)...)

// sigBlock describes the trailer that follows the module proper.
type sigBlock struct {
	algo, hash, idType byte
	signer, keyID      []byte
	sig                []byte
	sigLen             *uint32 // overrides len(sig)
	signerLen          *byte   // overrides len(signer)
	keyIDLen           *byte   // overrides len(keyID)
}

func (s sigBlock) appendTo(module []byte) []byte {
	b := slices.Clone(module)
	b = append(b, s.signer...)
	b = append(b, s.keyID...)
	b = append(b, s.sig...)
	ms := make([]byte, moduleSignatureSize)
	ms[0], ms[1], ms[2] = s.algo, s.hash, s.idType
	ms[3], ms[4] = byte(len(s.signer)), byte(len(s.keyID))
	if s.signerLen != nil {
		ms[3] = *s.signerLen
	}
	if s.keyIDLen != nil {
		ms[4] = *s.keyIDLen
	}
	binary.BigEndian.PutUint32(ms[8:], uint32(len(s.sig)))
	if s.sigLen != nil {
		binary.BigEndian.PutUint32(ms[8:], *s.sigLen)
	}
	b = append(b, ms...)
	return append(b, sigMagic...)
}

func ptr[T any](v T) *T { return &v }

// --- synthetic cases -----------------------------------------------------------

func TestParseSignatureSynthetic(t *testing.T) {
	cn := func(s string) attr { return attr{oidCommonName, s} }
	pkcs7 := func(s pkcs7Spec) []byte {
		return sigBlock{idType: idPKCS7, sig: buildPKCS7(t, s)}.appendTo(fakeELF)
	}
	tests := []struct {
		name string
		in   []byte
		want *klp.Signature
	}{
		{
			name: "sign-file default",
			in:   pkcs7(pkcs7Spec{issuer: []attr{{oidOrganization, "Debian"}, cn("Debian Secure Boot CA")}, serial: []byte{0x66, 0xf5, 0x4e}}),
			want: &klp.Signature{IDType: "PKCS#7", Signer: "Debian Secure Boot CA", KeyID: "66:F5:4E", HashAlgo: "sha256"},
		},
		{
			name: "serial with a leading zero byte",
			in:   pkcs7(pkcs7Spec{issuer: []attr{cn("k")}, serial: []byte{0x00, 0x80, 0x01}}),
			want: &klp.Signature{IDType: "PKCS#7", Signer: "k", KeyID: "80:01", HashAlgo: "sha256"},
		},
		{
			name: "negative serial shows its magnitude",
			in:   pkcs7(pkcs7Spec{issuer: []attr{cn("k")}, serial: []byte{0xff, 0x01}}), // -255
			want: &klp.Signature{IDType: "PKCS#7", Signer: "k", KeyID: "FF", HashAlgo: "sha256"},
		},
		{
			name: "zero serial shows no key",
			in:   pkcs7(pkcs7Spec{issuer: []attr{cn("k")}, serial: []byte{0x00}}),
			want: &klp.Signature{IDType: "PKCS#7", Signer: "k", KeyID: "", HashAlgo: "sha256"},
		},
		{
			name: "first commonName wins",
			in:   pkcs7(pkcs7Spec{issuer: []attr{{oidCountry, "DE"}, cn("first"), cn("second")}}),
			want: &klp.Signature{IDType: "PKCS#7", Signer: "first", KeyID: "01:02", HashAlgo: "sha256"},
		},
		{
			name: "no commonName shows the last attribute",
			in:   pkcs7(pkcs7Spec{issuer: []attr{{oidCountry, "DE"}, {oidOrganization, "Org"}}}),
			want: &klp.Signature{IDType: "PKCS#7", Signer: "Org", KeyID: "01:02", HashAlgo: "sha256"},
		},
		{
			name: "empty issuer",
			in:   pkcs7(pkcs7Spec{}),
			want: &klp.Signature{IDType: "PKCS#7", Signer: "", KeyID: "01:02", HashAlgo: "sha256"},
		},
		{
			name: "commonName cut at NUL",
			in:   pkcs7(pkcs7Spec{issuer: []attr{cn("evil\x00hidden")}}),
			want: &klp.Signature{IDType: "PKCS#7", Signer: "evil", KeyID: "01:02", HashAlgo: "sha256"},
		},
		{
			name: "subjectKeyIdentifier",
			in:   pkcs7(pkcs7Spec{skid: []byte{0xde, 0xad, 0x00, 0x0f}}),
			want: &klp.Signature{IDType: "PKCS#7", Signer: "", KeyID: "DE:AD:00:0F", HashAlgo: "sha256"},
		},
		{
			name: "certificates present",
			in:   pkcs7(pkcs7Spec{issuer: []attr{cn("k")}, withCerts: true}),
			want: &klp.Signature{IDType: "PKCS#7", Signer: "k", KeyID: "01:02", HashAlgo: "sha256"},
		},
		{
			name: "sha3-256",
			in:   pkcs7(pkcs7Spec{issuer: []attr{cn("k")}, digest: asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 8}}),
			want: &klp.Signature{IDType: "PKCS#7", Signer: "k", KeyID: "01:02", HashAlgo: "sha3-256"},
		},
		{
			name: "unknown digest in dotted form",
			in:   pkcs7(pkcs7Spec{issuer: []attr{cn("k")}, digest: asn1.ObjectIdentifier{1, 2, 3, 4}}),
			want: &klp.Signature{IDType: "PKCS#7", Signer: "k", KeyID: "01:02", HashAlgo: "1.2.3.4"},
		},
		{
			name: "legacy X509 layout",
			in:   sigBlock{algo: 1, hash: 2, idType: idX509, signer: []byte("Magrathea: Glacier signing key"), keyID: []byte{0x7a, 0x00, 0x01}, sig: []byte("raw signature")}.appendTo(fakeELF),
			want: &klp.Signature{IDType: "X509", Signer: "Magrathea: Glacier signing key", KeyID: "7A:00:01", HashAlgo: "sha1"},
		},
		{
			name: "legacy PGP layout",
			in:   sigBlock{algo: 0, hash: 3, idType: idPGP, signer: []byte("pgp\x00tail"), keyID: []byte{0xab}, sig: []byte{1}}.appendTo(fakeELF),
			want: &klp.Signature{IDType: "PGP", Signer: "pgp", KeyID: "AB", HashAlgo: "rmd160"},
		},
		{
			name: "PKCS#7 trailing bytes ignored",
			in:   sigBlock{idType: idPKCS7, sig: append(buildPKCS7(t, pkcs7Spec{issuer: []attr{cn("k")}}), 0, 0, 0)}.appendTo(fakeELF),
			want: &klp.Signature{IDType: "PKCS#7", Signer: "k", KeyID: "01:02", HashAlgo: "sha256"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n, err := parseSignature(tt.in)
			if err != nil {
				t.Fatalf("parseSignature() error = %v", err)
			}
			if *got != *tt.want {
				t.Errorf("parseSignature() = %+v, want %+v", *got, *tt.want)
			}
			if n != len(fakeELF) {
				t.Errorf("parseSignature() moduleLen = %d, want %d", n, len(fakeELF))
			}
		})
	}
}

// hostileSignatures are inputs parseSignature must refuse: with
// modsign.ErrNoSignature when wantNone, else with a *FormatError.
func hostileSignatures(t testing.TB) []struct {
	name     string
	in       []byte
	wantNone bool
} {
	good := buildPKCS7(t, pkcs7Spec{issuer: []attr{{oidCommonName, "k"}}})
	magicOnly := []byte(sigMagic)
	return []struct {
		name     string
		in       []byte
		wantNone bool
	}{
		{"empty", nil, true},
		{"plain module", fakeELF, true},
		{"partial magic", append(slices.Clone(fakeELF), sigMagic[1:]...), true},
		{"magic only", magicOnly, false},
		{"magic after 11 bytes", append(make([]byte, 11), sigMagic...), false},
		{"empty struct", append(make([]byte, moduleSignatureSize), sigMagic...), false},
		{"sig_len 2^32-1", sigBlock{idType: idPKCS7, sig: good, sigLen: ptr(uint32(1<<32 - 1))}.appendTo(fakeELF), false},
		{"sig_len 2^31", sigBlock{idType: idPKCS7, sig: good, sigLen: ptr(uint32(1 << 31))}.appendTo(fakeELF), false},
		{"sig_len one past", sigBlock{idType: idPKCS7, sig: good, sigLen: ptr(uint32(len(good) + len(fakeELF) + 1))}.appendTo(fakeELF), false},
		{"lengths sum past start", sigBlock{idType: idX509, sig: good, sigLen: ptr(uint32(len(good) + len(fakeELF) - 100)), signerLen: ptr(byte(255)), keyIDLen: ptr(byte(255))}.appendTo(fakeELF), false},
		{"signer_len past start", sigBlock{idType: idX509, sig: []byte{1}, signerLen: ptr(byte(255))}.appendTo(nil), false},
		{"unknown algo", sigBlock{algo: 2, idType: idPKCS7, sig: good}.appendTo(fakeELF), false},
		{"unknown hash", sigBlock{hash: 9, idType: idPKCS7, sig: good}.appendTo(fakeELF), false},
		{"unknown id_type", sigBlock{idType: 3, sig: good}.appendTo(fakeELF), false},
		{"truncated DER", sigBlock{idType: idPKCS7, sig: good[:len(good)-10]}.appendTo(fakeELF), false},
		{"DER cut in the header", sigBlock{idType: idPKCS7, sig: good[:1]}.appendTo(fakeELF), false},
		{"garbage DER", sigBlock{idType: idPKCS7, sig: bytes.Repeat([]byte{0xff}, 40)}.appendTo(fakeELF), false},
		{"huge DER length", sigBlock{idType: idPKCS7, sig: []byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00}}.appendTo(fakeELF), false},
		{"indefinite length", sigBlock{idType: idPKCS7, sig: []byte{0x30, 0x80, 0x00, 0x00}}.appendTo(fakeELF), false},
		{"not signedData", sigBlock{idType: idPKCS7, sig: buildPKCS7(t, pkcs7Spec{contentType: oidData})}.appendTo(fakeELF), false},
		{"SignerInfo without signature", sigBlock{idType: idPKCS7, sig: buildPKCS7(t, pkcs7Spec{noSignature: true})}.appendTo(fakeELF), false},
		{"no SignerInfo", sigBlock{idType: idPKCS7, sig: buildPKCS7(t, pkcs7Spec{noSigners: true})}.appendTo(fakeELF), false},
		{"empty serial", sigBlock{idType: idPKCS7, sig: buildPKCS7(t, pkcs7Spec{serial: []byte{}})}.appendTo(fakeELF), false},
		{"non-minimal serial", sigBlock{idType: idPKCS7, sig: buildPKCS7(t, pkcs7Spec{serial: []byte{0x00, 0x01}})}.appendTo(fakeELF), false},
		{"raw bytes as PKCS#7", sigBlock{idType: idPKCS7, sig: []byte("raw")}.appendTo(fakeELF), false},
	}
}

func TestParseSignatureHostile(t *testing.T) {
	for _, tt := range hostileSignatures(t) {
		t.Run(tt.name, func(t *testing.T) {
			sig, n, err := parseSignature(tt.in)
			if err == nil {
				t.Fatalf("parseSignature() = %+v, %d, want error", sig, n)
			}
			if sig != nil || n != 0 {
				t.Errorf("parseSignature() = %+v, %d with error %v, want nil, 0", sig, n, err)
			}
			if tt.wantNone {
				if !errors.Is(err, modsign.ErrNoSignature) {
					t.Errorf("parseSignature() error = %v, want modsign.ErrNoSignature", err)
				}
				return
			}
			if _, ok := errors.AsType[*FormatError](err); !ok {
				t.Errorf("parseSignature() error = %v (%T), want *FormatError", err, err)
			}
			if errors.Is(err, modsign.ErrNoSignature) {
				t.Errorf("parseSignature() error = %v matches modsign.ErrNoSignature for a malformed signature", err)
			}
			t.Log(err)
		})
	}
}

func FuzzSignature(f *testing.F) {
	for _, tt := range hostileSignatures(f) {
		f.Add(tt.in)
	}
	f.Add(sigBlock{idType: idPKCS7, sig: buildPKCS7(f, pkcs7Spec{issuer: []attr{{oidCommonName, "k"}}, withCerts: true})}.appendTo(fakeELF))
	f.Add(sigBlock{idType: idPKCS7, sig: buildPKCS7(f, pkcs7Spec{skid: []byte{1, 2, 3}})}.appendTo(fakeELF))
	f.Add(sigBlock{algo: 1, hash: 4, idType: idX509, signer: []byte("s"), keyID: []byte{1}, sig: []byte{2}}.appendTo(fakeELF))
	// The tail of a real signed module, when the trees are there.
	if dir, _ := signatureTrees(); dir != "" {
		for _, p := range sampleModules(f, filepath.Join(dir, "6.1"), 3) {
			if b, err := os.ReadFile(p); err == nil && len(b) > 4096 {
				f.Add(b[len(b)-4096:])
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sig, n, err := parseSignature(b)
		if (err == nil) != (sig != nil) {
			t.Fatalf("parseSignature() = %v, %v: want exactly one of signature and error", sig, err)
		}
		if err != nil {
			if n != 0 {
				t.Errorf("moduleLen = %d with error", n)
			}
			return
		}
		if n < 0 || n > len(b)-len(sigMagic)-moduleSignatureSize-1 {
			t.Errorf("moduleLen = %d out of range for %d bytes", n, len(b))
		}
		if _, err := json.Marshal(sig); err != nil {
			t.Errorf("signature does not marshal: %v", err)
		}
	})
}

// --- against modinfo, on real modules -------------------------------------------

// signatureTrees returns the directory of the Debian trees (treesDir, as
// scripts/fetch-trees.sh fills it), or "" and why when they are missing.
func signatureTrees() (dir, why string) {
	dir = treesDir()
	for _, v := range []string{"6.1", "7.2"} {
		if _, err := os.Stat(filepath.Join(dir, v, ".klpack-complete")); err != nil {
			return "", "Debian module trees not in " + dir + " (run scripts/fetch-trees.sh or set KLPACK_TREES)"
		}
	}
	return dir, ""
}

// modinfoPath finds kmod's modinfo, which lives in sbin.
func modinfoPath() string {
	if p, err := exec.LookPath("modinfo"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/modinfo", "/sbin/modinfo"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// sampleModules returns n modules under dir, spread evenly over the sorted
// list so that every run picks the same ones.
func sampleModules(t testing.TB, dir string, n int) []string {
	t.Helper()
	var all []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".ko") || strings.HasSuffix(p, ".ko.xz")) {
			all = append(all, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	slices.Sort(all)
	if len(all) <= n {
		return all
	}
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, all[i*len(all)/n])
	}
	return out
}

// modinfoSignature asks modinfo for the signature fields of path.
func modinfoSignature(t *testing.T, modinfo, path string) klp.Signature {
	t.Helper()
	field := func(name string) string {
		out, err := exec.Command(modinfo, "-F", name, path).Output()
		if err != nil {
			t.Fatalf("modinfo -F %s %s: %v", name, path, err)
		}
		// modinfo ends the value with a newline, and breaks long hex
		// values into lines of 20 bytes.
		s := strings.TrimSuffix(string(out), "\n")
		return strings.ReplaceAll(s, "\n\t\t", "")
	}
	return klp.Signature{
		IDType:   field("sig_id"),
		Signer:   field("signer"),
		KeyID:    field("sig_key"),
		HashAlgo: field("sig_hashalgo"),
	}
}

func TestSignatureMatchesModinfo(t *testing.T) {
	dir, why := signatureTrees()
	if dir == "" {
		testutil.Missing(t, why)
	}
	modinfo := modinfoPath()
	if modinfo == "" {
		testutil.Missing(t, "modinfo (kmod) not installed")
	}
	for _, tree := range []string{"6.1", "7.2"} {
		t.Run(tree, func(t *testing.T) {
			mods := sampleModules(t, filepath.Join(dir, tree), 50)
			if len(mods) == 0 {
				t.Fatalf("no modules under %s", filepath.Join(dir, tree))
			}
			for _, p := range mods {
				t.Run(filepath.Base(p), func(t *testing.T) {
					raw, err := os.ReadFile(p)
					if err != nil {
						t.Fatal(err)
					}
					data := raw
					if kind := compressionOf(raw); kind != "" {
						if data, err = newScanner(nil).decompress(kind, raw, 1<<30); err != nil {
							t.Fatalf("decompress(%s) = %v", kind, err)
						}
					}
					want := modinfoSignature(t, modinfo, p)
					sig, n, err := parseSignature(data)
					if want.IDType == "" {
						if !errors.Is(err, modsign.ErrNoSignature) {
							t.Errorf("parseSignature(%q) = %+v, %v; modinfo shows no signature", p, sig, err)
						}
						return
					}
					if err != nil {
						t.Fatalf("parseSignature(%q) error = %v, want %+v", p, err, want)
					}
					if *sig != want {
						t.Errorf("parseSignature(%q) = %+v, want (modinfo) %+v", p, *sig, want)
					}
					if !bytes.HasPrefix(data[:n], []byte("\x7fELF")) {
						t.Errorf("parseSignature(%q): module proper does not start with the ELF magic", p)
					}
				})
			}
		})
	}
}

// TestSignatureSignFile signs a module with the kernel's sign-file, in
// each of its modes, and compares with modinfo. This covers what the
// distribution trees do not: other digests and subjectKeyIdentifier sids.
func TestSignatureSignFile(t *testing.T) {
	signFiles, _ := filepath.Glob("/usr/lib/linux-kbuild-*/scripts/sign-file")
	if len(signFiles) == 0 {
		testutil.Missing(t, "sign-file not found in /usr/lib/linux-kbuild-*/scripts (package linux-kbuild-*)")
	}
	signFile := signFiles[0]
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		testutil.Missing(t, "openssl not installed")
	}
	modinfo := modinfoPath()
	if modinfo == "" {
		testutil.Missing(t, "modinfo (kmod) not installed")
	}
	dir, why := signatureTrees()
	if dir == "" {
		testutil.Missing(t, why)
	}
	mods := sampleModules(t, filepath.Join(dir, "6.1"), 1)
	raw, err := os.ReadFile(mods[0])
	if err != nil {
		t.Fatal(err)
	}
	_, n, err := parseSignature(raw)
	if err != nil {
		t.Fatalf("parseSignature(%s) = %v", mods[0], err)
	}
	tmp := t.TempDir()
	key := filepath.Join(tmp, "key.pem")
	// A serial starting with a zero byte, as kmod's edge case.
	out, err := exec.Command(openssl, "req", "-new", "-x509", "-nodes", "-utf8", "-batch",
		"-newkey", "rsa:2048", "-days", "36500", "-set_serial", "0x00ab12cd",
		"-subj", "/O=klpack/CN=klpack test key/emailAddress=t@example.org",
		"-keyout", key, "-out", key).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		hash  string
		flags []string
	}{
		{"sha256", nil},
		{"sha1", nil},
		{"sha384", nil},
		{"sha512", nil},
		{"sha224", nil},
		{"sha256", []string{"-k"}}, // subjectKeyIdentifier sid
	} {
		name := tc.hash + strings.Join(tc.flags, "")
		t.Run(name, func(t *testing.T) {
			mod := filepath.Join(tmp, name+".ko")
			if err := os.WriteFile(mod, raw[:n], 0o644); err != nil {
				t.Fatal(err)
			}
			args := append(slices.Clone(tc.flags), tc.hash, key, key, mod)
			if out, err := exec.Command(signFile, args...).CombinedOutput(); err != nil {
				testutil.Missing(t, "sign-file "+strings.Join(args, " ")+": "+err.Error()+"\n"+string(out))
			}
			signed, err := os.ReadFile(mod)
			if err != nil {
				t.Fatal(err)
			}
			sig, gotN, err := parseSignature(signed)
			if err != nil {
				t.Fatalf("parseSignature() error = %v", err)
			}
			if gotN != n {
				t.Errorf("parseSignature() moduleLen = %d, want %d", gotN, n)
			}
			want := modinfoSignature(t, modinfo, mod)
			if slices.Contains(tc.flags, "-k") {
				// OpenSSL's PKCS#7 reader, which kmod uses, cannot read a
				// subjectKeyIdentifier sid: modinfo shows no signature.
				// We show the identifier as the key.
				skid := subjectKeyID(t, openssl, key)
				wantOurs := klp.Signature{IDType: "PKCS#7", KeyID: skid, HashAlgo: tc.hash}
				if *sig != wantOurs {
					t.Errorf("parseSignature() = %+v, want %+v", *sig, wantOurs)
				}
				t.Logf("modinfo shows %+v", want)
				return
			}
			if *sig != want {
				t.Errorf("parseSignature() = %+v, want (modinfo) %+v", *sig, want)
			}
		})
	}
}

// subjectKeyID reads the subjectKeyIdentifier of the certificate in pem.
func subjectKeyID(t *testing.T, openssl, pem string) string {
	t.Helper()
	out, err := exec.Command(openssl, "x509", "-in", pem, "-noout", "-ext", "subjectKeyIdentifier").Output()
	if err != nil {
		t.Fatalf("openssl x509 -ext subjectKeyIdentifier: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.ToUpper(strings.TrimSpace(lines[len(lines)-1]))
}
