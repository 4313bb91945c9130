package check

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Severity orders findings; a run fails on findings at or above a chosen
// severity.
type Severity int

const (
	Info Severity = iota
	Warning
	Error
)

var severityNames = [...]string{Info: "info", Warning: "warning", Error: "error"}

func (s Severity) String() string { return severityNames[s] }

// ParseSeverity reads "info", "warning" or "error".
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(s, n) {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want info, warning or error)", s)
}

func (s Severity) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

func (s *Severity) UnmarshalJSON(b []byte) error {
	var n string
	if err := json.Unmarshal(b, &n); err != nil {
		// encoding/json would name Go types ("into Go struct field
		// Finding.findings.severity of type string").
		return errors.New("severity: want a string: info, warning or error")
	}
	v, err := ParseSeverity(n)
	*s = v
	return err
}

// Rule is one check with a stable ID.
type Rule struct {
	ID       string
	Name     string
	Severity Severity
	// Why is the paragraph a finding carries: why it matters and what to do.
	Why string
}

// Rule IDs. They are stable: tools and acknowledgement files name them.
const (
	RuleOffBandOverlap      = "KLP001"
	RuleReplaceNopHazard    = "KLP002"
	RuleShadowsOffBand      = "KLP003"
	RuleDropsFunctions      = "KLP004"
	RuleStateIncompat       = "KLP005"
	RuleKernelMismatch      = "KLP006"
	RuleNameDeployed        = "KLP007"
	RuleHookReplaceable     = "KLP008"
	RuleModelDropsOffBand   = "KLP009"
	RuleFuncMissing         = "KLP010"
	RuleFuncAmbiguous       = "KLP011"
	RuleSymposRange         = "KLP012"
	RuleNotTraceable        = "KLP013"
	RuleKernelRefuses       = "KLP014"
	RuleHookNotOverridable  = "KLP015"
	RuleHookMoves           = "KLP016"
	RuleHookLost            = "KLP017"
	RuleReplaceUnknown      = "KLP018"
	RuleInstrumentationLost = "KLP019"
	RuleTransitionBlocker   = "KLP020"
	RuleRollbackReboot      = "KLP021"
	RuleFtraceIPModify      = "KLP022"
	RuleTargetBuildMismatch = "KLP023"
	RuleModuleReload        = "KLP024"
)

