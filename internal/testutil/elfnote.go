package testutil

import "encoding/binary"

// ELFNote is one little-endian ELF note as the kernel and ld lay it out
// (name and desc each padded to 4 bytes), for tests of note readers:
// /sys/kernel/notes is a stream of them.
func ELFNote(name string, typ uint32, desc []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(name)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(desc)))
	b = binary.LittleEndian.AppendUint32(b, typ)
	b = append(b, name...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	b = append(b, desc...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
