package templates

import (
	"errors"
	"testing"

	"github.com/klpack/klpack/internal/testutil"
)

func TestRenderHook(t *testing.T) {
	tests := []struct {
		name string
		d    HookData
	}{
		{"errno", HookData{Module: "lp_hook", Func: "lp_hook_meminfo_allowed", Errno: "ERRNO"}},
		{"true", HookData{Module: "lp_hook", Func: "should_fail", Errno: "TRUE", MaxCgroups: 16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Hook(tt.d)
			if err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, got)
		})
	}
}

func TestRenderHookRefuses(t *testing.T) {
	for _, d := range []HookData{
		{Module: "lp_hook", Func: "f(); evil", Errno: "ERRNO"},
		{Module: "lp_hook", Func: "", Errno: "ERRNO"},
		{Module: "lp hook", Func: "f", Errno: "ERRNO"},
		{Module: "lp_hook", Func: "f", Errno: "EINVAL"},
		{Module: "lp_hook", Func: "f", Errno: "ERRNO", MaxCgroups: -1},
	} {
		if _, err := Hook(d); !errors.Is(err, ErrBadValue) {
			t.Errorf("Hook(%+v) = %v, want ErrBadValue", d, err)
		}
	}
}
