package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"

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

// RunsOn reports whether scenario sc boots on the e2e kernel named kernel.
func RunsOn(sc *sim.Scenario, kernel string) bool {
	return len(sc.Kernels) == 0 || slices.Contains(sc.Kernels, kernel)
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
