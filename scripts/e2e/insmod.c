// SPDX-License-Identifier: GPL-2.0
/*
 * insmod.c: the e2e guests' insmod. busybox's insmod calls init_module
 * again after finit_module fails, whatever the error, so a module the
 * kernel refuses runs its init (and the livepatch callbacks it triggers)
 * twice. This one calls finit_module once, prints busybox's message on
 * failure and exits with the errno, as the runner expects.
 *
 *   insmod FILE [PARAM=VALUE...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char params[4096] = "";
	size_t used = 0;
	int fd, i;

	if (argc < 2) {
		fprintf(stderr, "usage: insmod FILE [PARAM=VALUE...]\n");
		return 2;
	}
	for (i = 2; i < argc; i++) {
		size_t n = strlen(argv[i]);

		if (used + n + 2 > sizeof(params)) {
			fprintf(stderr, "insmod: parameters too long\n");
			return 2;
		}
		if (used)
			params[used++] = ' ';
		memcpy(params + used, argv[i], n + 1);
		used += n;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || syscall(SYS_finit_module, fd, params, 0) != 0) {
		int err = errno;

		fprintf(stderr, "insmod: can't insert '%s': %s\n", argv[1], strerror(err));
		return err & 0xff;
	}
	return 0;
}
