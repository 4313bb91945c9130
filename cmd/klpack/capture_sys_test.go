package main

import "testing"

// TestCaptureSysRoot: the /sys deploy capture reads the kernel's build
// from is --sys, else the one a live-looking --sysfs sits in, else none.
func TestCaptureSysRoot(t *testing.T) {
	tests := []struct{ sysfs, sys, want string }{
		{"/sys/kernel/livepatch", "", "/sys"},
		{"/sys/kernel/livepatch/", "", "/sys"},
		{"copy/kernel/livepatch", "", "copy"},
		{"/tmp/livepatch-copy", "", ""},
		{"/tmp/livepatch", "", ""},
		{"/sys/kernel/livepatch", "/host/sys", "/host/sys"},
	}
	for _, tt := range tests {
		o := &deployCaptureOptions{sysfs: tt.sysfs, sys: tt.sys}
		if got := o.sysRoot(); got != tt.want {
			t.Errorf("sysRoot(--sysfs %s --sys %q) = %q, want %q", tt.sysfs, tt.sys, got, tt.want)
		}
	}
}
