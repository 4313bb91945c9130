package check

import (
	"fmt"
	"slices"

	"github.com/klpack/klpack/pkg/klp"
)

// clearsRelocs says whether the target kernel clears a patch's klp
// relocations for a module when the module goes (klp_module_going →
// klp_clear_object_relocs → clear_relocate_add), so that they can be
// written again when it comes back. On x86_64 the kernel refuses to write
// a relocation over a non-zero value ("Invalid relocation target, existing
// value is nonzero") since long before the clearing came in 6.3 (commit
// 0c05e7bd2d01). The target's symbols decide when given: x86's
// clear_relocate_add is in them when the kernel has it. Otherwise the
// release decides. known is false for other architectures.
func (c *checker) clearsRelocs(release, arch string) (clears, known bool, why string) {
	if arch != "x86_64" {
		return false, false, ""
	}
	if s := c.in.Symbols; s != nil && s.objects[klp.VmlinuxName] {
		if s.count[objName{klp.VmlinuxName, "clear_relocate_add"}] > 0 {
			return true, true, ""
		}
		return false, true, "the target's symbols have no clear_relocate_add"
	}
	major, minor, ok := klp.KernelVersion(release)
	if !ok {
		return false, false, ""
	}
	if major > 6 || major == 6 && minor >= 3 {
		return true, true, ""
	}
	return false, true, fmt.Sprintf("kernel %s is older than 6.3, where x86 began clearing them", release)
}

// moduleReload: a candidate with klp relocations for a module object, on
// a kernel that does not clear them when the module goes.
func (c *checker) moduleReload(release string) {
	for _, m := range c.in.Candidates {
		rel := release
		if rel == "" {
			rel = klp.KernelRelease(m.Vermagic)
		}
		clears, known, why := c.clearsRelocs(rel, m.Arch)
		if clears || !known {
			continue
		}
		var objs []string
		for _, r := range m.KlpRelas {
			if r.Object != klp.VmlinuxName && !slices.Contains(objs, r.Object) {
				objs = append(objs, r.Object)
			}
		}
		for _, o := range objs {
			c.report(RuleModuleReload, m.Path,
				fmt.Sprintf("%s has klp relocations for module %s, and %s: once %s is unloaded under the patch, loading it again fails (ENOEXEC)", m.Name, o, why, o),
				[]string{m.Name}, objectFuncs(m, o))
		}
	}
}

// objectFuncs names the functions m patches in object o.
func objectFuncs(m *klp.Module, o string) []string {
	var out []string
	for _, p := range m.Patches[:min(len(m.Patches), 1)] {
		for i := range p.Objects {
			if obj := &p.Objects[i]; obj.ObjectName() == o {
				for j := range obj.Funcs {
					out = append(out, klp.KeyOf(obj, &obj.Funcs[j]).String())
				}
			}
		}
	}
	return out
}
