package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// commandHelp is the hand-written help of the commands people run most,
// keyed by command path: more text after the command's own Long (how to
// read its output, where its inputs come from) and examples. It lives
// apart from the command definitions so that the reference pages
// (docs/cli, docs/man, generated from the tree) and the definitions can
// change independently. Every example is a command line over the
// repository's testdata or a host's own paths, run from the repository's
// top directory; TestHelpExamples parses each one with the command tree
// and runs the read-only ones, so a renamed command or flag fails there.
var commandHelp = map[string]struct{ more, example string }{
	"klpack": {
		more: `klpack turns built livepatch modules into checked, ordered, signed rpm and
deb packages, in a pipeline of commands: "klpack scan" reads the modules;
"klpack check" replays the kernel's livepatch rules against what a host
runs (a deployed state, from "klpack deploy capture") and reports
findings; "klpack plan" finds a safe load order; "klpack hooks build"
compiles the BPF programs of hook points; "klpack package" and
"klpack sign" make the packages and sign the modules; "klpack release"
runs all of them over one klpack.yaml. On hosts, the packages' loader and
"klpack hooks" do the rest; the host build (make host) leaves out the
commands that make releases.

Exit status: 0 ok, 1 findings at or above the failing severity (or a
failed build or check), 2 usage or input error.

The reference: docs/ in klpack's repository (klpack-yaml.md,
release-manifest.md, acks.md, deployed-state.md, rules/).`,
		example: `  # what a module does to the kernel
  klpack scan testdata/ko/6.1.0-56-amd64/lp_replace.ko

  # whether a host running testdata-6.1.json can take it: no, exit 1
  klpack check --deployed testdata/states/testdata-6.1.json testdata/ko/6.1.0-56-amd64/lp_replace.ko

  # the whole release of klpack.yaml, unsigned, as a trial
  klpack release --snapshot -f testdata/klpack.yaml -o /tmp/dist`,
	},
	"klpack scan": {
		more: `How to read the text output: "livepatch (static)" names the decoder that
read the patch (static: a hand-written struct klp_patch; kpatch-build;
klp-build). "layout" says where the struct offsets came from: dwarf (the
module's debug info), btf (its BTF over --vmlinux-btf) or table (klpack's
built-in table for the kernel version in vermagic, for stripped modules).
A patch, function or callback shows as SECTION+OFFSET (patch .data+0x0)
when the module has no symbol names left. SYMPOS 0 means the only symbol of
that name (sysfs shows it as 1). "(marker)" after a hook means KLPACK_HOOK
declared it in the module; "(manifest)", the release manifest did.
--json prints the klpack.scan/v1 document (docs/schemas/). --no-hash skips
the SHA-256 of each file, most of the time a module tree's scan takes:
--json then prints klpack.scan/v2, v1's records with sha256 "". The text
output shows no digest, so it never hashes.`,
		example: `  # one module, plain and compressed: the same facts
  klpack scan testdata/ko/6.1.0-56-amd64/lp_replace.ko testdata/ko/6.1.0-56-amd64/lp_replace.ko.xz

  # every module under a directory, as JSON
  klpack scan --json testdata/ko/6.1.0-56-amd64

  # a module tree as records without the files' digests (klpack.scan/v2)
  klpack scan --json --no-hash testdata/ko/6.1.0-56-amd64`,
	},
	"klpack check": {
		more: `Each finding prints its rule (KLPnnn and a name; docs/rules/ explains
each), its severity, the patches and functions involved and why the kernel
behaves so. Findings listed in --ack (docs/acks.md) are reported as
acknowledged and do not fail. -f reads the candidates, their layers, the
deployed state, the acknowledgements and fail_on from klpack.yaml
(docs/klpack-yaml.md).`,
		example: `  # a replace patch that drops a klp_state the deployed set holds: exit 1
  klpack check --deployed testdata/states/testdata-6.1.json testdata/ko/6.1.0-56-amd64/lp_replace.ko

  # the release of klpack.yaml, with a SARIF log for code scanning
  klpack check -f testdata/klpack.yaml --sarif /tmp/klpack.sarif

  # warnings fail too
  klpack check --fail-on warning --kernel-model hybrid testdata/ko/6.1.0-56-amd64/lp_noreplace.ko`,
	},
	"klpack plan": {
		more: `Each step is one thing the host's loader does (load, enable, disable,
unload), followed by the patches and modules the kernel holds after it: the
loader compares sysfs with that state after each step. Notes say which
functions run older code for a while; "way back" lines say what returning
to the deployed release would cost. --json prints the klpack.plan/v1
document that klpack package and the packages carry.`,
		example: `  # the same upgrade check refuses, made safe by unloading first
  klpack plan --deployed testdata/states/testdata-6.1.json testdata/ko/6.1.0-56-amd64/lp_replace.ko testdata/ko/6.1.0-56-amd64/lp_noreplace.ko

  # the plan of klpack.yaml's release, as JSON
  klpack plan --json -f testdata/klpack.yaml`,
	},
	"klpack simulate": {
		more: `A scenario is YAML or JSON with kernel_model (optional), deployed (an
optional deployed-state file, docs/deployed-state.md) and steps, each one of
load: PATH (a .ko or a scan document), enable: NAME, disable: NAME,
unload: NAME, force: NAME, fail: NAME (the patch's pre_patch callbacks fail
from then on; a load may say failing: true), sysctl:
kernel.ftrace_enabled=0|1 or trace: FUNCTION; paths are relative to the
scenario. tasks (optional) declares kernel threads, each {name, object,
function}: hold: NAME puts one to sleep in its function, in the code that
runs there then, and wake: NAME lets it go; while it sleeps in code a
transition changes, the transition stays pending (klp_check_stack_func),
and the output says which code the other tasks run meanwhile. Each step
lists the callbacks it ran. From an empty kernel, a module's functions run
only once a step loads it. --kernel-model overrides the scenario's model
(docs/kernel-models.md).`,
		example: `  # stacking, falling through on disable, and a replace, on the sample modules
  klpack simulate testdata/scenarios/testdata-6.1.yaml

  # the mailing list's hazard on the three kernel models
  klpack simulate testdata/scenarios/seed-mainline.yaml
  klpack simulate --kernel-model hybrid testdata/scenarios/seed-hybrid.yaml
  klpack simulate --json testdata/scenarios/seed-replace-set.yaml`,
	},
	"klpack release": {
		more: `klpack.yaml's keys: docs/klpack-yaml.md. The output directory receives
deb/ and rpm/ repositories, manifests/, plans/, hooks/, the public key and
a signed SHA256SUMS; how hosts use them: docs/repositories.md.`,
		example: `  # a trial without keys: every stage but the signatures
  klpack release --snapshot -f testdata/klpack.yaml -o /tmp/dist

  # a signed release, the packages' key and the kernel module key given here
  klpack release -f testdata/klpack.yaml -o /tmp/dist --sign-key /tmp/keys/signing-key.asc --module-key /tmp/keys/module-key.pem --module-cert /tmp/keys/module-cert.pem`,
	},
	"klpack package": {
		more: `The release manifest's keys, and the package manifest each package installs
under /usr/lib/klpack: docs/release-manifest.md. Without a signing key the
packages are unsigned; klpack release refuses that, package does not, so
that a test can build them.`,
		example: `  # unsigned rpm and deb of the testdata release manifest
  klpack package -o /tmp/pkgs testdata/release-6.1.yaml

  # only debs, signed, from klpack.yaml
  klpack package -f testdata/klpack.yaml --format deb --sign-key /tmp/keys/signing-key.asc -o /tmp/pkgs`,
	},
	"klpack deploy capture": {
		more: `The state's format: docs/deployed-state.md. A patch whose module has an
installed package manifest (under --root/usr/lib/klpack) takes its layer
from it; a manifest that disagrees with the module is reported, not
joined. On kernels before 6.13 sysfs has no stack_order: --order gives the
patches' load order, oldest first.`,
		example: `  # on a host: the running kernel's livepatches
  klpack deploy capture --sysfs /sys/kernel/livepatch --modules /lib/modules/6.1.0-56-amd64/livepatch -o /tmp/state.json

  # a copied sysfs tree and the host's root mounted elsewhere
  klpack deploy capture --sysfs /mnt/host/sys/kernel/livepatch --root /mnt/host --kernel-release 6.1.0-56-amd64 -o /tmp/state.json`,
	},
	"klpack deploy show": {
		more: `The file's format: docs/deployed-state.md. A "?" under TRANSITION means the
file does not say.`,
		example: `  klpack deploy show testdata/states/testdata-6.1.json
  klpack deploy show --json testdata/states/seed-hybrid-transition.json`,
	},
	"klpack hooks build": {
		more: `Each line printed is an object, its program type and attach target, the
error type of the hook function (ERRNO: it returns 0 or a negative errno)
and where the hook point was declared: (marker) by KLPACK_HOOK in the
module, (manifest) by the release's hook_points.`,
		example: `  klpack hooks build -o /tmp/hooks testdata/ko/6.1.0-56-amd64/lp_hook.ko

  # and whether Debian's 6.1 kernel can override them
  klpack hooks build -o /tmp/hooks --kernel-config /boot/config-6.1.0-56-amd64 testdata/ko/6.1.0-56-amd64/lp_hook.ko`,
	},
	"klpack hooks attach": {
		more: `Needs root, a mounted bpffs and a kernel with CONFIG_BPF_KPROBE_OVERRIDE.
The packages' loader runs it for the hooks it installs; by hand, attach
after the livepatch is enabled, then set values with klpack hooks set.`,
		example: `  klpack hooks attach /usr/lib/klpack/6.1.0-56-amd64/klp-patch-6.1.0-56-amd64-lp-hook/hooks/lp_hook_meminfo_allowed.bpf.o
  klpack hooks set lp_hook_meminfo_allowed --cgroup /sys/fs/cgroup/app --value -1`,
	},
	"klpack hooks status": {
		example: `  klpack hooks status
  klpack hooks status --json`,
	},
	"klpack hooks sync": {
		example: `  # after an atomic replace: probe the new patch's copies, drop the stale probes
  klpack hooks sync

  # the same around a transition still in progress
  klpack hooks sync --wait`,
	},
	"klpack hooks set": {
		example: `  # lp_hook_meminfo_allowed returns -1 (-EPERM) for the tasks of one cgroup
  klpack hooks set lp_hook_meminfo_allowed --cgroup /sys/fs/cgroup/app --value -1`,
	},
	"klpack hooks unset": {
		example: `  klpack hooks unset lp_hook_meminfo_allowed --cgroup /sys/fs/cgroup/app`,
	},
	"klpack hooks detach": {
		example: `  klpack hooks detach lp_hook_meminfo_allowed
  klpack hooks detach --all`,
	},
	"klpack sign": {
		more: `The kernel accepts the signature when the certificate is in its keyring
(built in, or enrolled through MOK on secure boot). klpack release signs
every module with sign.modules of klpack.yaml instead.`,
		example: `  klpack sign --key /tmp/keys/module-key.pem --cert /tmp/keys/module-cert.pem -o /tmp/lp_replace.ko testdata/ko/6.1.0-56-amd64/lp_replace.ko`,
	},
	"klpack version": {
		more: `The version is the one stamped at link time (-ldflags "-X main.version=..."),
else the module version go install recorded, else devel; the commit is the
one the build recorded from git (make build does; "+dirty" when the work
tree had changes), else unknown; then the Go toolchain. klpack --version
prints the same.`,
		example: `  klpack version
  klpack version --json`,
	},
}

// applyHelp adds commandHelp to the commands of the tree under root.
func applyHelp(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if h, ok := commandHelp[c.CommandPath()]; ok {
			switch {
			case h.more == "":
			case c.Long == "":
				c.Long = c.Short + ".\n\n" + h.more
			default:
				c.Long = strings.TrimRight(c.Long, "\n") + "\n\n" + h.more
			}
			c.Example = h.example
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
}
