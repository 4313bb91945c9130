package templates

import (
	"errors"
	"testing"

	"github.com/klpack/klpack/internal/testutil"
)

func TestRender(t *testing.T) {
	const k, pkg = "6.1.0-56-amd64", "klp-patch-6.1.0-56-amd64-lp-noreplace"
	loader := "/usr/lib/klpack/" + k + "/" + pkg + "/klpack-load"
	tests := []struct {
		name   string
		render func() ([]byte, error)
	}{
		{"loader", func() ([]byte, error) { return Loader(LoaderData{Kernel: k, LibDir: "/usr/lib/klpack"}) }},
		{"unit", func() ([]byte, error) {
			return Unit(UnitData{Kernel: k, Package: pkg, Loader: loader, Manifest: "/usr/lib/klpack/" + k + "/" + pkg + "/manifest.json"})
		}},
		{"postinst-deb", func() ([]byte, error) {
			return PostInstall(ScriptData{Format: "deb", Package: pkg, Kernel: k, Module: "lp_noreplace", Unit: pkg + ".service", Loader: loader})
		}},
		{"prerm-deb", func() ([]byte, error) {
			return PreRemove(ScriptData{Format: "deb", Package: pkg, Kernel: k, Module: "lp_noreplace", Unit: pkg + ".service", Loader: loader})
		}},
		{"postinst-rpm", func() ([]byte, error) {
			return PostInstall(ScriptData{Format: "rpm", Package: pkg, Kernel: k, Module: "lp_noreplace", Unit: pkg + ".service", Loader: loader})
		}},
		{"prerm-rpm", func() ([]byte, error) {
			return PreRemove(ScriptData{Format: "rpm", Package: pkg, Kernel: k, Module: "lp_noreplace", Unit: pkg + ".service", Loader: loader})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.render()
			if err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, got)
		})
	}
}

func TestRenderRefusesUnsafeValues(t *testing.T) {
	for _, k := range []string{"", "6.1'; rm -rf /", "6.1 0", "$(id)", "a\nb"} {
		if _, err := Loader(LoaderData{Kernel: k, LibDir: "/usr/lib/klpack"}); !errors.Is(err, ErrBadValue) {
			t.Errorf("Loader(kernel %q) = %v, want ErrBadValue", k, err)
		}
	}
	if _, err := PostInstall(ScriptData{Format: "apk", Package: "p", Kernel: "k", Module: "m", Unit: "u", Loader: "/l"}); !errors.Is(err, ErrBadValue) {
		t.Errorf("PostInstall(format apk) = %v, want ErrBadValue", err)
	}
}
