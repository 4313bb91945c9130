package e2e

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"sort"

	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/sim"
)

// Prebuilt modules are the .ko files the real livepatch tools (klp-build,
// kpatch-build) made for the test kernel, committed under
// testdata/gen/<tool>/ko. They load only on the kernel they were built
// for: its guests get them in /lib/modules/e2e beside the modules built
// from src/, and only scenarios limited to it (kernels: [test]) may load
// them. A tool's engineer adds modules and scenarios, not harness code.

// PrebuiltKernel is the e2e kernel the committed tool-built modules are
// for.
const PrebuiltKernel = "test"

// PrebuiltModules returns the committed tool-built modules under root by
// file name. Two with the same name would shadow each other in the guest:
// that is an error.
func PrebuiltModules(root string) (map[string]string, error) {
	paths, err := filepath.Glob(filepath.Join(root, "testdata", "gen", "*", "ko", "*.ko"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	out := make(map[string]string, len(paths))
	for _, p := range paths {
		name := filepath.Base(p)
		if prev, ok := out[name]; ok {
			return nil, fmt.Errorf("prebuilt module %s twice: %s and %s", name, prev, p)
		}
		out[name] = p
	}
	return out, nil
}

// KernelModel is the livepatch model of the e2e kernel named kernel: the
// test kernel's hybrid and replace-set builds implement those (our
// patches, testdata/e2e/kernel), every other kernel is mainline.
func KernelModel(kernel string) string {
	switch kernel {
	case "test-hybrid":
		return deploy.ModelHybrid
	case "test-replace-set":
		return deploy.ModelReplaceSet
	}
	return deploy.ModelMainline
}

// RunsOn reports whether scenario sc boots on the e2e kernel named kernel:
// one of its kernels when it lists them, and only on a kernel of its
// kernel model (mainline unless it says).
func RunsOn(sc *sim.Scenario, kernel string) bool {
	if len(sc.Kernels) > 0 && !slices.Contains(sc.Kernels, kernel) {
		return false
	}
	return cmp.Or(sc.KernelModel, deploy.ModelMainline) == KernelModel(kernel)
}

// CheckPrebuiltUse refuses a scenario that loads a prebuilt module but
// may boot on a kernel other than the one the module was built for: the
// load would fail there for a reason the scenario is not about.
func CheckPrebuiltUse(sc *sim.Scenario, prebuilt map[string]string) error {
	for i, st := range sc.Steps {
		if _, ok := prebuilt[st.Load]; !ok {
			continue
		}
		if len(sc.Kernels) != 1 || sc.Kernels[0] != PrebuiltKernel {
			return fmt.Errorf("steps[%d]: load %s: a module built for the %s kernel only; limit the scenario with kernels: [%s]", i, st.Load, PrebuiltKernel, PrebuiltKernel)
		}
	}
	return nil
}
