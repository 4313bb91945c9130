package pack

import (
	"fmt"
	"io"

	"github.com/klpack/klpack/internal/safeio"
)

// maxHostBinary bounds the klpack binary a loader package ships: the full
// build is some 30 MB.
const maxHostBinary = 512 << 20

// elfMachines are the ELF machines of the kernel architectures klpack
// packages for.
var elfMachines = map[string]uint16{"x86_64": 62, "aarch64": 183}

// SetHostBinary checks that the file at path is an ELF executable for the
// release's architecture (Validate sets it from the modules) and records
// it, with its SHA-256, as the klpack binary the loader package ships
// when the release has hooks.
func (r *Release) SetHostBinary(path string) error {
	want, ok := elfMachines[r.Arch]
	if !ok {
		return fmt.Errorf("%w: host binary %s: no ELF machine known for arch %q", ErrBadRelease, path, r.Arch)
	}
	f, st, err := safeio.Open(path)
	if err != nil {
		return fmt.Errorf("%w: host binary: %w", ErrBadRelease, err)
	}
	defer f.Close()
	if st.Size() > maxHostBinary {
		return fmt.Errorf("%w: host binary %s: %d bytes, more than the %d MiB a klpack binary takes", ErrBadRelease, path, st.Size(), maxHostBinary>>20)
	}
	head := make([]byte, 20)
	if _, err := io.ReadFull(f, head); err != nil {
		return fmt.Errorf("%w: host binary %s: not an ELF file", ErrBadRelease, path)
	}
	switch m, ok := elfMachine(head); {
	case !ok:
		return fmt.Errorf("%w: host binary %s: not an ELF file", ErrBadRelease, path)
	case m != want:
		return fmt.Errorf("%w: host binary %s: ELF machine %d, the release's %s hosts run %d", ErrBadRelease, path, m, r.Arch, want)
	}
	sum, _, err := safeio.SHA256(path)
	if err != nil {
		return err
	}
	r.HostBinary, r.HostBinarySHA256 = path, sum
	return nil
}
