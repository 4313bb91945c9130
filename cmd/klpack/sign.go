//go:build !klpack_host

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/klpack/klpack/internal/atomicfile"
	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/pkg/modsign"
	"github.com/klpack/klpack/pkg/pack"
)

type signOptions struct {
	key, cert, hash, out, passEnv, passFile string
	keyID                                   bool
}

func newSignCmd() *cobra.Command {
	var o signOptions
	cmd := &cobra.Command{
		Use:   "sign --key KEY [--cert CERT] [flags] MODULE",
		Short: "Append a kernel module signature (PKCS#7), as the kernel's sign-file does",
		Long: `Sign appends a PKCS#7 module signature made with an X.509 certificate and
its private key (PEM; one file may hold both, like the kernel's
signing_key.pem), replacing any signature already there. The module is
rewritten in place unless --output names another file. Exit 2 on bad input.`,
		Args: positional(1, 1, "the kernel module to sign"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSign(cmd, &o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.key, "key", "", "PEM private key (required)")
	f.StringVar(&o.cert, "cert", "", "X.509 certificate, PEM or DER (default: the key file)")
	enumFlag(cmd, &o.hash, "hash", "sha256", hashNames, false, "digest: sha256, sha384 or sha512")
	f.StringVarP(&o.out, "output", "o", "", "write the signed module here instead of in place")
	f.BoolVar(&o.keyID, "keyid", false, "identify the signer by subject key identifier (sign-file -k)")
	f.StringVar(&o.passEnv, "passphrase-env", "", "environment variable holding the key's passphrase")
	f.StringVar(&o.passFile, "passphrase-file", "", "file whose first line is the key's passphrase")
	cmd.MarkFlagRequired("key")
	return cmd
}

func runSign(cmd *cobra.Command, o *signOptions, module string) error {
	// The module first: a directory (klpack sign signs one module, where
	// scan and check walk them) is named before any key is read.
	if st, err := os.Stat(module); err == nil && st.IsDir() {
		return &exitError{exitInput, fmt.Errorf("%s is a directory: klpack sign signs one module file (sign each module on its own)", safetext.Quote(module))}
	}
	if o.out != "" {
		if err := atomicfile.CheckParent(o.out); err != nil {
			return &exitError{exitInput, fmt.Errorf("--output: %w", err)}
		}
	}
	if o.cert == "" {
		o.cert = o.key
	}
	pass, err := pack.ReadPassphrase(o.passEnv, o.passFile)
	if err != nil {
		return &exitError{exitInput, err}
	}
	key, err := modsign.LoadKey(o.key, pass)
	clear(pass)
	if err != nil {
		return &exitError{exitInput, err}
	}
	cert, err := modsign.LoadCert(o.cert)
	if err != nil {
		return &exitError{exitInput, err}
	}
	mod, err := safeio.ReadFile(module, maxModuleFile)
	if err != nil {
		return &exitError{exitInput, err}
	}
	var signed bytes.Buffer
	if err := modsign.Append(&signed, mod, cert, key, modsign.Options{Hash: o.hash, KeyID: o.keyID}); err != nil {
		// Name the file at fault: the key and certificate, else the module.
		switch {
		case errors.Is(err, modsign.ErrKeyMismatch):
			err = fmt.Errorf("--key %s and --cert %s: %w", o.key, o.cert, err)
		case errors.Is(err, modsign.ErrUnsupportedKey):
			err = fmt.Errorf("--key %s: %w", o.key, err)
		default:
			err = fmt.Errorf("file %s: %w", module, err)
		}
		return &exitError{exitInput, err}
	}
	out := o.out
	if out == "" {
		out = module
	}
	if err := atomicfile.Write(out, func(w io.Writer) error { _, err := w.Write(signed.Bytes()); return err }); err != nil {
		return &exitError{exitInput, err}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "signed %s (%s, %s)\n", out, cert.Subject.CommonName, o.hash)
	return nil
}

// maxModuleFile bounds a module klpack sign reads, as elfscan bounds
// the modules it scans: it is read whole, and held twice (as read and
// as signed).
const maxModuleFile = 1 << 30
