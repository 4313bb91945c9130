package klp

// Kinds of instrumentation sites a function's code holds. While a
// livepatch replaces the function, the original's sites do not run.
const (
	// SiteTracepoint is a trace_NAME() call: its static key
	// __tracepoint_NAME, its static call __SCT__tp_func_NAME or a call to
	// __traceiter_NAME.
	SiteTracepoint = "tracepoint"
	// SiteStaticKey is a static_branch on any other key (jump label).
	SiteStaticKey = "static-key"
	// SiteStaticCall is a static_call() site of any other call.
	SiteStaticCall = "static-call"
	// SiteDyndbg is a dynamic-debug site (pr_debug, dev_dbg, ...).
	SiteDyndbg = "dyndbg"
)

// Site is one instrumentation site in a function's code. Kind and Name
// identify it: the tracepoint, key or static call name, or a dyndbg
// site's format string (what dynamic_debug/control selects by format).
type Site struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Detail is what helps a reader find it: a dyndbg site's source
	// file:line when known.
	Detail string `json:"detail,omitempty"`
}

// String is "kind name", a dyndbg format quoted; control bytes of
// either are escaped, for the file they came from is untrusted.
func (s Site) String() string {
	if s.Kind == SiteDyndbg {
		q := "dyndbg " + quoteFormat(s.Name)
		if s.Detail != "" {
			q += " (" + s.Detail + ")"
		}
		return q
	}
	// Symbol names come from the file too: control bytes are escaped.
	q := quoteFormat(s.Name)
	return s.Kind + " " + q[1:len(q)-1]
}

// quoteFormat shows a format string on one line: its newline as \n, other
// control bytes as \xNN, in double quotes.
func quoteFormat(s string) string {
	const hex = "0123456789abcdef"
	b := []byte{'"'}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c == 0x7f:
			b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return string(append(b, '"'))
}

// ObjectSites are the sites of one object (vmlinux or a module), by
// function name. A name that more than one function symbol has (local
// functions of different files) has one entry per symbol, in the order
// kallsyms counts them for old_sympos; a function without sites has an
// empty entry when its name has more than one, and none otherwise.
type ObjectSites struct {
	// Object is "vmlinux" or the module's name.
	Object string              `json:"object"`
	Funcs  map[string][][]Site `json:"funcs"`
}

// Lookup returns the sites of the function name at sympos (0 when the
// name must be unique, as klp_func.old_sympos says), and whether the
// object says which function that is. A name without sites is found,
// with none.
func (o *ObjectSites) Lookup(name string, sympos uint64) ([]Site, bool) {
	occ, ok := o.Funcs[name]
	switch {
	case !ok:
		return nil, true
	case sympos == 0 && len(occ) == 1:
		return occ[0], true
	case sympos == 0:
		return nil, false // ambiguous: the kernel refuses it (KLP011)
	case sympos > uint64(len(occ)):
		return nil, false
	}
	return occ[sympos-1], true
}
