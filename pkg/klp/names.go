package klp

import "fmt"

// Kernel limits on names (include/linux/module.h, include/linux/kallsyms.h).
const (
	// MaxModuleName is MODULE_NAME_LEN less its terminating NUL on 64-bit.
	MaxModuleName = 64 - 8 - 1
	// MaxSymbolName is KSYM_NAME_LEN less its terminating NUL (512
	// since 6.1; 128 before, which the kernel then refuses on its own).
	MaxSymbolName = 512 - 1
)

// CheckModuleName refuses a module, patch or object name the kernel
// would not give a module: Kbuild names are letters, digits and "_" (it
// turns "-" into "_", and older trees keep "-"). These names become
// sysfs directories, bpffs paths, package names and shell words, so
// nothing else may pass.
func CheckModuleName(s string) error {
	if s == "" {
		return fmt.Errorf("empty module name")
	}
	if len(s) > MaxModuleName {
		return fmt.Errorf("module name of %d bytes, the kernel allows %d", len(s), MaxModuleName)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '_' && c != '-' {
			return fmt.Errorf("module name %q: byte %d (%q) is not a letter, digit, _ or -", s, i, c)
		}
	}
	return nil
}

// CheckSymbolName refuses a function name that cannot be a kernel symbol:
// a C identifier, with the "." of compiler suffixes (foo.cold,
// foo.isra.0, foo.llvm.123) after the first byte.
func CheckSymbolName(s string) error {
	if s == "" {
		return fmt.Errorf("empty symbol name")
	}
	if len(s) > MaxSymbolName {
		return fmt.Errorf("symbol name of %d bytes, the kernel allows %d", len(s), MaxSymbolName)
	}
	if c := s[0]; !isAlpha(c) && c != '_' {
		return fmt.Errorf("symbol name %q: must start with a letter or _", s)
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '_' && c != '.' {
			return fmt.Errorf("symbol name %q: byte %d (%q) is not a letter, digit, _ or .", s, i, c)
		}
	}
	return nil
}

// CheckIdentifier refuses anything but a C identifier: the names of hook
// points, which become BPF program and bpffs directory names.
func CheckIdentifier(s string) error {
	if err := CheckSymbolName(s); err != nil {
		return err
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return fmt.Errorf("%q is not a C identifier", s)
		}
	}
	return nil
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isAlnum(c byte) bool { return isAlpha(c) || c >= '0' && c <= '9' }
