// Package sim replays the kernel's livepatch rules
// (kernel/livepatch/{core,transition,state}.c) at the level of patches
// and func_stacks: a Sim holds a deployed state (Deploy) and applies loads,
// enables, disables and unloads (Apply), each accepted or refused as the
// kernel would, with which patch's code runs every touched function after
// it and every change of code outside a transition. Scenarios (YAML or
// JSON steps) run through Simulate; the result is the klpack.simulate/v1
// document.
//
// A refusal is not an error: Step.Accepted is false and Step.Cause is
// one of the Cause constants. Errors are bad input: an unknown model, a
// malformed scenario, a module that cannot be read.
package sim
