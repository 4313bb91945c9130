package klp

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/klpack/klpack/internal/safetext"
)

// WriteScanText prints the human form of a scan: a line per module, and a
// table of functions per livepatch.
func WriteScanText(w io.Writer, mods []*Module) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, m := range mods {
		writeModule(tw, m)
	}
	return tw.Flush()
}

func writeModule(w io.Writer, m *Module) {
	kind := "module"
	if m.Livepatch {
		kind = "livepatch"
		if m.Format != nil {
			kind += " (" + *m.Format + ")"
		}
	}
	// The path comes from a directory walk and vermagic and the signer
	// from the file, unchecked: quoted if they hold control characters.
	fmt.Fprintf(w, "%s: %s %s\n", safetext.Quote(m.Path), kind, m.Name)
	fmt.Fprintf(w, "  vermagic:\t%s\n", safetext.Quote(strings.TrimSpace(m.Vermagic)))
	fmt.Fprintf(w, "  arch:\t%s\n", m.Arch)
	if m.Signature != nil {
		fmt.Fprintf(w, "  signature:\t%s %s, key %s (%s)\n", m.Signature.IDType, safetext.Quote(m.Signature.Signer), m.Signature.KeyID, m.Signature.HashAlgo)
	} else {
		fmt.Fprintf(w, "  signature:\tnone\n")
	}
	if m.LayoutSource != nil {
		fmt.Fprintf(w, "  layout:\t%s\n", *m.LayoutSource)
	}
	if len(m.KlpRelas) > 0 || len(m.KlpSyms) > 0 {
		// What the kernel resolves when each object loads: listed in
		// the JSON, counted here.
		var objs []string
		for _, s := range m.KlpSyms {
			if !slices.Contains(objs, s.Object) {
				objs = append(objs, s.Object)
			}
		}
		n := 0
		for _, r := range m.KlpRelas {
			n += r.Count
		}
		fmt.Fprintf(w, "  resolved at load:\t%d .klp.sym symbols in %s; %d relocations in %d .klp.rela sections\n",
			len(m.KlpSyms), strings.Join(objs, ", "), n, len(m.KlpRelas))
	}
	for _, p := range m.Patches {
		writePatch(w, p)
	}
	fmt.Fprintln(w)
}

func writePatch(w io.Writer, p *Patch) {
	src := p.ReplaceSource
	if p.ReplaceParam != "" {
		src += " " + p.ReplaceParam
	}
	if p.ReplaceSource == ReplaceUnknown {
		fmt.Fprintf(w, "  patch %s:\treplace=unknown\n", p.Symbol)
		fmt.Fprintf(w, "    replace_hint:\t%s\n", p.ReplaceHint)
	} else {
		fmt.Fprintf(w, "  patch %s:\treplace=%t (%s)\n", p.Symbol, p.Replace, src)
	}
	if p.Replaceable != nil {
		fmt.Fprintf(w, "    replaceable:\t%t\n", *p.Replaceable)
	}
	if p.ReplaceSet != nil {
		fmt.Fprintf(w, "    replace_set:\t%d\n", *p.ReplaceSet)
	}
	if len(p.States) > 0 {
		var s []string
		for _, st := range p.States {
			s = append(s, fmt.Sprintf("%#x v%d", st.ID, st.Version))
		}
		fmt.Fprintf(w, "    states:\t%s\n", strings.Join(s, ", "))
	}
	fmt.Fprintf(w, "    OBJECT\tFUNCTION\tSYMPOS\tCLONE\tNEW\n")
	for _, o := range p.Objects {
		for _, f := range o.Funcs {
			name, clone := f.OldName, "-"
			if f.Clone != "" {
				name, clone = f.Base, f.Clone
			}
			if f.Demangled != "" {
				name = f.Demangled
			}
			fmt.Fprintf(w, "    %s\t%s\t%d\t%s\t%s\n", o.ObjectName(), name, f.OldSympos, clone, f.NewFunc)
		}
		for _, cb := range []struct{ k, v string }{
			{"pre_patch", o.Callbacks.PrePatch},
			{"post_patch", o.Callbacks.PostPatch},
			{"pre_unpatch", o.Callbacks.PreUnpatch},
			{"post_unpatch", o.Callbacks.PostUnpatch},
		} {
			if cb.v != "" {
				fmt.Fprintf(w, "    %s\t(%s)\t\t\t%s\n", o.ObjectName(), cb.k, cb.v)
			}
		}
	}
	for _, h := range p.Hooks {
		fmt.Fprintf(w, "    hook %s/%s\t(%s)\n", h.Object, h.Func, h.Source)
	}
}
