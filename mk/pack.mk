# Packaging (issue 6): klpack package / klpack sign, their real-tool tests,
# the side-by-side bench and the demo that leaves packages in dist/.

DEPS += rpm:rpm rpmbuild:rpm rpmkeys:rpm debsig-verify:debsig-verify \
	gpg:gnupg openssl:openssl dpkg-query:dpkg dpkg-architecture:dpkg-dev \
	busybox:busybox-static dash:dash apt-ftparchive:apt-utils createrepo_c:createrepo-c

.PHONY: bench-pack demo-pack
bench: bench-pack
demo: demo-pack

DIST         := dist
DEMO_KERNEL  := 6.1.0-56-amd64
DEMO_EPOCH   := 1700000000

bench-pack: install-deps build
	KLPACK=./$(BIN) sh scripts/bench-release.sh testdata/klpack.yaml

# Package the testdata release, sign it with throwaway keys made here (the
# secret halves live only in a temporary directory, passphrase-protected,
# removed at the end), verify with rpmkeys, debsig-verify, klpack scan and
# openssl cms, and leave packages, public keys and manifests under dist/.
demo-pack: install-deps build
	@set -e; k=$$(realpath $(BIN)); rm -rf $(DIST); mkdir -p $(DIST)/packages $(DIST)/keys $(DIST)/modules; \
	tmp=$$(mktemp -d); export GNUPGHOME=$$tmp/gnupg; mkdir -m 700 $$GNUPGHOME; \
	trap 'gpgconf --kill all >/dev/null 2>&1 || :; rm -rf "$$tmp"' EXIT; \
	KLPACK_DEMO_PASS=$$(openssl rand -hex 16); export KLPACK_DEMO_PASS; \
	echo "== a throwaway OpenPGP key (passphrase only in this shell's environment)"; \
	gpg -q --batch --pinentry-mode loopback --passphrase "$$KLPACK_DEMO_PASS" \
		--quick-gen-key 'klpack demo <demo@klpack.invalid>' rsa3072 sign 1d; \
	keyid=$$(gpg --with-colons --list-keys | awk -F: '/^pub/ {print $$5; exit}'); \
	gpg -q --batch --pinentry-mode loopback --passphrase "$$KLPACK_DEMO_PASS" --armor --export-secret-keys > $$tmp/secret.asc; \
	gpg -q --armor --export > $(DIST)/keys/klpack-demo.asc; gpg -q --export > $(DIST)/keys/klpack-demo.gpg; \
	echo "== klpack package testdata/release-6.1.yaml (lp_replace cumulative, lp_noreplace off-band), signed by $$keyid"; \
	SOURCE_DATE_EPOCH=$(DEMO_EPOCH) $$k package --sign-key $$tmp/secret.asc --passphrase-env KLPACK_DEMO_PASS \
		-o $(DIST)/packages testdata/release-6.1.yaml; \
	mv $(DIST)/packages/*.manifest.json $(DIST)/; \
	echo "== rpmkeys --checksig against the imported public key"; \
	rpmkeys --root $$tmp/rpmroot --import $(DIST)/keys/klpack-demo.asc; \
	rpmkeys --root $$tmp/rpmroot --checksig $(DIST)/packages/*.rpm; \
	echo "== debsig-verify with a policy and keyring for $$keyid (kept in dist/keys/debsig)"; \
	mkdir -p $(DIST)/keys/debsig/policies/$$keyid $(DIST)/keys/debsig/keyrings/$$keyid; \
	cp $(DIST)/keys/klpack-demo.gpg $(DIST)/keys/debsig/keyrings/$$keyid/debsig.gpg; \
	printf '%s\n' '<?xml version="1.0"?>' \
		'<!DOCTYPE Policy SYSTEM "https://www.debian.org/debsig/1.0/policy.dtd">' \
		'<Policy xmlns="https://www.debian.org/debsig/1.0/">' \
		"  <Origin Name=\"klpack-demo\" id=\"$$keyid\" Description=\"klpack demo\"/>" \
		"  <Selection><Required Type=\"origin\" File=\"debsig.gpg\" id=\"$$keyid\"/></Selection>" \
		"  <Verification MinOptional=\"0\"><Required Type=\"origin\" File=\"debsig.gpg\" id=\"$$keyid\"/></Verification>" \
		'</Policy>' > $(DIST)/keys/debsig/policies/$$keyid/klpack-demo.pol; \
	for d in $(DIST)/packages/*.deb; do debsig-verify --policies-dir $(DIST)/keys/debsig/policies \
		--keyrings-dir $(DIST)/keys/debsig/keyrings $$d; done; \
	echo "== what rpm and dpkg see: relations and load order"; \
	rpm -qp --provides --requires --conflicts $(DIST)/packages/*lp-noreplace*.rpm 2>/dev/null; \
	dpkg-deb -f $(DIST)/packages/*lp-noreplace*.deb Package Version Depends Provides Conflicts Klp-Load-Order; \
	echo "== klpack sign: a kernel module signature with a throwaway X.509 key"; \
	printf '[req]\ndistinguished_name=dn\n[dn]\n[ext]\nkeyUsage=digitalSignature\nsubjectKeyIdentifier=hash\n' > $$tmp/x509.cnf; \
	openssl req -new -x509 -newkey rsa:3072 -nodes -keyout $$tmp/signing_key.pem -out $(DIST)/keys/module-signing.crt \
		-days 1 -subj '/CN=klpack demo module key/O=klpack' -config $$tmp/x509.cnf -extensions ext 2>/dev/null; \
	$$k sign --key $$tmp/signing_key.pem --cert $(DIST)/keys/module-signing.crt \
		-o $(DIST)/modules/lp_noreplace.ko testdata/ko/$(DEMO_KERNEL)/lp_noreplace.ko; \
	$$k scan $(DIST)/modules/lp_noreplace.ko | grep signature; \
	f=$(DIST)/modules/lp_noreplace.ko; size=$$(wc -c < $$f); \
	siglen=$$(od -An -tu1 -j $$((size - 32)) -N4 $$f | awk '{print $$1*16777216 + $$2*65536 + $$3*256 + $$4}'); \
	head -c $$((size - 40)) $$f | tail -c $$siglen > $$tmp/sig.p7; \
	head -c $$((size - 40 - siglen)) $$f > $$tmp/unsigned.ko; \
	openssl cms -verify -binary -inform DER -in $$tmp/sig.p7 -content $$tmp/unsigned.ko \
		-certfile $(DIST)/keys/module-signing.crt -CAfile $(DIST)/keys/module-signing.crt -purpose any -out /dev/null; \
	echo "== left in $(DIST)/:"; find $(DIST) -type f | sort
