// Package release reads klpack.yaml, the one description of a release,
// into a Release (every module scanned once), and runs the pipeline of
// stages that turns it into signed packages and repositories.
package release

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/internal/yamlerr"
	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/pack"
)

// ConfigSchema names klpack.yaml's version.
const ConfigSchema = "klpack/v1"

// MaxConfigSize bounds klpack.yaml: a page of YAML, a line per module.
const MaxConfigSize = 1 << 20

// ErrBadConfig means klpack.yaml, or a file it names, is wrong.
var ErrBadConfig = errors.New("bad klpack.yaml")

// Config is klpack.yaml. Paths in it are relative to its directory and
// stay inside it.
type Config struct {
	Schema string `yaml:"schema"`
	// Version is the release's version in its kernel's version stream.
	Version string `yaml:"version"`
	// Kernel is the target kernel's release, as uname -r prints it.
	Kernel string `yaml:"kernel"`
	// KernelModel overrides the deployed state's kernel model.
	KernelModel string `yaml:"kernel_model"`
	// Deployed is the state (klpack.deployed/v1) the release is checked
	// against; none means an empty kernel.
	Deployed string `yaml:"deployed"`
	// Fleet is a fleet inventory `check -f` and the release's check
	// stage check the release against, each combination in place of
	// Deployed (the release checks Deployed too); nil when none.
	Fleet *FleetConfig `yaml:"fleet"`
	// Acks is an acknowledgements file (findings reported, not failed).
	Acks string `yaml:"acks"`
	// FailOn is the severity that stops the release (default error).
	FailOn string `yaml:"fail_on"`
	// Target is a directory of the target kernel's files (a build tree or
	// an unpacked debug package) holding vmlinux and the modules the
	// patches patch: the release pins their build identity. It may lie
	// outside klpack.yaml's directory, as Output may.
	Target string `yaml:"target"`
	// Modules are the patch modules; a path may be a glob.
	Modules []ModuleConfig `yaml:"modules"`
	Sign    SignConfig     `yaml:"sign"`
	Package PackageConfig  `yaml:"package"`
	// Repository names the apt suite and component.
	Repository RepositoryConfig `yaml:"repository"`
	// Output is the directory the release writes (default dist), relative
	// to the current directory; it may be anywhere.
	Output string `yaml:"output"`
}

// FleetConfig names a fleet inventory (docs/fleet.md) and the package
// manifests its packages resolve through.
type FleetConfig struct {
	Inventory string `yaml:"inventory"`
	Manifests string `yaml:"manifests"`
}

// ModuleConfig is one entry of modules: a module file or a glob of them,
// with what the release declares of each.
type ModuleConfig struct {
	Path        string   `yaml:"path"`
	Layer       string   `yaml:"layer"`
	Replace     *bool    `yaml:"replace"`
	Replaceable *bool    `yaml:"replaceable"`
	ReplaceSet  *uint32  `yaml:"replace_set"`
	HookPoints  []string `yaml:"hook_points"`
	// Hooks are prebuilt hook objects (<function>.bpf.o); without them
	// the hooks stage builds one per hook point.
	Hooks []string `yaml:"hooks"`
}

// SignConfig says how modules and packages are signed.
type SignConfig struct {
	Modules  *ModuleSignConfig  `yaml:"modules"`
	Packages *PackageSignConfig `yaml:"packages"`
}

// ModuleSignConfig is the kernel module signing key: an X.509
// certificate the target kernel trusts and its private key (PEM).
type ModuleSignConfig struct {
	Cert          string `yaml:"cert"`
	Key           string `yaml:"key"`
	PassphraseEnv string `yaml:"passphrase_env"`
	Hash          string `yaml:"hash"`
}

// PackageSignConfig is the OpenPGP key packages and repositories are
// signed with, or a command that signs (a KMS or HSM), with the public key
// its signatures are checked with.
type PackageSignConfig struct {
	Key            string `yaml:"key"`
	PassphraseEnv  string `yaml:"passphrase_env"`
	PassphraseFile string `yaml:"passphrase_file"`
	Command        string `yaml:"command"`
	PublicKey      string `yaml:"public_key"`
}

// PackageConfig names the packages and fills their metadata.
type PackageConfig struct {
	Prefix      string   `yaml:"prefix"`
	Maintainer  string   `yaml:"maintainer"`
	Vendor      string   `yaml:"vendor"`
	Description string   `yaml:"description"`
	License     string   `yaml:"license"`
	Homepage    string   `yaml:"homepage"`
	KernelRPM   string   `yaml:"kernel_rpm"`
	KernelDeb   string   `yaml:"kernel_deb"`
	Formats     []string `yaml:"formats"`
	// Timeout is the seconds the loader waits for each transition.
	Timeout int `yaml:"timeout"`
	// HostBinary is the klpack binary the loader package ships when a
	// module has BPF hooks (make host builds one); default: this klpack.
	HostBinary string `yaml:"host_binary"`
}

