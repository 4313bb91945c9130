package release

import (
	"path"
	"strings"
	"testing"
)

// FuzzParseConfig: any bytes give a config or an error naming the file,
// never a panic; an accepted config has modules, and every path it names
// but output stays inside klpack.yaml's directory.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		"version: 1.0-1\nkernel: 6.1.0-56-amd64\nmodules:\n  - path: ko/*.ko\n    layer: cumulative\npackage:\n  maintainer: m\n",
		"version: 1\nkernel: 6.1\nmodules:\n  - path: a.ko\n    layer: off-band\n    replace: false\n    replace_set: 3\n    hook_points: [f]\npackage:\n  maintainer: m\nsign:\n  packages:\n    command: sign\n",
		"version: 1\nkernel: 6.1\ndeployed: ../x\nmodules: []\n",
		"---\n---\n",
		"modules: [{path: a, layer: off-band}, {path: b}]\nrepository: {suite: s, component: c}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data, "klpack.yaml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "file klpack.yaml: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if len(c.Modules) == 0 || c.Version == "" || c.Kernel == "" || c.Package.Maintainer == "" {
			t.Fatalf("accepted a config without what every release needs: %+v", c)
		}
		for _, p := range []string{c.Deployed, c.Acks, c.Modules[0].Path} {
			if p != "" && (path.IsAbs(p) || !isLocal(p)) {
				t.Fatalf("accepted a path outside the directory: %q", p)
			}
		}
	})
}
