// Command klpack-dist is make dist: klpack's own rpm and deb.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"time"

	"github.com/klpack/klpack/internal/dist"
	"github.com/klpack/klpack/pkg/pack"
)

func main() {
	var o dist.Options
	var epoch, key, passEnv string
	flag.StringVar(&o.Binary, "binary", "bin/klpack", "the klpack binary to package")
	flag.StringVar(&o.ManDir, "man", "docs/man", "directory of the man pages")
	flag.StringVar(&o.Version, "version", "", "package version (required)")
	flag.StringVar(&o.Arch, "arch", runtime.GOARCH, "Go architecture of the binary")
	flag.StringVar(&o.Maintainer, "maintainer", "klpack developers <klpack@localhost>", "package maintainer")
	flag.StringVar(&o.Output, "o", "dist/klpack", "output directory")
	flag.StringVar(&epoch, "mtime", os.Getenv("SOURCE_DATE_EPOCH"), "seconds since the epoch every file is stamped with (default: SOURCE_DATE_EPOCH, else 0)")
	flag.StringVar(&key, "sign-key", "", "OpenPGP secret key to sign both packages with")
	flag.StringVar(&passEnv, "passphrase-env", "", "environment variable holding the key's passphrase")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(2, fmt.Errorf("unexpected argument %q", flag.Arg(0)))
	}
	if epoch != "" {
		s, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			fail(2, fmt.Errorf("-mtime %q: not a number of seconds", epoch))
		}
		o.MTime = time.Unix(s, 0).UTC()
	} else {
		o.MTime = time.Unix(0, 0).UTC()
	}
	if key != "" {
		pass, err := pack.ReadPassphrase(passEnv, "")
		if err != nil {
			fail(2, err)
		}
		if o.Sign, err = pack.OpenPGPSigner(key, pass); err != nil {
			fail(2, err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	out, err := dist.Build(ctx, o)
	for _, p := range out {
		fmt.Println(p)
	}
	if err != nil {
		fail(1, err)
	}
}

func fail(code int, err error) {
	fmt.Fprintln(os.Stderr, "klpack-dist:", err)
	os.Exit(code)
}
