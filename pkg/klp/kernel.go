package klp

import (
	"strconv"
	"strings"
)

// Layers: how a release treats a patch module.
const (
	// LayerCumulative: the one atomic-replace patch a fleet runs per
	// kernel build; each release supersedes the last.
	LayerCumulative = "cumulative"
	// LayerOffBand: a patch for a subpopulation that must stay loaded
	// when the cumulative one is replaced.
	LayerOffBand = "off-band"
)

// ValidLayer reports whether l is one of the Layer constants.
func ValidLayer(l string) bool { return l == LayerCumulative || l == LayerOffBand }

// Sympos is the position the kernel resolves old_sympos to: 0 means the
// name is unique, and klp_find_func (kernel/livepatch/core.c) treats 0
// and 1 as the same function, so both are 1. sysfs names the function
// with this number.
func Sympos(oldSympos uint64) uint64 { return max(oldSympos, 1) }

// FuncKey names a patched function as sysfs does:
// <object>/<function>,<sympos>, with Sympos already through Sympos.
type FuncKey struct {
	Object string
	Name   string
	Sympos uint64
}

// KeyOf is the key of f in o.
func KeyOf(o *Object, f *Func) FuncKey {
	return FuncKey{Object: o.ObjectName(), Name: f.OldName, Sympos: Sympos(f.OldSympos)}
}

// String is the key as sysfs names the function: object/name,sympos. Not
// through fmt: a check of a large deployed set makes a million of them.
func (k FuncKey) String() string {
	return k.Object + "/" + k.Name + "," + strconv.FormatUint(k.Sympos, 10)
}

// KernelRelease is the kernel release a vermagic string names (its first
// field, what `uname -r` prints on that kernel); "" when there is none.
func KernelRelease(vermagic string) string {
	f := strings.Fields(vermagic)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// KernelVersion is the major and minor number of a kernel release
// ("6.1.0-56-amd64" is 6, 1); ok is false when the release does not start
// with them.
func KernelVersion(release string) (major, minor int, ok bool) {
	maj, rest, found := strings.Cut(release, ".")
	if !found {
		return 0, 0, false
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(rest[:end])
	if err1 != nil || err2 != nil || a < 0 || b < 0 {
		return 0, 0, false
	}
	return a, b, true
}
