package pack

import (
	"fmt"

	"github.com/klpack/klpack/pkg/klp"
)

// TargetFile is the pin the loader reads from each patch package
// (<Dir>/target): "klpack-target 1", then "build-id HEX", the vmlinux
// build-id the running kernel must show in /sys/kernel/notes.
func TargetFile(t *klp.Target) []byte {
	return fmt.Appendf(nil, "klpack-target 1\nbuild-id %s\n", t.BuildID)
}
