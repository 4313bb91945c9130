//go:build !klpack_host

package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/pack"
	"github.com/klpack/klpack/pkg/release"
)

type packageOptions struct {
	out, formats, key, passEnv, passFile, signCommand, signPubkey, file, target string
	timeout                                                                     int
	json                                                                        bool
}

// formatNames are the package formats --format takes.
var formatNames = []string{pack.FormatRPM, pack.FormatDeb}

func newPackageCmd() *cobra.Command {
	var o packageOptions
	cmd := &cobra.Command{
		Use:   "package [flags] RELEASE | package -f klpack.yaml [flags]",
		Short: "Build a signed rpm and deb per patch module of a release",
		Long: `Package reads a release manifest (klpack.release/v1, YAML or JSON: the
kernel, the version, the modules with their layer, optionally the plan that
orders them) and writes one rpm and one deb per patch module, plus each
package's manifest, into --output (created if missing). With SOURCE_DATE_EPOCH
set, unsigned builds are byte-identical. Every signature is checked before it
is used: --sign-key's with the key, --sign-command's with --sign-pubkey when
given (else only as a signature of the right data). With -f it reads
klpack.yaml instead and packages its modules in the order its plan chooses
(klpack release does that and more). The packages replace
older files only when all of them are built; exit 2 on bad input, and
--output is left as it was.`,
		Args: positional(0, 1, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && o.file == "" {
				return &exitError{exitInput, fmt.Errorf("missing RELEASE: the release manifest (klpack.release/v1) to package, or -f klpack.yaml (usage: %s)", cmd.UseLine())}
			}
			if len(args) == 1 && o.file != "" {
				return &exitError{exitInput, errors.New("give a release manifest or -f klpack.yaml, one of them")}
			}
			if o.file != "" {
				return runPackage(cmd, &o, o.file)
			}
			return runPackage(cmd, &o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.out, "output", "o", ".", "directory to write the packages and manifests into")
	enumFlag(cmd, &o.formats, "format", "rpm,deb", formatNames, true, "formats to build, comma-separated: rpm, deb")
	f.StringVar(&o.key, "sign-key", "", "OpenPGP secret key file to sign the packages with")
	f.StringVar(&o.passEnv, "passphrase-env", "", "environment variable holding the key's passphrase")
	f.StringVar(&o.passFile, "passphrase-file", "", "file whose first line is the key's passphrase")
	f.StringVar(&o.signCommand, "sign-command", "", "shell command that reads data on stdin and prints a detached OpenPGP signature (KMS, HSM)")
	f.StringVar(&o.signPubkey, "sign-pubkey", "", "OpenPGP public key file to check --sign-command's signatures with")
	f.StringVarP(&o.file, "file", "f", "", "read the release from klpack.yaml")
	f.StringVar(&o.target, "target", "", "the target kernel's files: a directory holding vmlinux and the module .ko files; the packages pin its build (overrides klpack.yaml's target)")
	f.BoolVar(&o.json, "json", false, "print the "+pack.ResultSchema+" JSON document: the files written (relative to --output, with sha256)")
	f.IntVar(&o.timeout, "timeout", 0, fmt.Sprintf("seconds the loader waits for each transition, 1 to %d (default 60)", pack.MaxTimeout))
	return cmd
}

func runPackage(cmd *cobra.Command, o *packageOptions, file string) error {
	scan := func(p string, hookPoints []string) (*klp.Module, error) {
		return elfscan.Open(p, &elfscan.Options{Hooks: hookPoints})
	}
	// Checked here too, so that the error names the flag, not the manifest.
	if o.timeout < 0 || o.timeout > pack.MaxTimeout {
		return &exitError{exitInput, fmt.Errorf("--timeout %d: want 1 to %d seconds", o.timeout, pack.MaxTimeout)}
	}
	var rel *pack.Release
	var err error
	if o.file != "" {
		rel, err = packRelease(cmd, file)
	} else {
		rel, err = pack.ReadRelease(file, scan)
	}
	if err != nil {
		return &exitError{exitInput, err}
	}
	if o.target != "" {
		var mods []*klp.Module
		for _, m := range rel.Modules {
			mods = append(mods, m.Record)
		}
		if rel.Target, err = elfscan.ReadTarget(cmd.Context(), o.target, klp.PatchedModules(mods)); err != nil {
			return &exitError{exitInput, fmt.Errorf("--target: %w", err)}
		}
	}
	if rel.MTime, err = sourceDate(); err != nil {
		return &exitError{exitInput, err}
	}
	opts := pack.Options{Formats: strings.Split(o.formats, ","), Timeout: o.timeout}
	if opts.Sign, err = packageSigner(cmd, o); err != nil {
		return &exitError{exitInput, err}
	}
	arts, err := pack.Build(cmd.Context(), rel, o.out, opts)
	if err != nil {
		return &exitError{exitInput, fmt.Errorf("file %s: %w", file, err)}
	}
	if o.json {
		res, err := pack.NewResult(o.out, arts)
		if err != nil {
			return &exitError{exitInput, err}
		}
		return res.WriteJSON(cmd.OutOrStdout())
	}
	for _, a := range arts {
		fmt.Fprintf(cmd.OutOrStdout(), "%-8s %s\n", a.Format, a.Path)
	}
	return nil
}

// packRelease reads klpack.yaml and orders its modules by its plan.
func packRelease(cmd *cobra.Command, file string) (*pack.Release, error) {
	r, err := release.Load(cmd.Context(), file)
	if err != nil {
		return nil, err
	}
	if _, err := r.Order(); err != nil {
		return nil, fmt.Errorf("file %s: plan: %w", file, err)
	}
	return r.Pack, nil
}

// packageSigner turns the signing flags into a signer, or nil.
func packageSigner(cmd *cobra.Command, o *packageOptions) (pack.SignFunc, error) {
	switch {
	case o.key != "" && o.signCommand != "":
		return nil, fmt.Errorf("--sign-key and --sign-command exclude each other")
	case o.signPubkey != "" && o.signCommand == "":
		return nil, fmt.Errorf("--sign-pubkey checks --sign-command's signatures: give both")
	case o.signCommand != "":
		var keyring openpgp.EntityList
		if o.signPubkey != "" {
			var err error
			if keyring, err = pack.ReadPublicKeys(o.signPubkey); err != nil {
				return nil, err
			}
		}
		return pack.CommandSigner(cmd.Context(), o.signCommand, keyring), nil
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
	// Past 64 bits ParseUint says ErrRange and gives its maximum, which
	// CheckMTime then refuses with the range.
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q is not a count of seconds", v)
	}
	t := time.Unix(int64(min(n, math.MaxInt64)), 0).UTC()
	if err := pack.CheckMTime(t); err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %s: %w", v, err)
	}
	return t, nil
}
