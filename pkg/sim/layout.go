package sim

import (
	"slices"

	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

// Layout is what a kernel shows under /sys/kernel/livepatch: the files in
// a patch's directory and in each of its object directories (function
// directories hold none), sorted. pkg/sysfs reads the tree; which files a
// kernel has is a rule of the kernel, so it is modelled here.
type Layout struct {
	Patch  []string
	Object []string
}

// attr is a sysfs file and the kernels that show it: from release since
// (major, minor), on every model or on one only (the proposals').
type attr struct {
	name  string
	since [2]int
	model string
}

// The attributes of kernel/livepatch/core.c's klp_patch_attrs and
// klp_object_attrs, and the kernel that added each: force and transition
// predate the oldest kernel modelled here; replace came with 6.11,
// stack_order with 6.13 (the e2e kernels show both on 7.2, neither on 6.1,
// replace alone on 6.12); replaceable and replace_set are our
// implementations of the hybrid and replace_set postings.
var (
	patchAttrs = []attr{
		{name: "enabled"}, {name: "transition"}, {name: "force"},
		{name: "replace", since: [2]int{6, 11}},
		{name: "stack_order", since: [2]int{6, 13}},
		{name: "replaceable", model: deploy.ModelHybrid},
		{name: "replace_set", model: deploy.ModelReplaceSet},
	}
	objectAttrs = []attr{{name: "patched"}}
)

// OldestSysfsLayout is the oldest kernel whose layout SysfsLayout knows: 6.1,
// which added an object's patched.
var OldestSysfsLayout = [2]int{6, 1}

// SysfsLayout is the layout of a kernel release (uname -r) under a kernel
// model; ok is false for a release older than OldestSysfsLayout or one that
// does not start with its version.
func SysfsLayout(release, model string) (Layout, bool) {
	major, minor, ok := klp.KernelVersion(release)
	v := [2]int{major, minor}
	if !ok || slices.Compare(v[:], OldestSysfsLayout[:]) < 0 {
		return Layout{}, false
	}
	pick := func(as []attr) []string {
		var out []string
		for _, a := range as {
			if slices.Compare(v[:], a.since[:]) >= 0 && (a.model == "" || a.model == model) {
				out = append(out, a.name)
			}
		}
		slices.Sort(out)
		return out
	}
	return Layout{Patch: pick(patchAttrs), Object: pick(objectAttrs)}, true
}
