package elfscan

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/klpack/klpack/pkg/klp"
)

// checkNames refuses a record whose names no kernel could use: the
// kernel finds old_name in kallsyms and an object by its module's name,
// so a name that is not a symbol or a module name marks a crafted file,
// and these names go on to rpm Provides, shell scripts and terminals.
// section is where the module's name was read.
func checkNames(m *klp.Module, section string) error {
	if err := klp.CheckModuleName(m.Name); err != nil {
		return formatErr(section, 0, "module name: %v", err)
	}
	for _, r := range m.KlpRelas {
		if err := klp.CheckModuleName(r.Object); err != nil {
			return formatErr(r.Section, 0, ".klp.rela object: %v", err)
		}
	}
	for _, k := range m.KlpSyms {
		if err := klp.CheckModuleName(k.Object); err != nil {
			return formatErr(".symtab", 0, ".klp.sym object: %v", err)
		}
		if err := klp.CheckSymbolName(k.Name); err != nil {
			return formatErr(".symtab", 0, ".klp.sym.%s: %v", k.Object, err)
		}
	}
	for _, p := range m.Patches {
		if err := checkSymbolRef(p.Symbol); err != nil {
			return formatErr("", 0, "klp_patch symbol: %v", err)
		}
		where := "klp_patch " + p.Symbol
		for _, o := range p.Objects {
			if o.Name != nil {
				if err := klp.CheckModuleName(*o.Name); err != nil {
					return formatErr("", 0, "%s: klp_object name: %v", where, err)
				}
			}
			obj := where + ": klp_object " + o.ObjectName()
			for i, f := range o.Funcs {
				if err := klp.CheckSymbolName(f.OldName); err != nil {
					return formatErr("", 0, "%s: klp_func %d: old_name: %v", obj, i, err)
				}
				if err := checkSymbolRef(f.NewFunc); err != nil {
					return formatErr("", 0, "%s: klp_func %s: new_func: %v", obj, f.OldName, err)
				}
			}
			for _, cb := range []struct{ field, name string }{
				{"pre_patch", o.Callbacks.PrePatch}, {"post_patch", o.Callbacks.PostPatch},
				{"pre_unpatch", o.Callbacks.PreUnpatch}, {"post_unpatch", o.Callbacks.PostUnpatch},
			} {
				if cb.name == "" {
					continue
				}
				if err := checkSymbolRef(cb.name); err != nil {
					return formatErr("", 0, "%s: callbacks: %s: %v", obj, cb.field, err)
				}
			}
		}
		for _, h := range p.Hooks {
			if h.Source != klp.HookMarker {
				continue // the manifest's names, checked against the module's functions
			}
			if err := klp.CheckSymbolName(h.Func); err != nil {
				return formatErr("", 0, "%s: hook marker: %v", where, err)
			}
		}
	}
	return nil
}

// checkSymbolRef accepts how the decoders name a place in the module: a
// symbol's name, a section's (a patch kpatch-build or klp-build made),
// or, where a stripped module has no symbol, "<section>+0x<offset>"
// (elf64.File.SymbolAt).
func checkSymbolRef(s string) error {
	if klp.CheckSymbolName(s) == nil {
		return nil
	}
	sec := s
	if i := strings.LastIndex(s, "+0x"); i >= 0 {
		if _, err := strconv.ParseUint(s[i+len("+0x"):], 16, 64); err == nil {
			sec = s[:i]
		}
	}
	if !strings.HasPrefix(sec, ".") || klp.CheckSymbolName(sec[1:]) != nil {
		return fmt.Errorf("%q is neither a symbol, a section nor <section>+<offset>", s)
	}
	return nil
}
