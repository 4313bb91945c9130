package elfscan

import (
	"errors"

	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/modsign"
)

// parseSignature reads the signature appended to the module bytes b with
// modsign, which owns the trailer: the signature and the length of the
// module proper, modsign.ErrNoSignature, or a *FormatError for a malformed
// signature.
func parseSignature(b []byte) (*klp.Signature, int, error) {
	sig, n, err := modsign.Parse(b)
	if fe, ok := errors.AsType[*modsign.FormatError](err); ok {
		return nil, 0, &FormatError{Off: uint64(fe.Off), Msg: fe.Msg, Err: err}
	}
	return sig, n, err
}
