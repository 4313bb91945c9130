package klp

import "testing"

func TestSympos(t *testing.T) {
	for _, tt := range []struct{ in, want uint64 }{{0, 1}, {1, 1}, {2, 2}, {7, 7}} {
		if got := Sympos(tt.in); got != tt.want {
			t.Errorf("Sympos(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
	o := Object{}
	k := KeyOf(&o, &Func{OldName: "cmdline_proc_show"})
	if got, want := k.String(), "vmlinux/cmdline_proc_show,1"; got != want {
		t.Errorf("KeyOf(vmlinux, sympos 0) = %s, want %s", got, want)
	}
	name := "kobject_example"
	k = KeyOf(&Object{Name: &name}, &Func{OldName: "foo_show", OldSympos: 3})
	if got, want := k.String(), "kobject_example/foo_show,3"; got != want {
		t.Errorf("KeyOf(module, sympos 3) = %s, want %s", got, want)
	}
}

func TestKernelRelease(t *testing.T) {
	for _, tt := range []struct{ vermagic, want string }{
		{"6.1.0-56-amd64 SMP preempt mod_unload modversions ", "6.1.0-56-amd64"},
		{"  7.2.13 SMP", "7.2.13"},
		{"", ""},
		{"   ", ""},
	} {
		if got := KernelRelease(tt.vermagic); got != tt.want {
			t.Errorf("KernelRelease(%q) = %q, want %q", tt.vermagic, got, tt.want)
		}
	}
}

func TestKernelVersion(t *testing.T) {
	for _, tt := range []struct {
		release    string
		maj, minor int
		ok         bool
	}{
		{"6.1.0-56-amd64", 6, 1, true},
		{"6.12.117+deb12-amd64", 6, 12, true},
		{"7.2", 7, 2, true},
		{"7.2-rc1", 7, 2, true},
		{"7", 0, 0, false},
		{"x.1", 0, 0, false},
		{"6.x", 0, 0, false},
		{"", 0, 0, false},
	} {
		maj, minor, ok := KernelVersion(tt.release)
		if maj != tt.maj || minor != tt.minor || ok != tt.ok {
			t.Errorf("KernelVersion(%q) = %d, %d, %v, want %d, %d, %v", tt.release, maj, minor, ok, tt.maj, tt.minor, tt.ok)
		}
	}
}
