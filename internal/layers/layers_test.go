package layers

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/klpack/klpack/"

// deps lists every package pkg links, itself excluded.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// TestLayers: records reach the later stages as pkg/klp values; the
// stages that judge and plan link no scanner, and the deployed state no
// stage above it. pkg/klp links only the input checks every stage shares.
func TestLayers(t *testing.T) {
	for _, tt := range []struct {
		pkg       string
		forbidden []string
		allowed   []string // exceptions to forbidden
	}{
		{"pkg/klp", []string{module}, []string{module + "internal/safeio", module + "internal/safetext", module + "internal/strictjson"}},
		{"pkg/deploy", []string{module + "elfscan", module + "pkg/sim", module + "pkg/check", module + "pkg/capture", module + "pkg/sysfs"}, nil},
		{"pkg/sysfs", []string{module + "elfscan", module + "pkg/deploy"}, nil},
		{"pkg/sim", []string{module + "elfscan", module + "pkg/check", module + "pkg/capture"}, nil},
		{"pkg/check", []string{module + "elfscan", module + "internal/xz", "golang.org/x/arch", module + "pkg/capture", module + "pkg/pack", "github.com/owenrumney/go-sarif", "github.com/xeipuuv/gojsonschema"}, nil},
		{"pkg/order", []string{module + "elfscan", module + "internal/xz", "golang.org/x/arch", module + "pkg/capture", module + "pkg/pack"}, nil},
		{"pkg/hooks", []string{module + "build", module + "templates", module + "pkg/pack", "github.com/goreleaser/nfpm"}, nil},
		{"pkg/pack", []string{module + "elfscan", module + "internal/xz", "golang.org/x/arch", module + "pkg/capture", module + "build"}, nil},
	} {
		t.Run(tt.pkg, func(t *testing.T) {
			for _, d := range deps(t, tt.pkg) {
				if d == module+tt.pkg || slices.Contains(tt.allowed, d) {
					continue
				}
				for _, f := range tt.forbidden {
					if d == f || strings.HasPrefix(d, f+"/") || f == module && strings.HasPrefix(d, module) {
						t.Errorf("%s links %s", tt.pkg, d)
					}
				}
			}
		})
	}
}
