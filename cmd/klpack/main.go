// Command klpack checks, builds and packages Linux kernel livepatches.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	// klpack allocates many short-lived records (a distribution's module
	// tree is thousands of files): collecting less often is worth the
	// memory, unless the user set GOGC.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal cancels the work, which then cleans up; once it
	// has, the default action is back, so a second one ends klpack.
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
