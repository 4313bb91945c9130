package pack

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/pkg/klp"
)

// TestPackagesCarryTarget: a release with a target pins it in every patch
// package, in the manifest and in the target file the loader reads; the
// loader package carries neither. Without a target, no package has one.
func TestPackagesCarryTarget(t *testing.T) {
	pin := &klp.Target{BuildID: "46f129f6d4168327b666a02d6287bcd5ece77f9b",
		Modules: []klp.TargetModule{{Name: "klpack_target", Srcversion: "4E3F2C8B", BuildID: "0102"}}}
	for _, tt := range []struct {
		name string
		pin  *klp.Target
		file string
	}{
		{"pinned", pin, "klpack-target 1\nbuild-id 46f129f6d4168327b666a02d6287bcd5ece77f9b\n"},
		{"unpinned", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := release(t, "release-6.1")
			r.Target = tt.pin
			arts := build(t, r, Options{Formats: []string{FormatDeb}})
			for _, s := range append(r.Specs(), r.LoaderSpec()) {
				files := packageFiles(t, FormatDeb, arts[FormatDeb+":"+s.Name])
				got, ok := files[s.Dir()+"/target"]
				want := tt.file
				if s.IsLoader() {
					want = ""
				}
				if string(got) != want || ok != (want != "") {
					t.Errorf("%s installs target %q (%v), want %q", s.Name, got, ok, want)
				}
				if s.IsLoader() {
					continue
				}
				b, err := os.ReadFile(arts["manifest:"+s.Name])
				if err != nil {
					t.Fatal(err)
				}
				var man Manifest
				if err := json.Unmarshal(b, &man); err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(tt.pin, man.Target); d != "" {
					t.Errorf("%s manifest target (-want +got):\n%s", s.Name, d)
				}
			}
		})
	}
}

func TestValidateTarget(t *testing.T) {
	for _, bad := range []*klp.Target{
		{BuildID: ""},
		{BuildID: "46F1"},
		{BuildID: "46f"},
		{BuildID: "46f1; rm -rf /"},
		{BuildID: "46f1", Modules: []klp.TargetModule{{Name: "a b"}}},
		{BuildID: "46f1", Modules: []klp.TargetModule{{Name: "m", Srcversion: "abc\n"}}},
	} {
		r := release(t, "release-6.1")
		r.Target = bad
		if err := r.Validate(); !errors.Is(err, ErrBadRelease) {
			t.Errorf("Validate(target %+v) = %v, want ErrBadRelease", bad, err)
		}
	}
}
