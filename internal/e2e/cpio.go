package e2e

import (
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
)

// File is one entry of an initramfs.
type File struct {
	// Path inside the archive, without a leading slash.
	Path string
	// Mode holds the type bits (fs.ModeDir, fs.ModeSymlink,
	// fs.ModeCharDevice|fs.ModeDevice) and the permissions.
	Mode fs.FileMode
	// Data is the content of a regular file or a symlink's target.
	Data []byte
	// Major, Minor name a device node.
	Major, Minor uint32
}

// WriteCPIO writes files as a "newc" cpio archive, the format the kernel
// unpacks into its initramfs, in the order given, with fixed owners (root)
// and times (0) so that the same files give the same bytes.
func WriteCPIO(w io.Writer, files []File) error {
	ino := uint32(1)
	for _, f := range files {
		if err := writeEntry(w, f, ino); err != nil {
			return fmt.Errorf("cpio: %s: %w", f.Path, err)
		}
		ino++
	}
	return writeEntry(w, File{Path: "TRAILER!!!"}, 0)
}

func writeEntry(w io.Writer, f File, ino uint32) error {
	name := strings.TrimPrefix(f.Path, "/")
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("bad path %q", f.Path)
	}
	mode := uint32(f.Mode.Perm())
	nlink := uint32(1)
	switch {
	case f.Path == "TRAILER!!!":
	case f.Mode&fs.ModeDir != 0:
		mode |= 0o040000
		nlink = 2
	case f.Mode&fs.ModeSymlink != 0:
		mode |= 0o120000
	case f.Mode&fs.ModeCharDevice != 0:
		mode |= 0o020000
	case f.Mode.Type() == 0:
		mode |= 0o100000
	default:
		return fmt.Errorf("unsupported file type %v", f.Mode.Type())
	}
	data := f.Data
	if f.Mode&(fs.ModeDir|fs.ModeCharDevice) != 0 {
		data = nil
	}
	if uint64(len(data)) > 0xffffffff {
		return fmt.Errorf("%d bytes: too large for newc", len(data))
	}
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, mode, 0, 0, nlink, 0, len(data), 0, 0, f.Major, f.Minor, len(name)+1, 0)
	// Header and name, then the data, each padded to 4 bytes.
	buf := slices.Concat([]byte(hdr), []byte(name), []byte{0})
	buf = append(buf, make([]byte, pad4(len(buf)))...)
	if _, err := w.Write(buf); err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	_, err := w.Write(make([]byte, pad4(len(data))))
	return err
}

func pad4(n int) int { return (4 - n%4) % 4 }
