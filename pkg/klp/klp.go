package klp

// ScanSchema names the version of the JSON document `klpack scan --json`
// prints. Change it only with an incompatible change to Module.
const ScanSchema = "klpack.scan/v1"

// ScanSchemaUnhashed names the document `klpack scan --json --no-hash`
// prints: klpack.scan/v1's records with sha256 "", the files not hashed.
// A new version, so that a reader that takes sha256 for the file's
// digest refuses it instead of finding every file changed; klpack's own
// readers of records take both.
const ScanSchemaUnhashed = "klpack.scan/v2"

// Module formats: how a livepatch module builds its struct klp_patch.
const (
	FormatStatic      = "static"       // hand-written, struct klp_patch in data
	FormatKpatchBuild = "kpatch-build" // .kpatch.* sections, patch built at init
	FormatKlpBuild    = "klp-build"    // upstream klp-build sections, patch built at init
)

// Layout sources: where the field offsets of the klp structs came from.
const (
	LayoutDWARF = "dwarf"
	LayoutBTF   = "btf"
	LayoutTable = "table"
)

// Replace sources: where Patch.Replace was read from.
const (
	ReplaceStatic   = "static initializer"
	ReplaceInit     = "init code"
	ReplaceParam    = "module parameter"
	ReplaceModinfo  = "modinfo tag"
	ReplaceManifest = "manifest"
	// ReplaceSysfs: the kernel's own /sys/kernel/livepatch/<p>/replace,
	// read by deploy capture.
	ReplaceSysfs = "sysfs"
	// ReplaceUnknown: the module sets replace at run time from a value the
	// scan cannot follow; Replace is then false and ReplaceHint says where
	// to declare the real value.
	ReplaceUnknown = "unknown"
)

// Scan is the document `klpack scan --json` prints.
type Scan struct {
	Schema  string    `json:"schema"`
	Modules []*Module `json:"modules"`
}

// Module is everything klpack learns about one kernel module file without
// loading it.
type Module struct {
	Path     string `json:"path"`
	SHA256   string `json:"sha256"`
	Name     string `json:"name"`
	Vermagic string `json:"vermagic"`
	// Arch is the ELF machine as the kernel names it: x86_64, arm64.
	Arch string `json:"arch"`
	// Compression of the file itself ("" when plain): xz, zstd, gzip.
	Compression string `json:"compression,omitempty"`
	Livepatch   bool   `json:"livepatch"`
	// Format is one of the Format constants, nil when no livepatch.
	Format *string `json:"format"`
	// LayoutSource is one of the Layout constants; nil when no struct
	// layout was needed.
	LayoutSource *string `json:"layout_source"`
	// Modinfo holds every key of .modinfo with its values in file order;
	// keys such as alias or parm repeat.
	Modinfo   map[string][]string `json:"modinfo"`
	Signature *Signature          `json:"signature"`
	Patches   []*Patch            `json:"patches"`
	// KlpRelas and KlpSyms are what the kernel resolves when it loads the
	// patch (any flavour): the .klp.rela.<obj>.<sec> relocation sections
	// and the .klp.sym.<obj>.<sym>,<pos> symbols they use, sorted.
	KlpRelas []KlpRela `json:"klp_relas,omitempty"`
	KlpSyms  []KlpSym  `json:"klp_syms,omitempty"`
}

// KlpRela is one .klp.rela.<object>.<section> relocation section: entries
// the kernel applies to Target once Object is loaded.
type KlpRela struct {
	// Section is the full section name.
	Section string `json:"section"`
	// Object is the module the targets resolve in ("vmlinux" for the
	// kernel), as the kernel parses it from the name.
	Object string `json:"object"`
	// Target is the module's own section the entries patch (sh_info).
	Target string `json:"target"`
	Count  int    `json:"count"`
}

// KlpSym is one .klp.sym.<object>.<name>,<sympos> symbol: a symbol of
// Object the kernel looks up by name and position at load time.
type KlpSym struct {
	Object string `json:"object"`
	Name   string `json:"name"`
	// Sympos as the module holds it: 0 means the name is unique in
	// Object, n > 0 the n-th symbol of that name in kallsyms order.
	Sympos uint64 `json:"sympos"`
}