// RepositoryConfig names the apt repository's suite and component.
type RepositoryConfig struct {
	Suite     string `yaml:"suite"`
	Component string `yaml:"component"`
	Origin    string `yaml:"origin"`
	Label     string `yaml:"label"`
}

// ParseConfig decodes klpack.yaml, name being what errors call it: one
// YAML document, every key known (an unknown one is refused with its
// line), and checks what needs no file.
func ParseConfig(data []byte, name string) (*Config, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("file %s: %w: %s", name, ErrBadConfig, fmt.Sprintf(format, args...))
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, bad("%s", yamlerr.Decode(data, err))
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, bad("line %d: a second YAML document; klpack.yaml holds one", next.Line)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("file %s: %w: %w", name, ErrBadConfig, err)
	}
	return &c, nil
}

// check refuses what no release can use, naming the key.
func (c *Config) check() error {
	if c.Schema != "" && c.Schema != ConfigSchema {
		return fmt.Errorf("schema: %s, want %q", safetext.Quote(c.Schema), ConfigSchema)
	}
	if c.Version == "" || c.Kernel == "" {
		return errors.New("version and kernel are required")
	}
	if c.Package.Maintainer == "" {
		return errors.New("package.maintainer is required: every package names its maintainer (deb's Maintainer, rpm's Packager)")
	}
	if c.KernelModel != "" && !deploy.ValidModel(c.KernelModel) {
		return fmt.Errorf("kernel_model: unknown model %s", safetext.Quote(c.KernelModel))
	}
	if c.FailOn != "" {
		if _, err := check.ParseSeverity(c.FailOn); err != nil {
			return fmt.Errorf("fail_on: %w", err)
		}
	}
	paths := map[string]string{"deployed": c.Deployed, "acks": c.Acks, "package.host_binary": c.Package.HostBinary}
	if f := c.Fleet; f != nil {
		if f.Inventory == "" || f.Manifests == "" {
			return errors.New("fleet: inventory and manifests are required")
		}
		paths["fleet.inventory"], paths["fleet.manifests"] = f.Inventory, f.Manifests
	}
	if s := c.Sign.Modules; s != nil {
		if s.Cert == "" || s.Key == "" {
			return errors.New("sign.modules: cert and key are required")
		}
		paths["sign.modules.cert"], paths["sign.modules.key"] = s.Cert, s.Key
	}
	if s := c.Sign.Packages; s != nil {
		switch {
		case (s.Key == "") == (s.Command == ""):
			return errors.New("sign.packages: give key or command, one of them")
		case s.Command != "" && (s.PassphraseEnv != "" || s.PassphraseFile != ""):
			return errors.New("sign.packages: a passphrase is for key, not command")
		}
		paths["sign.packages.key"], paths["sign.packages.public_key"] = s.Key, s.PublicKey
		paths["sign.packages.passphrase_file"] = s.PassphraseFile
	}
	for _, key := range slices.Sorted(maps.Keys(paths)) {
		if err := localPath(key, paths[key]); err != nil {
			return err
		}
	}
	if len(c.Modules) == 0 {
		return errors.New("modules: none")
	}
	for i, m := range c.Modules {
		spec := m.spec(m.Path)
		if err := spec.Check(); err != nil {
			return fmt.Errorf("modules[%d]: %w", i, err)
		}
	}
	for _, f := range c.Package.Formats {
		if f != pack.FormatRPM && f != pack.FormatDeb {
			return fmt.Errorf("package.formats: %s, want %s or %s", safetext.Quote(f), pack.FormatRPM, pack.FormatDeb)
		}
	}
	for key, v := range map[string]string{"repository.suite": c.Repository.Suite, "repository.component": c.Repository.Component} {
		if v != "" && !repoName(v) {
			return fmt.Errorf("%s: %s: want letters, digits and . _ -", key, safetext.Quote(v))
		}
	}
	if err := safetext.Check(c.Output); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if err := safetext.Check(c.Target); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	for key, v := range map[string]string{"repository.origin": c.Repository.Origin, "repository.label": c.Repository.Label} {
		if err := safetext.Check(v); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

// spec is the module's declarations for the module file file.
func (m *ModuleConfig) spec(file string) pack.ModuleSpec {
	return pack.ModuleSpec{File: file, Layer: m.Layer, Hooks: m.Hooks, HookPoints: m.HookPoints,
		Replace: m.Replace, Replaceable: m.Replaceable, ReplaceSet: m.ReplaceSet}
}

// localPath refuses a path that is absolute or climbs out of klpack.yaml's
// directory; empty is allowed (the key is unset).
func localPath(key, p string) error {
	if p == "" {
		return nil
	}
	if err := safetext.Check(p); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	if path.IsAbs(p) || !isLocal(p) {
		return fmt.Errorf("%s: %s is not a path inside klpack.yaml's directory", key, safetext.Quote(p))
	}
	return nil
}

func isLocal(p string) bool {
	c := path.Clean(p)
	return c != ".." && !strings.HasPrefix(c, "../")
}

func repoName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return s != "." && s != ".."
}
