# BPF hooks (issue 7, build time): klpack hooks build, its clang tests and
# the demo that leaves the objects of testdata's hook module in dist/hooks.

DEPS += clang:clang llvm-strip:llvm

.PHONY: demo-hooks
demo: demo-hooks

HOOKS_KERNEL := 6.12.117+deb12-amd64

# demo-pack (mk/pack.mk) starts by emptying dist/; run after it.
demo-hooks: install-deps build $(if $(filter demo,$(MAKECMDGOALS)),demo-pack)
	@echo "== klpack scan: lp_hook declares two hook points (markers and error-injection entries) and is off-band"
	./$(BIN) scan testdata/ko/$(HOOKS_KERNEL)/lp_hook.ko | grep -E 'replaceable|replace_set|hook '
	@echo "== klpack hooks build: a kprobe program per hook point, compiled with clang and validated, into dist/hooks/"
	rm -rf dist/hooks
	./$(BIN) hooks build --output dist/hooks testdata/ko/$(HOOKS_KERNEL)/lp_hook.ko
	@echo "== against Debian's own $(HOOKS_KERNEL) (config and BTF): what it lacks for the override"
	./$(BIN) hooks build --output dist/hooks --kernel-config /usr/src/linux-headers-$(HOOKS_KERNEL)/.config \
		--vmlinux-btf /usr/src/linux-headers-$(HOOKS_KERNEL)/vmlinux testdata/ko/$(HOOKS_KERNEL)/lp_hook.ko || test $$? -eq 1
	@echo "== left in dist/hooks/:"; find dist/hooks -type f | sort