// Signature is the appended module signature, in the words modinfo uses.
type Signature struct {
	// IDType is modinfo's sig_id: "PKCS#7", "X509" or "PGP".
	IDType   string `json:"id_type"`
	Signer   string `json:"signer"`
	KeyID    string `json:"key_id"`
	HashAlgo string `json:"hash_algo"`
}

// Patch is one struct klp_patch the module hands to klp_enable_patch.
type Patch struct {
	// Symbol is the name of the klp_patch variable, or its section and
	// offset when the module carries no such symbol.
	Symbol        string `json:"symbol"`
	Replace       bool   `json:"replace"`
	ReplaceSource string `json:"replace_source"`
	// ReplaceParam names the module parameter replace is read from.
	ReplaceParam string `json:"replace_param,omitempty"`
	// ReplaceHint, with ReplaceSource unknown, says why and where to
	// declare the value the scan could not read.
	ReplaceHint string `json:"replace_hint,omitempty"`
	// Replaceable is nil when the module does not declare it.
	Replaceable *bool   `json:"replaceable"`
	ReplaceSet  *uint32 `json:"replace_set"`
	// ReplaceableSource and ReplaceSetSource say where a declared
	// Replaceable and ReplaceSet came from (one of the Replace constants).
	ReplaceableSource string   `json:"replaceable_source,omitempty"`
	ReplaceSetSource  string   `json:"replace_set_source,omitempty"`
	States            []State  `json:"states"`
	Objects           []Object `json:"objects"`
	Hooks             []Hook   `json:"hooks"`
}

// State is one struct klp_state.
type State struct {
	ID      uint64 `json:"id"`
	Version uint32 `json:"version"`
}

// Object is one struct klp_object: the functions patched in vmlinux (Name
// nil) or in one module.
type Object struct {
	Name      *string   `json:"name"`
	Funcs     []Func    `json:"funcs"`
	Callbacks Callbacks `json:"callbacks"`
}

// VmlinuxName is the name sysfs gives the object of the kernel itself.
const VmlinuxName = "vmlinux"

// ObjectName is the object's name as sysfs shows it.
func (o *Object) ObjectName() string {
	if o.Name == nil {
		return VmlinuxName
	}
	return *o.Name
}

// Func is one struct klp_func.
type Func struct {
	OldName   string `json:"old_name"`
	OldSympos uint64 `json:"old_sympos"`
	NewFunc   string `json:"new_func"`
	// Base and Clone split a GCC clone name (foo.isra.0 → foo, .isra.0).
	Base  string `json:"old_base,omitempty"`
	Clone string `json:"old_clone,omitempty"`
	// Demangled is the readable form of a Rust or C++ old_name.
	Demangled string `json:"old_demangled,omitempty"`
}

// Callbacks names the functions of struct klp_callbacks; absent ones are
// empty and omitted from JSON.
type Callbacks struct {
	PrePatch    string `json:"pre_patch,omitempty"`
	PostPatch   string `json:"post_patch,omitempty"`
	PreUnpatch  string `json:"pre_unpatch,omitempty"`
	PostUnpatch string `json:"post_unpatch,omitempty"`
}

// Hook sources: where a hook point was declared.
const (
	HookMarker   = "marker"   // a .klpack.hooks entry KLPACK_HOOK wrote
	HookManifest = "manifest" // the release manifest
)

// Hook is a livepatch function declared as a BPF hook point.
type Hook struct {
	// Object is the module whose function Func is: the livepatch module
	// itself, or "vmlinux" when the declaration points outside it.
	Object string `json:"object"`
	Func   string `json:"func"`
	Source string `json:"source"`
	// Errno is what the function returns on failure, as its
	// error-injection entry (else its declaration) says: ERRNO,
	// ERRNO_NULL, NULL or TRUE. It bounds what an override may return.
	Errno string `json:"errno,omitempty"`
	// NoErrorInjection: the module has no error-injection entry for the
	// function, so the kernel refuses to override it.
	NoErrorInjection bool `json:"no_error_injection,omitempty"`
}
