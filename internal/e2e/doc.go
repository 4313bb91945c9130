// Package e2e proves klpack's simulator against real kernels: it boots
// kernels under qemu with a busybox initramfs that runs a scenario's steps
// (insmod, writes to /sys/kernel/livepatch/<patch>/enabled, rmmod), parses
// what the guest recorded on its console, and compares every step with
// sim.Simulate on the same scenario and the same module files.
//
// The parts that need no kernel (the initramfs writer, the transcript
// parser, the comparison) are ordinary code with ordinary tests; the test
// that boots kernels, TestE2E, carries the e2e build tag.
package e2e
