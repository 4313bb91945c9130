package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/klpack/klpack/internal/testutil"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"klpack": func() {
			ctx, stop := signalContext()
			code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
			stop()
			os.Exit(code)
		},
	})
}

// TestScript runs testdata/script/*.txtar through the klpack binary.
// $KO is the repository's testdata/ko, $SCENARIOS its testdata/scenarios,
// $TD testdata itself.
func TestScript(t *testing.T) {
	td, err := filepath.Abs(filepath.Join(testutil.Root(), "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	// Scripts skip on a missing tool with [!exec:...]; where tools are
	// required, their absence fails here instead.
	if testutil.RequireTools() {
		for _, tool := range []string{"clang", "llvm-strip", "openssl"} {
			testutil.NeedTool(t, tool)
		}
	}
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		UpdateScripts:       testutil.Updating(t),
		Setup: func(env *testscript.Env) error {
			env.Setenv("KO", filepath.Join(td, "ko"))
			env.Setenv("SCENARIOS", filepath.Join(td, "scenarios"))
			env.Setenv("TD", td)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": exitcode,
		},
	})
}

// exitcode N CMD ARGS... runs CMD and checks that it exits with N; its
// output is then available to stdout and stderr like exec's.
func exitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %v", err)
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		ee, ok := errors.AsType[*exec.ExitError](err)
		if !ok {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}
