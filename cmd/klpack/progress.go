package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/klpack/klpack/internal/termstyle"
)

// progress is a bar on a terminal and nothing elsewhere (CI, pipes).
type progress struct {
	p   *mpb.Progress
	bar *mpb.Bar
}

// newProgress is a bar named what, counting to total, on w (stderr: the
// output on stdout stays clean when it is a terminal too).
func newProgress(w io.Writer, what string, total int) *progress {
	if !isTerminal(w) || os.Getenv("CI") != "" || total < 2 {
		return &progress{}
	}
	p := mpb.New(mpb.WithOutput(w), mpb.WithAutoRefresh())
	bar := p.AddBar(int64(total),
		mpb.PrependDecorators(decor.Name(what+" "), decor.CountersNoUnit("%d/%d")),
		mpb.AppendDecorators(decor.Percentage()),
	)
	return &progress{p: p, bar: bar}
}

// newByteProgress is newProgress counting bytes, shown in MiB.
func newByteProgress(w io.Writer, what string, total int64) *progress {
	if !isTerminal(w) || os.Getenv("CI") != "" || total < 2 {
		return &progress{}
	}
	p := mpb.New(mpb.WithOutput(w), mpb.WithAutoRefresh())
	bar := p.AddBar(total,
		mpb.PrependDecorators(decor.Name(what+" "), decor.CountersKibiByte("% .1f / % .1f")),
		mpb.AppendDecorators(decor.Percentage()),
	)
	return &progress{p: p, bar: bar}
}

// Increment records one file done; safe for concurrent use.
func (p *progress) Increment() {
	if p.bar != nil {
		p.bar.Increment()
	}
}

// Add records n more units done (bytes read); safe for concurrent use.
func (p *progress) Add(n int64) {
	if p.bar != nil {
		p.bar.IncrInt64(n)
	}
}

// Wait lets the bar draw its last state.
func (p *progress) Wait() {
	if p.p != nil {
		p.p.Wait()
	}
}

// isTerminal says whether w is a terminal: progress and colour are for
// people, not for pipes, files and CI logs.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// styleFor is how cmd paints severity words on w: --color, and in auto
// mode whether w is a terminal, NO_COLOR and TERM.
func styleFor(cmd *cobra.Command, w io.Writer) termstyle.Style {
	mode := termstyle.Auto
	if f := cmd.Flags().Lookup("color"); f != nil {
		mode = f.Value.String()
	}
	return termstyle.New(termstyle.Enabled(mode, isTerminal(w), os.Getenv))
}
