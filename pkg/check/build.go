package check

import (
	"fmt"
	"slices"

	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

// targetBuild: the release pins a kernel build (Input.Target) and the
// deployed state says which build runs (deploy capture records
// kernel/notes): a kernel built again under the same release string, or
// a target module rebuilt, is another target. Either side unknown: quiet,
// there is nothing to compare.
func (c *checker) targetBuild(st *deploy.State) {
	pin := c.in.Target
	if pin == nil {
		return
	}
	var cands []string
	for _, m := range c.in.Candidates {
		cands = append(cands, m.Name)
	}
	if id := st.Kernel.BuildID; id != "" && pin.BuildID != "" && id != pin.BuildID {
		c.report(RuleTargetBuildMismatch, c.in.DeployedPath,
			fmt.Sprintf("the release is pinned to kernel build-id %s, the deployed kernel %s runs build-id %s", pin.BuildID, st.Kernel.Release, id),
			cands, nil)
	}
	for _, want := range pin.Modules {
		var host *klp.TargetModule
		for i := range st.Kernel.Modules {
			if klp.ModuleKey(st.Kernel.Modules[i].Name) == klp.ModuleKey(want.Name) {
				host = &st.Kernel.Modules[i]
			}
		}
		if host == nil {
			continue
		}
		what, a, b := "srcversion", want.Srcversion, host.Srcversion
		if a == "" || b == "" {
			what, a, b = "build-id", want.BuildID, host.BuildID
		}
		if a == "" || b == "" || a == b {
			continue
		}
		c.report(RuleTargetBuildMismatch, c.in.DeployedPath,
			fmt.Sprintf("the release is pinned to module %s %s %s, the deployed kernel runs %s %s", want.Name, what, a, what, b),
			patching(c.in.Candidates, want.Name), nil)
	}
}

// patching names the candidates that patch the module name.
func patching(cands []*klp.Module, name string) []string {
	var out []string
	for _, m := range cands {
		for _, p := range m.Patches {
			for _, o := range p.Objects {
				if o.Name != nil && klp.ModuleKey(*o.Name) == klp.ModuleKey(name) && !slices.Contains(out, m.Name) {
					out = append(out, m.Name)
				}
			}
		}
	}
	return out
}