// Rules lists every rule, in ID order.
var Rules = []Rule{
	{RuleOffBandOverlap, "off-band-overlap", Error,
		"Two non-replaceable (off-band) patches patch the same function. Only the newer one's code runs; the older fix is silently shadowed, and when the newer patch is disabled the older code comes back without anyone having tested that combination. Merge the two fixes into one off-band patch, or move the function into the cumulative patch."},
	{RuleReplaceNopHazard, "replace-nop-hazard", Error,
		"A replace patch adds a nop for a function it does not patch itself, so during its transition that function runs the original code; when the transition completes and the replaced patches go away, the function switches to a patch the replace left in place (a non-replaceable one) in every task at once, outside the consistency model. Tasks may then run a mix of old and new code that no transition vetted. Include the function in the replace patch (with the off-band fix folded in), or disable the replaceable patch that covers it before loading the replace patch."},
	{RuleShadowsOffBand, "shadows-off-band", Warning,
		"A cumulative patch patches a function that a non-replaceable off-band patch also patches. The cumulative patch is newer, so its version runs and the off-band fix is shadowed while it is loaded. Make sure the cumulative patch carries the off-band fix, or leave the function out of it."},
	{RuleDropsFunctions, "drops-functions", Warning,
		"A cumulative upgrade no longer patches functions its predecessor patched. When it replaces the predecessor those functions go back to the original kernel code. That is right when the fix is no longer wanted (reverted, or merged into the kernel); otherwise the fix is lost. Acknowledge the finding with the reason, or add the functions back."},
	{RuleStateIncompat, "state-incompatible", Error,
		"The kernel checks klp_state compatibility when a patch is enabled (klp_is_patch_compatible): a replace patch must carry every state the loaded patches hold, and any patch that carries a state must carry it at the same or a higher version. This patch would be refused with EINVAL. Carry the missing states, or raise their versions."},
	{RuleKernelMismatch, "kernel-mismatch", Error,
		"The module was built for another kernel than the one deployed: its vermagic does not match the kernel release, so the kernel refuses to load it (or, forced, it patches code that is not there). Rebuild the patch against the deployed kernel."},
	{RuleNameDeployed, "name-deployed", Error,
		"A module of this name is already loaded on the target, so loading the candidate fails with EEXIST: a module name is unique in a kernel. Give each release its own module name, or unload the old module first (disable its patch before that)."},
	{RuleHookReplaceable, "hook-in-replaceable", Warning,
		"A BPF hook point lives in a replaceable patch. The next atomic replace frees that patch and its function: the hook's address changes and the BPF programs attached to it must be re-attached, or they silently stop overriding. Put hook points in a non-replaceable (off-band) patch."},
	{RuleModelDropsOffBand, "model-drops-off-band", Error,
		"The patch is declared non-replaceable, but the target kernel's livepatch model cannot keep it: a replace patch removes it along with the cumulative patches. On mainline kernels every enabled patch is replaced; only the hybrid and replace-set models keep off-band patches. Fold the off-band fix into the cumulative patch, or deploy on a kernel with the needed model."},
	{RuleFuncMissing, "function-missing", Error,
		"The function the patch replaces does not exist in the target kernel's symbols, so klp_enable_patch fails when resolving it. Check the function name (GCC clone suffixes such as .isra.0 change with the compiler) and that the patch targets this kernel."},
	{RuleFuncAmbiguous, "function-ambiguous", Error,
		"Several functions of this name exist in the object and the patch gives no sympos, so the kernel refuses the patch: \"unresolvable ambiguity\". Set old_sympos to the position of the intended function."},
	{RuleSymposRange, "sympos-out-of-range", Error,
		"old_sympos names a position past the number of functions of this name in the object, so the kernel cannot find the function and refuses the patch."},
	{RuleNotTraceable, "not-traceable", Error,
		"The function is not in available_filter_functions: ftrace cannot attach to it (notrace, inlined, or in a section ftrace skips), so the livepatch cannot redirect it and enabling fails. Patch its callers instead."},
	{RuleKernelRefuses, "kernel-refuses", Error,
		"The kernel refuses this load for the reason given (as the simulator of the kernel's rules says). Fix the cause before deploying."},
	{RuleHookNotOverridable, "hook-not-overridable", Error,
		"A BPF hook point cannot be overridden. bpf_override_return changes only the return value of functions on the kernel's error-injection list, and only in kernels built with CONFIG_FUNCTION_ERROR_INJECTION and CONFIG_BPF_KPROBE_OVERRIDE; otherwise the kprobe program is refused when it attaches and the hook never fires. kpatch-build and klp-build drop the error-injection entries of the modules they generate. Declare hook points with KLPACK_HOOK (templates/klpack_livepatch.h) in a hand-written livepatch module, and deploy on a kernel with both options."},
	{RuleHookMoves, "hook-moves", Warning,
		"Loading this replace patch replaces a patch with BPF hook points. When the transition completes the replaced patch's functions are never called again, but the kprobes on them stay, look attached, and override nothing: every cgroup's hook is bypassed. The new patch carries the same hook points, so the probes must move to its copies right after the transition: the package loader runs `klpack hooks sync`, which does it and reports the window; run it yourself when loading by hand."},
	{RuleReplaceUnknown, "replace-unknown", Error,
		"klpack could not read whether this patch is an atomic replace: the module builds its klp_patch at init (kpatch-build, klp-build) in code klpack does not follow, or without the debug information or layout table to read it. Replace decides which deployed patches survive the load, so every other answer of this check assumed it false and may be wrong. Declare it in the release manifest (modules[].replace), or scan a module with debug information."},
	{RuleHookLost, "hook-lost", Error,
		"Loading this replace patch replaces a patch with BPF hook points that the new patch does not declare. After the transition nothing runs the hook functions, so the BPF programs that override them per cgroup stop working and cannot be re-attached. Carry the hook points (KLPACK_HOOK) in the new patch, or keep them in a patch this one does not replace."},
	{RuleInstrumentationLost, "instrumentation-lost", Warning,
		"A livepatch function replaces the original whole: the tracepoints, static keys (jump labels), static calls and dynamic-debug sites inside the original do not run while the patch does. Tracing, perf, BPF programs on tracepoints and pr_debug output that hosts rely on go quiet, and a static key's state reaches the patch only through sites of its own. Re-add the trace_*() calls, static_branch tests and pr_debug lines to the new function (kpatch-build drops tracepoints whose keys a module defines: re-add those by hand), or acknowledge the loss with the reason."},
	{RuleTransitionBlocker, "transition-blocker", Warning,
		"A livepatch transition completes only when no task sleeps with a function it changes on its stack (klp_check_stack): the original of a function the patch patches, or the copy of a patch it replaces. A task the host's captured stacks show asleep in such code keeps the transition pending, and while it is pending the kernel refuses every other livepatch load and disable (EBUSY). User tasks in interruptible sleep get a fake signal after about 15 s; kernel threads get none, are woken only from interruptible sleep, and one that sleeps in the function for good stalls the transition for good. Patch another function (the caller's loop or what it calls after it wakes), give the kernel thread a sleep outside the patched function, retry the load when the task has left, or, knowing the task never returns through the old code, force the transition."},
	{RuleRollbackReboot, "rollback-needs-reboot", Warning,
		"Going back from this release to the deployed one cannot happen in place: the kernel refuses the old patch over the new one (klp_state versions never go down, a replace must carry every state), its module can never be unloaded and loaded again (its transition was forced), or it has the same module name as the new one. A fleet that must roll back then either disables the new release first, leaving the functions unpatched meanwhile, or reboots into the old release. Decide before shipping: keep the states and module names compatible with the previous release, or plan rollbacks as reboots."},
	{RuleFtraceIPModify, "ftrace-ipmodify-conflict", Error,
		"The function already has an IPMODIFY ftrace user on the host that is not a livepatch: a kprobe with a post handler, or another user that redirects the function. ftrace lets one IPMODIFY user redirect a function, and a livepatch is one, so the kernel refuses to patch it: the candidate's enable fails with EBUSY and dmesg says \"failed to register ftrace handler for function\". Remove the kprobe's post handler or the kprobe while the patch loads (a kretprobe, an fprobe or a kprobe without post handler can stay), or patch a caller of the function instead."},
	{RuleTargetBuildMismatch, "target-build-mismatch", Error,
		"The release was made for one build of the kernel (its vmlinux build-id, or a target module's srcversion or build-id) and the deployed kernel is another build under the same release string: a rebuild with another config, compiler or patch set. vermagic cannot tell them apart, so the kernel would load the patch, but function sizes, inlining, static symbol positions and struct layouts may differ from those the patch was built against, and the patch may resolve the wrong symbol or corrupt memory. klpack's loader refuses to load a release pinned to another build. Build the patch against the deployed kernel's files (its debug package or build tree), or deploy the kernel build the release pins."},
	{RuleModuleReload, "module-reload-relocs", Warning,
		"The patch reaches symbols of a module it patches through klp relocations, which the kernel writes into the patch when that module loads. This kernel does not clear them when the module is unloaded, and it refuses to write a relocation over a non-zero value: once the module is unloaded while the patch is loaded, loading the module again fails (ENOEXEC, \"Skipping invalid relocation target, existing value is nonzero\" or \"Invalid relocation target\" in dmesg) until the patch is removed. Hosts that reload the module (driver restarts, hot-plug, admins) lose it. Keep the module loaded while the patch is, avoid module-specific klp relocations (use exported symbols or look them up at run time), or deploy on a kernel that clears them (x86_64 6.3 and later)."},
}

// RuleByID returns the rule with that ID.
func RuleByID(id string) (Rule, bool) {
	for _, r := range Rules {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}
