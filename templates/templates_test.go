package templates

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klpack/klpack/internal/testutil"
)

func TestRender(t *testing.T) {
	const k, pkg = "6.1.0-56-amd64", "klpack-loader-6.1.0-56-amd64"
	loader := "/usr/lib/klpack/" + k + "/klpack-load"
	tests := []struct {
		name   string
		render func() ([]byte, error)
	}{
		{"loader", func() ([]byte, error) { return Loader(LoaderData{Kernel: k, LibDir: "/usr/lib/klpack"}) }},
		{"unit", func() ([]byte, error) {
			return Unit(UnitData{Kernel: k, Package: pkg, Loader: loader, Doc: loader, Timeout: 60, Patches: 2})
		}},
	}
	for _, s := range allScripts {
		d := ScriptData{Format: s.format, Package: pkg, Kernel: k, Unit: pkg + ".service", Loader: loader}
		tests = append(tests, struct {
			name   string
			render func() ([]byte, error)
		}{strings.TrimSuffix(s.name, ".sh") + "-" + s.format, func() ([]byte, error) { return Script(s.name, d) }})
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

// allScripts is every package script with each format that runs it.
var allScripts = []struct{ name, format string }{
	{LoaderPostInstall, "rpm"}, {LoaderPostInstall, "deb"},
	{LoaderPreRemove, "rpm"}, {LoaderPreRemove, "deb"},
	{LoaderPostTrans, "rpm"},
	{PatchPostInstall, "rpm"}, {PatchPostTrans, "rpm"}, {PatchPostRemove, "rpm"},
}

func TestRenderRefusesUnsafeValues(t *testing.T) {
	for _, k := range []string{"", "6.1'; rm -rf /", "6.1 0", "$(id)", "a\nb"} {
		if _, err := Loader(LoaderData{Kernel: k, LibDir: "/usr/lib/klpack"}); !errors.Is(err, ErrBadValue) {
			t.Errorf("Loader(kernel %q) = %v, want ErrBadValue", k, err)
		}
	}
	for _, tt := range []struct{ name, format string }{{LoaderPostInstall, "apk"}, {PatchPostTrans, "deb"}, {"../loader.sh", "rpm"}} {
		if _, err := Script(tt.name, ScriptData{Format: tt.format, Package: "p", Kernel: "k", Unit: "u", Loader: "/l"}); !errors.Is(err, ErrBadValue) {
			t.Errorf("Script(%s, format %s) = %v, want ErrBadValue", tt.name, tt.format, err)
		}
	}
	for _, timeout := range []int{-1, MaxTimeout + 1, math.MaxInt} {
		if _, err := Loader(LoaderData{Kernel: "6.1", LibDir: "/usr/lib/klpack", Timeout: timeout}); !errors.Is(err, ErrBadValue) || !strings.Contains(err.Error(), "timeout") {
			t.Errorf("Loader(timeout %d) = %v, want ErrBadValue naming the timeout", timeout, err)
		}
		if _, err := Unit(UnitData{Kernel: "6.1", Package: "p", Loader: "/l", Doc: "/m", Timeout: timeout}); !errors.Is(err, ErrBadValue) {
			t.Errorf("Unit(timeout %d) = %v, want ErrBadValue", timeout, err)
		}
	}
}

// TestUnitStartTimeout: the unit waits for the loader as long as the
// loader may take: the lock, a transition per patch and per rollback.
func TestUnitStartTimeout(t *testing.T) {
	tests := []struct {
		timeout, patches int
		want             string
	}{
		{0, 1, "TimeoutStartSec=270\n"},    // 3*60 + 90
		{30, 2, "TimeoutStartSec=240\n"},   // 5*30 + 90
		{600, 3, "TimeoutStartSec=4290\n"}, // 7*600 + 90
		{MaxTimeout, 1, "TimeoutStartSec=10890\n"},
	}
	for _, tt := range tests {
		b, err := Unit(UnitData{Kernel: "6.1", Package: "p", Loader: "/l", Doc: "/m", Timeout: tt.timeout, Patches: tt.patches})
		if err != nil || !strings.Contains(string(b), tt.want) {
			t.Errorf("Unit(timeout %d, %d patches) = %v, want %q in\n%s", tt.timeout, tt.patches, err, tt.want, b)
		}
	}
}

func TestQuote(t *testing.T) {
	tests := map[string]string{
		"":          "''",
		"plain":     "'plain'",
		"it's":      `'it'\''s'`,
		"$(id) `x`": "'$(id) `x`'",
		"a\nb":      "'a\nb'",
	}
	for in, want := range tests {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestScriptsParse runs every rendered shell script through sh -n, under
// dash and busybox.
func TestScriptsParse(t *testing.T) {
	const k, pkg = "6.1.0-56-amd64", "klpack-loader-6.1.0-56-amd64"
	loader := "/usr/lib/klpack/" + k + "/klpack-load"
	var scripts [][]byte
	add := func(b []byte, err error) {
		if err != nil {
			t.Fatal(err)
		}
		scripts = append(scripts, b)
	}
	add(Loader(LoaderData{Kernel: k, LibDir: "/usr/lib/klpack", Timeout: MaxTimeout}))
	for _, s := range allScripts {
		add(Script(s.name, ScriptData{Format: s.format, Package: pkg, Kernel: k, Unit: pkg + ".service", Loader: loader}))
	}
	for _, sh := range [][]string{{"dash"}, {"busybox", "sh"}} {
		bin := testutil.NeedTool(t, sh[0])
		for i, b := range scripts {
			p := filepath.Join(t.TempDir(), "script")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, append(sh[1:], "-n", p)...).CombinedOutput(); err != nil {
				t.Errorf("%s -n of script %d: %v\n%s", sh[0], i, err, out)
			}
		}
	}
}
