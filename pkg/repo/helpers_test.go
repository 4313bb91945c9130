package repo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	"github.com/goreleaser/nfpm/v2/rpm"

	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/pack"
)

// epoch is the tests' SOURCE_DATE_EPOCH: in the past, as apt wants.
var epoch = time.Unix(1700000000, 0).UTC()

// testKey is a throwaway OpenPGP key: its secret key file, its exported
// public key (pack.OpenPGPPublicKey) and signers made from it.
type testKey struct {
	secret, public string
	sign           Signer
}

// newKey makes a passphrase-protected RSA key in dir.
func newKey(t testing.TB, dir, name string) *testKey {
	t.Helper()
	ent, err := openpgp.NewEntity(name, "", name+"@klpack.invalid", &packet.Config{RSABits: 2048, DefaultHash: crypto.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	pass := []byte("test passphrase")
	if err := ent.EncryptPrivateKeys(pass, nil); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ent.SerializePrivateWithoutSigning(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	k := &testKey{secret: filepath.Join(dir, name+".secret.asc"), public: filepath.Join(dir, name+".asc")}
	if err := os.WriteFile(k.secret, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err := pack.OpenPGPPublicKey(k.secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k.public, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	if k.sign.Detached, err = pack.OpenPGPSigner(k.secret, pass); err != nil {
		t.Fatal(err)
	}
	if k.sign.Clear, err = pack.OpenPGPClearSigner(k.secret, pass); err != nil {
		t.Fatal(err)
	}
	return k
}

// testPkg is a small synthetic package: one file, no dependencies, no
// scripts, so it installs into an empty root.
type testPkg struct {
	name, version, arch string
}

func (p testPkg) info(t testing.TB, dir string) *nfpm.Info {
	t.Helper()
	src := filepath.Join(dir, "src-"+p.name+"-"+p.version+"-"+p.arch)
	if err := os.WriteFile(src, []byte("payload of "+p.name+" "+p.version+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return nfpm.WithDefaults(&nfpm.Info{
		DisableGlobbing: true,
		Name:            p.name,
		Arch:            p.arch,
		Platform:        "linux",
		Version:         p.version,
		VersionSchema:   "none",
		Release:         "1",
		Maintainer:      "klpack tests <test@klpack.invalid>",
		Description:     "test package " + p.name + "\nsecond line of the description.",
		License:         "GPL-2.0-only",
		MTime:           epoch,
		Overridables: nfpm.Overridables{Contents: files.Contents{&files.Content{
			Source: src, Destination: "/opt/klp-test/" + p.name + ".txt",
			FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: 0o644, MTime: epoch},
		}}},
	})
}

// debName is the file name dpkg-name would give.
func (p testPkg) debName() string { return fmt.Sprintf("%s_%s-1_%s.deb", p.name, p.version, p.arch) }

// writeDeb builds p as a deb at path.
func (p testPkg) writeDeb(t testing.TB, path string) {
	t.Helper()
	var b bytes.Buffer
	if err := deb.Default.Package(p.info(t, t.TempDir()), &b); err != nil {
		t.Fatal(err)
	}
	writeAt(t, path, b.Bytes())
}

// writeRPM builds p as an rpm in dir and returns its path.
func (p testPkg) writeRPM(t testing.TB, dir string) string {
	t.Helper()
	info := p.info(t, t.TempDir())
	var b bytes.Buffer
	if err := rpm.DefaultRPM.Package(info, &b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, rpm.DefaultRPM.ConventionalFileName(info))
	writeAt(t, path, b.Bytes())
	return path
}

func writeAt(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The packages of the tests: two releases of one package, another, one
// for every architecture and one for arm64.
var (
	pkgA1  = testPkg{"klp-test-a", "1.0", "amd64"}
	pkgA2  = testPkg{"klp-test-a", "2.0", "amd64"}
	pkgB   = testPkg{"klp-test-b", "1.0", "amd64"}
	pkgAll = testPkg{"klp-test-all", "1.0", "all"}
	pkgArm = testPkg{"klp-test-a", "2.0", "arm64"}
)

// aptRepo makes an apt repository root with the packages in its pool,
// as the release pipeline lays them out.
func aptRepo(t testing.TB, pkgs ...testPkg) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range pkgs {
		p.writeDeb(t, filepath.Join(dir, "pool", "main", p.name[:1], p.name, p.debName()))
	}
	return dir
}

// debControl builds a deb by hand whose control file is control, for
// what nfpm would never write.
func debControl(control string) []byte {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "./control", Mode: 0o644, Size: int64(len(control)), Typeflag: tar.TypeReg})
	tw.Write([]byte(control))
	tw.Close()
	var gz bytes.Buffer
	z := gzip.NewWriter(&gz)
	z.Write(tb.Bytes())
	z.Close()
	return arFile(map[string][]byte{"debian-binary": []byte("2.0\n"), "control.tar.gz": gz.Bytes(), "data.tar.gz": gzEmptyTar()},
		"debian-binary", "control.tar.gz", "data.tar.gz")
}

func gzEmptyTar() []byte {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.Close()
	var gz bytes.Buffer
	z := gzip.NewWriter(&gz)
	z.Write(tb.Bytes())
	z.Close()
	return gz.Bytes()
}

// arFile writes an ar archive of members in order.
func arFile(m map[string][]byte, order ...string) []byte {
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	for _, n := range order {
		fmt.Fprintf(&b, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", n, 0, 0, 0, "100644", len(m[n]))
		b.Write(m[n])
		if len(m[n])%2 == 1 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// aptClient is the real apt-get with a private configuration and root:
// nothing of the host's apt setup is read or changed.
type aptClient struct {
	root, conf string
}

func newAptClient(t testing.TB, repo, keyFile string) *aptClient {
	t.Helper()
	testutil.NeedTool(t, "apt-get")
	testutil.NeedTool(t, "dpkg")
	testutil.NeedTool(t, "gpgv")
	root := t.TempDir()
	for _, d := range []string{"etc/apt/sources.list.d", "etc/apt/apt.conf.d", "etc/apt/trusted.gpg.d", "etc/apt/preferences.d",
		"var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "var/lib/dpkg/updates", "var/lib/dpkg/info", "var/log/apt"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeAt(t, filepath.Join(root, "var/lib/dpkg/status"), nil)
	signedBy := ""
	if keyFile != "" {
		signedBy = "[signed-by=" + keyFile + "] "
	}
	writeAt(t, filepath.Join(root, "etc/apt/sources.list"), []byte("deb "+signedBy+"file:"+repo+" stable main\n"))
	conf := filepath.Join(root, "apt.conf")
	writeAt(t, conf, []byte(strings.ReplaceAll(`Dir "ROOT/";
Dir::State::status "ROOT/var/lib/dpkg/status";
Dir::Bin::dpkg "/usr/bin/dpkg";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
APT::Sandbox::User "root";
Debug::NoLocking "true";
Acquire::Languages "none";
DPkg::Options { "--root=ROOT"; "--log=ROOT/var/log/dpkg.log"; };
DPkg::Use-Pty "false";
`, "ROOT", root)))
	return &aptClient{root: root, conf: conf}
}

// run runs apt-get with args and returns its combined output.
func (a *aptClient) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "apt-get", append([]string{"-q", "-y"}, args...)...)
	cmd.Env = append(os.Environ(), "APT_CONFIG="+a.conf, "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// dnfClient is the real dnf with its own configuration, repository
// directory, cache and installroot.
type dnfClient struct {
	root string
}

func newDnfClient(t testing.TB, repo, keyFile string) *dnfClient {
	t.Helper()
	testutil.NeedTool(t, "dnf")
	testutil.NeedTool(t, "gpg") // dnf checks repomd.xml.asc through gpgme
	root := t.TempDir()
	writeAt(t, filepath.Join(root, "dnf.conf"), []byte("[main]\ngpgcheck=0\ninstall_weak_deps=0\nkeepcache=0\n"))
	writeAt(t, filepath.Join(root, "repos/klp.repo"), []byte(
		"[klp]\nname=klp\nbaseurl=file://"+repo+"\nenabled=1\ngpgcheck=0\nrepo_gpgcheck=1\ngpgkey=file://"+keyFile+"\nmetadata_expire=0\n"))
	for _, d := range []string{"log", "cache", "installroot"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &dnfClient{root: root}
}

func (d *dnfClient) installroot() string { return filepath.Join(d.root, "installroot") }

// run runs dnf with args and returns its combined output.
func (d *dnfClient) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	base := []string{"-y", "--config=" + filepath.Join(d.root, "dnf.conf"),
		"--installroot=" + d.installroot(), "--releasever=1", "--noplugins",
		"--setopt=reposdir=" + filepath.Join(d.root, "repos"),
		"--setopt=cachedir=" + filepath.Join(d.root, "cache"),
		"--setopt=logdir=" + filepath.Join(d.root, "log"),
		"--setopt=tsflags=noscripts"}
	cmd := exec.CommandContext(ctx, "dnf", append(base, args...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// gpgvKeyring is keyFile (armored) as the binary keyring gpgv reads.
func gpgvKeyring(t testing.TB, keyFile string) string {
	t.Helper()
	testutil.NeedTool(t, "gpg")
	out := filepath.Join(t.TempDir(), "keyring.gpg")
	if b, err := exec.Command("gpg", "--batch", "--yes", "--dearmor", "--output", out, keyFile).CombinedOutput(); err != nil {
		t.Fatalf("gpg --dearmor: %v\n%s", err, b)
	}
	return out
}

// gpgv runs the real gpgv with the key of keyFile over args.
func gpgv(t testing.TB, keyFile string, args ...string) (string, error) {
	t.Helper()
	testutil.NeedTool(t, "gpgv")
	cmd := exec.Command("gpgv", append([]string{"--keyring", gpgvKeyring(t, keyFile)}, args...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "GNUPGHOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustNotExist fails when path exists.
func mustNotExist(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Lstat(path); err == nil {
		t.Errorf("%s exists, want nothing written", path)
	}
}
