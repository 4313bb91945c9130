package capture

import (
	"errors"
	"io/fs"
	"path"
	"strings"

	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

// maxNotes bounds a notes file of sysfs: the kernel's hold a few hundred
// bytes, a module's build-id note 36.
const maxNotes = 64 << 10

// kernelBuild records the running kernel's build identity from sys (a
// /sys tree): the vmlinux build-id from kernel/notes, and for each loaded
// module a patch of st patches, its srcversion and build-id from
// module/NAME. What sysfs does not show stays unknown, said in the report.
func kernelBuild(sys fs.FS, st *deploy.State, rep *CaptureReport) {
	b, err := readSys(sys, "kernel/notes")
	if err == nil {
		st.Kernel.BuildID, err = elfscan.ParseBuildID(b)
	}
	if err != nil {
		rep.add(EntryNote, "", "", "kernel build-id unknown: kernel/notes: %v", err)
	} else {
		rep.add(EntryInfo, "", "", "kernel build-id %s (kernel/notes)", st.Kernel.BuildID)
	}
	seen := map[string]bool{}
	for _, p := range st.Patches {
		for _, o := range p.Patches {
			for _, obj := range o.Objects {
				if obj.Name == nil || seen[klp.ModuleKey(*obj.Name)] {
					continue
				}
				name := klp.ModuleKey(*obj.Name)
				seen[name] = true
				if tm, ok := loadedModule(sys, name); ok {
					st.Kernel.Modules = append(st.Kernel.Modules, tm)
				}
			}
		}
	}
	klp.SortTargetModules(st.Kernel.Modules)
}

// loadedModule reads module/NAME's build identity; false when the module
// is not loaded or shows none that is well formed.
func loadedModule(sys fs.FS, name string) (klp.TargetModule, bool) {
	if klp.CheckModuleName(name) != nil {
		return klp.TargetModule{}, false
	}
	tm := klp.TargetModule{Name: name}
	if b, err := readSys(sys, path.Join("module", name, "srcversion")); err == nil {
		tm.Srcversion = strings.TrimSpace(string(b))
	}
	if b, err := readSys(sys, path.Join("module", name, "notes", ".note.gnu.build-id")); err == nil {
		tm.BuildID, _ = elfscan.ParseBuildID(b)
	}
	if tm.Srcversion == "" && tm.BuildID == "" || tm.Validate() != nil {
		return klp.TargetModule{}, false
	}
	return tm, true
}

func readSys(sys fs.FS, name string) ([]byte, error) {
	b, err := safeio.ReadFS(sys, name, maxNotes)
	if nr, ok := errors.AsType[*safeio.NotRegularError](err); ok {
		// The report names the file already.
		return nil, errors.New(strings.TrimPrefix(nr.Error(), name+": "))
	}
	return b, err
}
