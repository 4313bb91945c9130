package main

import (
	"io"
	"os"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// progress is a bar on a terminal and nothing elsewhere (CI, pipes).
type progress struct {
	p   *mpb.Progress
	bar *mpb.Bar
}

func newProgress(w io.Writer, total int) *progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || os.Getenv("CI") != "" || total < 2 {
		return &progress{}
	}
	p := mpb.New(mpb.WithOutput(w), mpb.WithAutoRefresh())
	bar := p.AddBar(int64(total),
		mpb.PrependDecorators(decor.Name("scan "), decor.CountersNoUnit("%d/%d")),
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

// Wait lets the bar draw its last state.
func (p *progress) Wait() {
	if p.p != nil {
		p.p.Wait()
	}
}
