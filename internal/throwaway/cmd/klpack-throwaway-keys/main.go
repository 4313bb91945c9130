// Command klpack-throwaway-keys writes throwaway signing keys into a
// directory, for make demo: never for a release anyone installs.
package main

import (
	"fmt"
	"os"

	"github.com/klpack/klpack/internal/throwaway"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: klpack-throwaway-keys DIR")
		os.Exit(2)
	}
	if err := throwaway.Write(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "klpack-throwaway-keys:", err)
		os.Exit(1)
	}
}
