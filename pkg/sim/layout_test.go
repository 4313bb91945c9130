package sim

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/pkg/deploy"
)

// TestSysfsLayout pins what each kernel shows, as the e2e guests saw it.
func TestSysfsLayout(t *testing.T) {
	for _, tt := range []struct {
		release, model string
		patch          []string // nil: not known
	}{
		{"6.1.0-56-amd64", deploy.ModelMainline, []string{"enabled", "force", "transition"}},
		{"6.10.3", deploy.ModelMainline, []string{"enabled", "force", "transition"}},
		{"6.11.0", deploy.ModelMainline, []string{"enabled", "force", "replace", "transition"}},
		{"6.12.117+deb12-amd64", deploy.ModelMainline, []string{"enabled", "force", "replace", "transition"}},
		{"6.13.0", deploy.ModelMainline, []string{"enabled", "force", "replace", "stack_order", "transition"}},
		{"7.2.13+deb14-amd64", deploy.ModelMainline, []string{"enabled", "force", "replace", "stack_order", "transition"}},
		{"7.2.13-hybrid", deploy.ModelHybrid, []string{"enabled", "force", "replace", "replaceable", "stack_order", "transition"}},
		{"7.2.13-replace-set", deploy.ModelReplaceSet, []string{"enabled", "force", "replace", "replace_set", "stack_order", "transition"}},
		{"5.15.0-91-generic", deploy.ModelMainline, nil},
		{"release", deploy.ModelMainline, nil},
	} {
		got, ok := SysfsLayout(tt.release, tt.model)
		if ok != (tt.patch != nil) {
			t.Errorf("SysfsLayout(%s): ok %v", tt.release, ok)
			continue
		}
		if diff := cmp.Diff(tt.patch, got.Patch); diff != "" {
			t.Errorf("SysfsLayout(%s, %s).Patch (-want +got):\n%s", tt.release, tt.model, diff)
		}
		if ok && !cmp.Equal(got.Object, []string{"patched"}) {
			t.Errorf("SysfsLayout(%s).Object = %v, want [patched]", tt.release, got.Object)
		}
	}
}
