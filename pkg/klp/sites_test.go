package klp

import "testing"

// TestObjectSitesLookup: old_sympos picks among functions of one name as
// kallsyms counts them; 0 is the unique one, and none when several.
func TestObjectSitesLookup(t *testing.T) {
	a := Site{Kind: SiteTracepoint, Name: "a"}
	o := &ObjectSites{Object: "vmlinux", Funcs: map[string][][]Site{"one": {{a}}, "two": {{}, {a}}}}
	tests := []struct {
		name   string
		sympos uint64
		want   int // sites
		ok     bool
	}{
		{"one", 0, 1, true},
		{"one", 1, 1, true},
		{"one", 2, 0, false},
		{"two", 0, 0, false},
		{"two", 1, 0, true},
		{"two", 2, 1, true},
		{"none", 0, 0, true},
	}
	for _, tt := range tests {
		got, ok := o.Lookup(tt.name, tt.sympos)
		if len(got) != tt.want || ok != tt.ok {
			t.Errorf("Lookup(%q, %d) = %v, %v; want %d sites, %v", tt.name, tt.sympos, got, ok, tt.want, tt.ok)
		}
	}
}

// TestSiteString: a dyndbg format shows on one line, quoted, its control
// bytes escaped (it comes from a module: untrusted).
func TestSiteString(t *testing.T) {
	tests := []struct {
		s    Site
		want string
	}{
		{Site{Kind: SiteTracepoint, Name: "sched_switch"}, "tracepoint sched_switch"},
		{Site{Kind: SiteStaticKey, Name: "k"}, "static-key k"},
		{Site{Kind: SiteStaticKey, Name: "k\x1b[2J"}, `static-key k\x1b[2J`},
		{Site{Kind: SiteDyndbg, Name: "poke %d\n", Detail: "m.c:3"}, `dyndbg "poke %d\n" (m.c:3)`},
		{Site{Kind: SiteDyndbg, Name: "\x1b[2J\"q\\"}, `dyndbg "\x1b[2J\"q\\"`},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.s, got, tt.want)
		}
	}
}
