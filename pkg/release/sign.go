package release

import (
	"context"
	"errors"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/pkg/pack"
)

// maxPublicKey bounds the public key file of a sign command.
const maxPublicKey = 1 << 20

// signer signs packages and repository metadata with klpack.yaml's
// sign.packages.
type signer struct {
	detach pack.SignFunc
	// clear clear-signs apt's InRelease; nil with a sign command, which
	// makes detached signatures only (apt then reads Release.gpg).
	clear func([]byte) ([]byte, error)
	// public is the armored public key hosts trust the repositories with;
	// nil when unknown (a sign command without public_key).
	public []byte
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
		s := &signer{}
		var keyring openpgp.EntityList
		if sc.PublicKey != "" {
			var err error
			if keyring, err = pack.ReadPublicKeys(r.Path(sc.PublicKey)); err != nil {
				return nil, err
			}
			if s.public, err = safeio.ReadFile(r.Path(sc.PublicKey), maxPublicKey); err != nil {
				return nil, err
			}
		}
		s.detach = pack.CommandSigner(ctx, sc.Command, keyring)
		return s, nil
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
	key := r.Path(sc.Key)
	s := &signer{}
	if s.detach, err = pack.OpenPGPSigner(key, pass); err != nil {
		return nil, err
	}
	if s.clear, err = pack.OpenPGPClearSigner(key, pass); err != nil {
		return nil, err
	}
	if s.public, err = pack.OpenPGPPublicKey(key); err != nil {
		return nil, err
	}
	return s, nil
}
