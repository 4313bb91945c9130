# Repositories (issue 14, item 7): pkg/repo writes apt and dnf/yum
# repositories and SHA256SUMS; its tests prove them with the real clients
# (apt-get, dnf), createrepo_c, gpgv and sha256sum. Included by the
# top-level Makefile.

DEPS += createrepo_c:createrepo-c dnf:dnf gpgv:gpgv sha256sum:coreutils \
	apt-get:apt dpkg:dpkg gpg:gnupg rpm:rpm
