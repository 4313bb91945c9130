package release

import (
	"errors"
	"strings"
	"testing"
)

// TestParseConfig: every refusal names the key (or line) at fault.
func TestParseConfig(t *testing.T) {
	const base = "version: 1.0-1\nkernel: 6.1.0-56-amd64\nmodules:\n  - path: a.ko\n    layer: cumulative\npackage:\n  maintainer: m\n"
	tests := []struct {
		name, yaml, want string // want: "" accepts; else a substring of the error
	}{
		{"minimal", base, ""},
		{"schema", "schema: klpack/v1\n" + base, ""},
		{"unknown key", base + "outptu: dist\n", "line 8: field outptu not found"},
		{"no maintainer", "version: 1\nkernel: 6.1\nmodules:\n  - path: a.ko\n    layer: cumulative\n", "package.maintainer is required"},
		{"unknown module key", "package:\n  maintainer: m\nversion: 1\nkernel: 6.1\nmodules:\n  - path: a.ko\n    layer: off-band\n    replce: true\n", "line 8: field replce not found"},
		{"second document", base + "---\nversion: 2\n", "line 8: a second YAML document"},
		{"empty", "", "empty"},
		{"other schema", "schema: klpack/v2\n" + base, `schema: klpack/v2, want "klpack/v1"`},
		{"no kernel", "package:\n  maintainer: m\nversion: 1\nmodules:\n  - path: a.ko\n    layer: cumulative\n", "version and kernel are required"},
		{"no modules", "package:\n  maintainer: m\nversion: 1\nkernel: 6.1\n", "modules: none"},
		{"bad layer", "package:\n  maintainer: m\nversion: 1\nkernel: 6.1\nmodules:\n  - path: a.ko\n    layer: hybrid\n", `layer "hybrid"`},
		{"module climbs", "package:\n  maintainer: m\nversion: 1\nkernel: 6.1\nmodules:\n  - path: ../a.ko\n    layer: cumulative\n", "modules[0]"},
		{"deployed absolute", base + "deployed: /etc/shadow\n", "deployed: /etc/shadow is not a path inside"},
		{"acks climbs", base + "acks: x/../../acks\n", "acks:"},
		{"bad model", base + "kernel_model: linus\n", "kernel_model: unknown model"},
		{"bad fail_on", base + "fail_on: fatal\n", "fail_on:"},
		{"bad format", strings.Replace(base, "package:\n", "package:\n  formats: [apk]\n", 1), "package.formats: apk, want rpm or deb"},
		{"key and command", base + "sign:\n  packages:\n    key: k.asc\n    command: sign\n", "give key or command, one of them"},
		{"neither key nor command", base + "sign:\n  packages:\n    public_key: k.asc\n", "give key or command"},
		{"passphrase for a command", base + "sign:\n  packages:\n    command: sign\n    passphrase_env: P\n", "a passphrase is for key"},
		{"modsign without cert", base + "sign:\n  modules:\n    key: k.pem\n", "cert and key are required"},
		{"bad suite", base + "repository:\n  suite: a/b\n", "repository.suite"},
		{"control character", base + "repository:\n  origin: \"a\\x1b[2Jb\"\n", "repository.origin"},
		{"hook point not an identifier", "package:\n  maintainer: m\nversion: 1\nkernel: 6.1\nmodules:\n  - path: a.ko\n    layer: off-band\n    hook_points: [\"a b\"]\n", "hook_points"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tt.yaml), "klpack.yaml")
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ParseConfig = %v, want it accepted", err)
				}
				if c.Modules[0].Path != "a.ko" {
					t.Errorf("modules[0].path = %q", c.Modules[0].Path)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrBadConfig) {
				t.Fatalf("ParseConfig = %v, want ErrBadConfig with %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "file klpack.yaml: ") {
				t.Errorf("error %q does not start with the file", err)
			}
		})
	}
}
