package klp

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/klpack/klpack/internal/safetext"
)

// FieldError is a module record field that no scan of a real module
// yields: a name the kernel would not give, text with control
// characters, a null patch. Field is its JSON path within the record.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Validate checks what a record read from a document must hold before
// klpack prints it, makes paths or package metadata of it or replays it:
// module and object names as the kernel names modules, the names the
// kernel looks up (old_name, klp_syms, hook points) as kernel symbols, no
// control characters in any other text (new_func and callbacks are
// "section+offset" in a stripped module), no null patch. Modinfo values are exempt from the text check: modules put
// newlines in parameter descriptions, and the value only reaches JSON,
// which escapes it. The error is a *FieldError.
func (m *Module) Validate() error {
	v := validator{}
	v.name("name", m.Name)
	v.text("path", m.Path)
	v.text("sha256", m.SHA256)
	v.text("vermagic", m.Vermagic)
	v.text("arch", m.Arch)
	v.text("compression", m.Compression)
	v.textPtr("format", m.Format)
	v.textPtr("layout_source", m.LayoutSource)
	for _, k := range slices.Sorted(maps.Keys(m.Modinfo)) {
		v.text("modinfo", k)
	}
	if s := m.Signature; s != nil {
		v.text("signature.id_type", s.IDType)
		v.text("signature.signer", s.Signer)
		v.text("signature.key_id", s.KeyID)
		v.text("signature.hash_algo", s.HashAlgo)
	}
	for i, p := range m.Patches {
		at := "patches[" + strconv.Itoa(i) + "]"
		if p == nil {
			v.fail(at, fmt.Errorf("null where a klp_patch is required"))
			continue
		}
		v.patch(at, p)
	}
	for i, r := range m.KlpRelas {
		at := "klp_relas[" + strconv.Itoa(i) + "]"
		v.text(at+".section", r.Section)
		v.name(at+".object", r.Object)
		v.text(at+".target", r.Target)
	}
	for i, s := range m.KlpSyms {
		at := "klp_syms[" + strconv.Itoa(i) + "]"
		v.name(at+".object", s.Object)
		v.symbol(at+".name", s.Name)
	}
	if v.err != nil {
		return v.err
	}
	return nil
}

// validator keeps the first error, so that the checks read as a list.
type validator struct{ err *FieldError }

func (v *validator) fail(field string, err error) {
	if v.err == nil {
		v.err = &FieldError{Field: field, Err: err}
	}
}

func (v *validator) name(field, s string) {
	if err := CheckModuleName(s); err != nil {
		v.fail(field, err)
	}
}

func (v *validator) symbol(field, s string) {
	if err := CheckSymbolName(s); err != nil {
		v.fail(field, err)
	}
}

// optSymbol checks a symbol name that may be absent.
func (v *validator) optSymbol(field, s string) {
	if s != "" {
		v.symbol(field, s)
	}
}

func (v *validator) text(field, s string) {
	if err := safetext.Check(s); err != nil {
		v.fail(field, fmt.Errorf("%s: %w", strconv.Quote(s), err))
	}
}

func (v *validator) textPtr(field string, s *string) {
	if s != nil {
		v.text(field, *s)
	}
}

// funcValid reports whether f passes the checks validator.patch makes of
// a function.
func funcValid(f *Func) bool {
	return CheckSymbolName(f.OldName) == nil && safetext.Check(f.NewFunc) == nil &&
		(f.Base == "" || CheckSymbolName(f.Base) == nil) &&
		safetext.Check(f.Clone) == nil && safetext.Check(f.Demangled) == nil
}

func (v *validator) patch(at string, p *Patch) {
	v.text(at+".symbol", p.Symbol)
	v.text(at+".replace_source", p.ReplaceSource)
	v.text(at+".replace_param", p.ReplaceParam)
	v.text(at+".replace_hint", p.ReplaceHint)
	v.text(at+".replaceable_source", p.ReplaceableSource)
	v.text(at+".replace_set_source", p.ReplaceSetSource)
	for j := range p.Objects {
		o := &p.Objects[j]
		oat := at + ".objects[" + strconv.Itoa(j) + "]"
		if o.Name != nil {
			v.name(oat+".name", *o.Name)
		}
		for k := range o.Funcs {
			f := &o.Funcs[k]
			if funcValid(f) {
				// The paths below are made only for an error: a state
				// of 10,000 patches has a million functions.
				continue
			}
			fat := oat + ".funcs[" + strconv.Itoa(k) + "]"
			v.symbol(fat+".old_name", f.OldName)
			v.text(fat+".new_func", f.NewFunc)
			v.optSymbol(fat+".old_base", f.Base)
			v.text(fat+".old_clone", f.Clone)
			v.text(fat+".old_demangled", f.Demangled)
		}
		cb := &o.Callbacks
		v.text(oat+".callbacks.pre_patch", cb.PrePatch)
		v.text(oat+".callbacks.post_patch", cb.PostPatch)
		v.text(oat+".callbacks.pre_unpatch", cb.PreUnpatch)
		v.text(oat+".callbacks.post_unpatch", cb.PostUnpatch)
	}
	for j, h := range p.Hooks {
		hat := at + ".hooks[" + strconv.Itoa(j) + "]"
		v.name(hat+".object", h.Object)
		v.symbol(hat+".func", h.Func)
		v.text(hat+".source", h.Source)
		v.text(hat+".errno", h.Errno)
	}
}
