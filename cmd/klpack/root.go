package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/internal/termstyle"
	"github.com/spf13/cobra"
)

// Exit codes, decided here only.
const (
	exitOK       = 0
	exitFindings = 1
	exitInput    = 2
)

// exitError carries the exit code a command wants.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "klpack",
		Short:         "Release engineering for Linux kernel livepatches",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// --version prints what klpack version does; through an annotation,
	// so that the template never parses text from the build.
	v := readVersion()
	var text strings.Builder
	v.writeText(&text)
	root.Version = v.Version
	root.Annotations = map[string]string{"version": text.String()}
	root.SetVersionTemplate(`{{index .Annotations "version"}}`)
	// Read by each command through styleFor: the root owns no state.
	var color string
	enumFlagIn(root, root.PersistentFlags(), &color, "color", termstyle.Auto, termstyle.Modes, false,
		"colour severity words: auto (a terminal, unless NO_COLOR is set or TERM=dumb), always or never")
	root.AddCommand(newVersionCmd(), newScanCmd(), newSimulateCmd(), newCheckCmd(), newPlanCmd(), newDeployCmd(), newHooksCmd(), newStatusCmd())
	root.AddCommand(releaseCmds()...)
	// Cobra adds its completion command when it executes; added now, it
	// is guarded like the others.
	root.InitDefaultCompletionCmd()
	applyHelp(root)
	guardParents(root)
	root.SetFlagErrorFunc(flagError)
	return root
}

// run executes one command line. Errors may carry names from outside
// input over several lines: they are printed with their lines kept and
// any other control character escaped.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	if ee, ok := errors.AsType[*exitError](err); ok {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(stderr, "klpack:", safetext.Escape(ee.err.Error()))
		}
		return ee.code
	}
	// Anything else is a usage or input error.
	fmt.Fprintln(stderr, "klpack:", safetext.Escape(err.Error()))
	return exitInput
}
