//go:build !klpack_host

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/pack"
)

type packageOptions struct {
	out, formats, key, passEnv, passFile, signCommand string
	timeout                                           int
}

func newPackageCmd() *cobra.Command {
	var o packageOptions
	cmd := &cobra.Command{
		Use:   "package [flags] RELEASE",
		Short: "Build a signed rpm and deb per patch module of a release",
		Long: `Package reads a release manifest (klpack.release/v1, YAML or JSON: the
kernel, the version, the modules with their layer, optionally the plan that
orders them) and writes one rpm and one deb per patch module, plus each
package's manifest, into --output. With SOURCE_DATE_EPOCH set, unsigned builds
are byte-identical. Exit 2 on bad input; nothing is left in --output then.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPackage(cmd, &o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.out, "output", "o", ".", "directory to write the packages and manifests into")
	f.StringVar(&o.formats, "format", "rpm,deb", "formats to build, comma-separated")
	f.StringVar(&o.key, "sign-key", "", "OpenPGP secret key file to sign the packages with")
	f.StringVar(&o.passEnv, "passphrase-env", "", "environment variable holding the key's passphrase")
	f.StringVar(&o.passFile, "passphrase-file", "", "file whose first line is the key's passphrase")
	f.StringVar(&o.signCommand, "sign-command", "", "shell command that reads data on stdin and prints a detached OpenPGP signature (KMS, HSM)")
	f.IntVar(&o.timeout, "timeout", 0, "seconds the loader waits for each transition (default 60)")
	return cmd
}

func runPackage(cmd *cobra.Command, o *packageOptions, file string) error {
	scan := func(p string, hookPoints []string) (*klp.Module, error) {
		m, err := elfscan.Open(p, nil)
		if err != nil || len(hookPoints) == 0 {
			return m, err
		}
		// The declarations are keyed by module name, known after a scan.
		return elfscan.Open(p, &elfscan.Options{ManifestHooks: map[string][]string{m.Name: hookPoints}})
	}
	rel, err := pack.ReadRelease(file, scan)
	if err != nil {
		return &exitError{exitInput, err}
	}
	if rel.MTime, err = sourceDate(); err != nil {
		return &exitError{exitInput, err}
	}
	opts := pack.Options{Formats: strings.Split(o.formats, ","), Timeout: o.timeout}
	if opts.Sign, err = packageSigner(cmd, o); err != nil {
		return &exitError{exitInput, err}
	}
	if st, err := os.Stat(o.out); err != nil || !st.IsDir() {
		return &exitError{exitInput, fmt.Errorf("--output %s: not a directory", o.out)}
	}
	arts, err := pack.Build(cmd.Context(), rel, o.out, opts)
	if err != nil {
		return &exitError{exitInput, fmt.Errorf("file %s: %w", file, err)}
	}
	for _, a := range arts {
		fmt.Fprintf(cmd.OutOrStdout(), "%-8s %s\n", a.Format, a.Path)
	}
	return nil
}

// packageSigner turns the signing flags into a signer, or nil.
func packageSigner(cmd *cobra.Command, o *packageOptions) (pack.SignFunc, error) {
	switch {
	case o.key != "" && o.signCommand != "":
		return nil, fmt.Errorf("--sign-key and --sign-command exclude each other")
	case o.signCommand != "":
		return pack.CommandSigner(cmd.Context(), o.signCommand), nil
	case o.key == "":
		if o.passEnv != "" || o.passFile != "" {
			return nil, fmt.Errorf("a passphrase without --sign-key")
		}
		return nil, nil
	}
	pass, err := pack.ReadPassphrase(o.passEnv, o.passFile)
	if err != nil {
		return nil, err
	}
	defer clear(pass)
	return pack.OpenPGPSigner(o.key, pass)
}

// sourceDate is SOURCE_DATE_EPOCH, or now when it is not set.
func sourceDate() (time.Time, error) {
	v, ok := os.LookupEnv("SOURCE_DATE_EPOCH")
	if !ok || v == "" {
		return time.Now().UTC().Truncate(time.Second), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q is not a count of seconds", v)
	}
	return time.Unix(n, 0).UTC(), nil
}
