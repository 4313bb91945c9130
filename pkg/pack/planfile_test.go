package pack

import (
	"bytes"
	"errors"
	"testing"

	"github.com/klpack/klpack/pkg/order"
)

// planOn is an expected state: the patches in stack order ("name" enabled,
// "-name" disabled), then after "|" the modules loaded.
func planOn(names ...string) order.Expect {
	e := order.Expect{Patches: []order.ExpectPatch{}, Modules: []string{}}
	mods := false
	for _, n := range names {
		switch {
		case n == "|":
			mods = true
		case mods:
			e.Modules = append(e.Modules, n)
		case n[0] == '-':
			e.Patches = append(e.Patches, order.ExpectPatch{Name: n[1:]})
		default:
			e.Patches = append(e.Patches, order.ExpectPatch{Name: n, Enabled: true})
		}
	}
	return e
}

// upgradePlan is the mainline upgrade of the cumulative lp_shadow to
// lp_replace over lp_old, an off-band patch of an earlier release: the
// replace frees both, lp_old is loaded again from its own package.
func upgradePlan() *order.Plan {
	return &order.Plan{
		Schema: order.PlanSchema, KernelModel: "mainline", OK: true,
		Start: new(planOn("lp_shadow", "lp_old", "|", "lp_shadow", "lp_old")),
		Steps: []order.Step{
			{Action: "load", Name: "lp_replace", Path: "/build/lp_replace.ko", Expect: planOn("lp_replace", "|", "lp_old", "lp_replace", "lp_shadow")},
			{Action: "unload", Name: "lp_shadow", Expect: planOn("lp_replace", "|", "lp_old", "lp_replace")},
			{Action: "unload", Name: "lp_old", Expect: planOn("lp_replace", "|", "lp_replace")},
			{Action: "load", Name: "lp_old", Path: "/build/lp_old.ko", Expect: planOn("lp_replace", "lp_old", "|", "lp_old", "lp_replace")},
			{Action: "load", Name: "lp_noreplace", Path: "/build/lp_noreplace.ko", Expect: planOn("lp_replace", "lp_old", "lp_noreplace", "|", "lp_noreplace", "lp_old", "lp_replace")},
			{Action: "disable", Name: "lp_noreplace", Expect: planOn("lp_replace", "lp_old", "-lp_noreplace", "|", "lp_noreplace", "lp_old", "lp_replace")},
		},
	}
}

// TestPlanFile: the plan file lists each step with the installed path of
// the release's modules, none for the re-load of a patch another package
// installs, and the state before and after each step.
func TestPlanFile(t *testing.T) {
	r := release(t, "release-6.1")
	r.Version = "1.0-2"
	r.Plan = upgradePlan()
	got, err := PlanFile(r)
	if err != nil {
		t.Fatal(err)
	}
	const dir = "/usr/lib/klpack/6.1.0-56-amd64/"
	want := `klpack-plan 1
release 1.0-2
names lp_noreplace lp_old lp_replace lp_shadow
start
patches lp_shadow=1 lp_old=1
modules lp_old lp_shadow
load lp_replace ` + dir + `klp-patch-6.1.0-56-amd64/lp_replace.ko
patches lp_replace=1
modules lp_old lp_replace lp_shadow
unload lp_shadow
patches lp_replace=1
modules lp_old lp_replace
unload lp_old
patches lp_replace=1
modules lp_replace
load lp_old
patches lp_replace=1 lp_old=1
modules lp_old lp_replace
load lp_noreplace ` + dir + `klp-patch-6.1.0-56-amd64-lp-noreplace/lp_noreplace.ko
patches lp_replace=1 lp_old=1 lp_noreplace=1
modules lp_noreplace lp_old lp_replace
disable lp_noreplace
patches lp_replace=1 lp_old=1 lp_noreplace=0
modules lp_noreplace lp_old lp_replace
end
`
	if string(got) != want {
		t.Errorf("PlanFile() =\n%s\nwant\n%s", got, want)
	}

	// No plan file from a plan without steps or start (written before
	// them), or without a safe order: the loader syncs.
	for name, p := range map[string]*order.Plan{
		"no plan":  nil,
		"no steps": {Schema: order.PlanSchema, OK: true, Start: new(planOn())},
		"no start": {Schema: order.PlanSchema, OK: true, Steps: []order.Step{}},
		"not ok":   {Schema: order.PlanSchema, Start: new(planOn()), Steps: []order.Step{}},
	} {
		r.Plan = p
		if got, err := PlanFile(r); got != nil || err != nil {
			t.Errorf("%s: PlanFile() = %q, %v; want nothing", name, got, err)
		}
	}
	// A name that is no module name never reaches the file.
	bad := upgradePlan()
	bad.Steps[1].Expect.Modules = []string{"lp old"}
	r.Plan = bad
	if got, err := PlanFile(r); got != nil || !errors.Is(err, ErrBadRelease) {
		t.Errorf("PlanFile(bad name) = %q, %v; want ErrBadRelease", got, err)
	}
}

// TestPackagesCarryPlan: every patch package of the release installs the
// same plan file beside its order file; the loader package none.
func TestPackagesCarryPlan(t *testing.T) {
	r := release(t, "release-6.1")
	r.Plan = upgradePlan()
	want, err := PlanFile(r)
	if err != nil {
		t.Fatal(err)
	}
	arts := build(t, r, Options{Formats: []string{FormatDeb}})
	for _, s := range append(r.Specs(), r.LoaderSpec()) {
		files := packageFiles(t, FormatDeb, arts[FormatDeb+":"+s.Name])
		got, ok := files[s.Dir()+"/plan"]
		switch {
		case s.IsLoader() && ok:
			t.Errorf("%s installs a plan", s.Name)
		case !s.IsLoader() && !bytes.Equal(got, want):
			t.Errorf("%s installs plan\n%s\nwant\n%s", s.Name, got, want)
		}
	}
}
