# Packaging (issue 6): klpack package / klpack sign, their real-tool tests
# and the side-by-side bench. The demo packages through klpack release
# (scripts/demo.sh).

DEPS += rpm:rpm rpmbuild:rpm rpmkeys:rpm debsig-verify:debsig-verify \
	gpg:gnupg openssl:openssl dpkg-query:dpkg dpkg-architecture:dpkg-dev \
	busybox:busybox-static dash:dash apt-ftparchive:apt-utils createrepo_c:createrepo-c

.PHONY: bench-pack
bench: bench-pack

bench-pack: install-deps build
	KLPACK=./$(BIN) sh scripts/bench-release.sh testdata/klpack.yaml
