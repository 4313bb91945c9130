package release

import (
	"context"
	"errors"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/klpack/klpack/pkg/pack"
)

// signer signs packages and repository metadata with klpack.yaml's
// sign.packages.
type signer struct {
	detach pack.SignFunc
}

// newSigner reads the package signing key; a release without one is
// refused unless it is a snapshot, so that nothing ships unsigned by
// accident.
func newSigner(ctx context.Context, r *Release, o Options) (*signer, error) {
	sc := r.Config.Sign.Packages
	switch {
	case o.Snapshot:
		return &signer{}, nil
	case sc == nil:
		return nil, errors.New("sign.packages is not set in klpack.yaml: a release is signed (--snapshot builds an unsigned trial)")
	case sc.Command != "":
		var keyring openpgp.EntityList
		if sc.PublicKey != "" {
			var err error
			if keyring, err = pack.ReadPublicKeys(r.Path(sc.PublicKey)); err != nil {
				return nil, err
			}
		}
		return &signer{detach: pack.CommandSigner(ctx, sc.Command, keyring)}, nil
	}
	env, file := sc.PassphraseEnv, ""
	if sc.PassphraseFile != "" {
		file = r.Path(sc.PassphraseFile)
	}
	pass, err := pack.ReadPassphrase(env, file)
	if err != nil {
		return nil, err
	}
	defer clear(pass)
	detach, err := pack.OpenPGPSigner(r.Path(sc.Key), pass)
	if err != nil {
		return nil, err
	}
	return &signer{detach: detach}, nil
}
