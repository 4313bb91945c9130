// Package tour keeps README.md's Tour true: its test runs scripts/demo.sh,
// the commands `make demo` runs, through a freshly built klpack with
// throwaway keys, and compares the output with the README's block word
// for word. The package has no code of its own.
package tour
