# klpack: `make demo` runs the main job on the bundled testdata, `make test`
# runs every test. Both install what they need with apt-get when missing.

GO       ?= go
BIN      := bin/klpack
CACHE    ?= $(or $(KLPACK_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/klpack)
TREES    := $(CACHE)/trees
FUZZTIME ?= 10m
export KLPACK_CACHE := $(CACHE)

# Debian packages the tests use, by the command or file that shows them.
DEPS := make:make gcc:gcc strip:binutils modinfo:kmod xz:xz-utils zstd:zstd \
	gzip:gzip pahole:dwarves dpkg-deb:dpkg apt-get:apt hyperfine:hyperfine \
	/usr/src/linux-headers-6.1.0-56-amd64/Makefile:linux-headers-6.1.0-56-amd64 \
	/usr/src/linux-headers-6.12.117+deb12-amd64/vmlinux:linux-headers-6.12.117+deb12-amd64

.PHONY: all build demo test unit fuzz fuzz-short bench install-deps testdata trees clean

# Each area's own targets and the Debian packages it needs (DEPS += ...).
include $(wildcard mk/*.mk)

all: build

build:
	$(GO) build -o $(BIN) ./cmd/klpack

install-deps:
	@missing=; for d in $(DEPS); do \
		what=$${d%%:*}; pkg=$${d#*:}; \
		case $$what in /*) test -e $$what ;; *) command -v $$what >/dev/null 2>&1 ;; esac \
			|| missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "install-deps: installing$$missing"; \
		SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

# The real Debian module trees the agreement tests and benchmarks read.
trees: install-deps
	sh scripts/fetch-trees.sh $(TREES)

demo: build
	@echo "== klpack scan testdata/ko/6.1.0-56-amd64 (livepatch modules, as built)"
	./$(BIN) scan testdata/ko/6.1.0-56-amd64/lp_*[a-z].ko
	@echo "== the same module stripped of all local symbols, xz-compressed copies included"
	./$(BIN) scan testdata/ko/6.1.0-56-amd64/lp_param.strip-unneeded.ko testdata/ko/6.1.0-56-amd64/lp_multiobj.ko.xz
	@echo "== modules made by kpatch-build and upstream klp-build for the test kernel (patch built at init), and one cross-built for arm64"
	./$(BIN) scan testdata/gen/kpatch-build/ko/kpb_replace.ko testdata/gen/klp-build/ko/klpb_sympos.ko testdata/ko/7.2.13-arm64/lp_replace.ko
	@echo "== JSON (klpack.scan/v1) of one module"
	./$(BIN) scan --json testdata/ko/6.12.117+deb12-amd64/lp_replace.ko.zst
	@echo "== klpack simulate: the sample modules loaded, disabled, replaced and unloaded on 6.1"
	./$(BIN) simulate testdata/scenarios/testdata-6.1.yaml
	@echo "== klpack check: lp_replace.ko against 6.1 running lp_noreplace and lp_multiobj: the kernel would refuse it"
	./$(BIN) check --deployed testdata/states/testdata-6.1.json testdata/ko/6.1.0-56-amd64/lp_replace.ko || test $$? -eq 1
	@echo "== klpack check: a cumulative release (lp3) against a hybrid kernel running off-band lp1 and cumulative lp2"
	./$(BIN) check --deployed testdata/states/seed-hybrid.json testdata/scenarios/seed/lp3.json || test $$? -eq 1
	@echo "== the same release on a mainline kernel: refused, lp3 would remove the off-band lp1"
	./$(BIN) check --deployed testdata/states/seed-mainline.json testdata/scenarios/seed/lp3.json || test $$? -eq 1

# Every tier: unit, golden, CLI scripts, rebuild of the testdata, real
# Debian trees, a short fuzz run. Missing tools fail instead of skipping.
test: install-deps trees
	KLPACK_REQUIRE_TOOLS=1 KLPACK_TREES=$(TREES) $(GO) test -tags e2e -count=1 ./...
	KLPACK_TREES=$(TREES) $(GO) test -run '^$$' -bench . -benchtime 1x ./...
	$(MAKE) fuzz-short

unit:
	$(GO) test ./...

fuzz-short:
	$(GO) test ./elfscan -run '^$$' -fuzz '^FuzzScan$$' -fuzztime 20s
	$(GO) test ./elfscan -run '^$$' -fuzz '^FuzzSignature$$' -fuzztime 10s
	$(GO) test ./pkg/hooks -run '^$$' -fuzz '^FuzzKallsyms$$' -fuzztime 5s

fuzz:
	$(GO) test ./elfscan -run '^$$' -fuzz '^FuzzScan$$' -fuzztime $(FUZZTIME)

bench: install-deps trees build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	KLPACK=./$(BIN) sh scripts/bench-compare.sh $(TREES)

# Rebuild the sample modules with Kbuild against the Debian headers.
testdata: install-deps
	sh testdata/build.sh

clean:
	rm -rf bin
