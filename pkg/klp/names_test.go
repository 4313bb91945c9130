package klp

import (
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	tests := []struct {
		check    func(string) error
		name, in string
		ok       bool
	}{
		{CheckModuleName, "module", "livepatch_sample", true},
		{CheckModuleName, "module dash", "klp-patch", true},
		{CheckModuleName, "module max", strings.Repeat("a", 55), true},
		{CheckModuleName, "module long", strings.Repeat("a", 56), false},
		{CheckModuleName, "module empty", "", false},
		{CheckModuleName, "module dotdot", "..", false},
		{CheckModuleName, "module slash", "a/b", false},
		{CheckModuleName, "module newline", "lp\nx", false},
		{CheckModuleName, "module space", "lp x", false},
		{CheckSymbolName, "symbol", "cmdline_proc_show", true},
		{CheckSymbolName, "symbol suffix", "foo.isra.0", true},
		{CheckSymbolName, "symbol underscore", "__x64_sys_read", true},
		{CheckSymbolName, "symbol digit first", "0foo", false},
		{CheckSymbolName, "symbol dot first", ".foo", false},
		{CheckSymbolName, "symbol comma", "foo, bar", false},
		{CheckSymbolName, "symbol path", "../../x", false},
		{CheckSymbolName, "symbol subst", "$(reboot)", false},
		{CheckSymbolName, "symbol high", "f\xc3\xa9", false},
		{CheckSymbolName, "symbol max", "a" + strings.Repeat("b", 510), true},
		{CheckSymbolName, "symbol long", "a" + strings.Repeat("b", 511), false},
		{CheckIdentifier, "ident", "hook_fn", true},
		{CheckIdentifier, "ident dot", "foo.cold", false},
		{CheckIdentifier, "ident glob", "**", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check(tt.in)
			if (err == nil) != tt.ok {
				t.Errorf("check(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}
