/* SPDX-License-Identifier: GPL-2.0 */
/*
 * klpack_livepatch.h: declarations klpack reads from a hand-written
 * livepatch module without loading it.
 *
 *   KLPACK_HOOK(fn, ERRNO)         fn, defined with __klpack_hook, is a BPF
 *                                  hook point: a kprobe program may
 *                                  override its return value
 *   KLPACK_OFF_BAND()              the patch is an off-band fix: it is not
 *                                  replaceable by a cumulative patch
 *   KLPACK_NON_REPLACEABLE()       the patch is not replaceable
 *   KLPACK_REPLACE_SET(n)          the patch belongs to replace set n
 *
 * KLPACK_HOOK puts fn on the kernel's error-injection list, as
 * ALLOW_ERROR_INJECTION(fn, ERRNO) does: the kernel lets a kprobe override
 * only functions on that list, and picks up a module's entries from its
 * _error_injection_whitelist section when the module loads. The kernel's
 * macro expands to nothing when the headers the module is built against
 * lack CONFIG_FUNCTION_ERROR_INJECTION; the same entry is then written
 * here, so the module declares its hook points whatever kernel headers
 * built it and `klpack check` can say what the target kernel lacks.
 *
 * It also writes a marker of its own into the section .klpack.hooks, one
 * struct klpack_hook_marker per hook point (layout below, version 1):
 *
 *   off size
 *     0    4  magic 0x4b4c5048 ("KLPH" read as a big-endian word)
 *     4    2  version (1)
 *     6    2  size of the entry in bytes (32)
 *     8    4  error type, klpack's numbering (the kernel's EI_ETYPE_*
 *             values moved in 6.3): NULL 1, ERRNO 2, ERRNO_NULL 3, TRUE 4
 *    12    4  flags (0)
 *    16    8  pointer to the hook function (a relocation)
 *    24    8  pointer to the function's name, a NUL-terminated string
 *
 * kpatch-build and klp-build drop _error_injection_whitelist from the
 * modules they generate: hook points belong in hand-written (Kbuild-built)
 * livepatch modules.
 *
 * The patch declarations are modinfo tags (`modinfo -F klpack_replaceable`):
 *
 *   klpack_layer=off-band  klpack_replaceable=N  klpack_replace_set=<u32>
 *
 * Kernels with the non-replaceable / replace-set livepatch RFCs carry these
 * in struct klp_patch; elsewhere klpack takes them from the tags. Enable
 * the patch with klpack_enable_patch() instead of klp_enable_patch() and
 * the declarations also set the fields on kernels that have them (klpack's
 * hybrid and replace-set test kernels define KLP_PATCH_HAS_REPLACEABLE and
 * KLP_PATCH_HAS_REPLACE_SET in <linux/livepatch.h>).
 */
#ifndef _KLPACK_LIVEPATCH_H
#define _KLPACK_LIVEPATCH_H

#include <linux/compiler.h>
#include <linux/module.h>
#include <linux/types.h>
#include <linux/error-injection.h>
#include <linux/livepatch.h>

#define KLPACK_HOOK_MAGIC	0x4b4c5048u
#define KLPACK_HOOK_VERSION	1

/* Error types in the marker: fixed, unlike the kernel's EI_ETYPE_*. */
#define KLPACK_ETYPE_NULL	1
#define KLPACK_ETYPE_ERRNO	2
#define KLPACK_ETYPE_ERRNO_NULL	3
#define KLPACK_ETYPE_TRUE	4

struct klpack_hook_marker {
	u32		magic;
	u16		version;
	u16		size;
	u32		etype;
	u32		flags;
	const void	*func;
	const char	*name;
};

#ifdef CONFIG_FUNCTION_ERROR_INJECTION
#define __KLPACK_ALLOW_ERROR_INJECTION(fn, _etype) ALLOW_ERROR_INJECTION(fn, _etype)
#else
/* The kernel's ALLOW_ERROR_INJECTION, which these headers leave empty. */
#define __KLPACK_ALLOW_ERROR_INJECTION(fn, _etype)			\
static struct error_injection_entry __used				\
	__section("_error_injection_whitelist")				\
	_eil_addr_##fn = {						\
		.addr = (unsigned long)fn,				\
		.etype = EI_ETYPE_##_etype,				\
	}
#endif

/*
 * __klpack_hook marks the definition of a hook function: it stays a
 * function of its own (not inlined, not cloned) and its callers do not
 * assume the value it returns, which a BPF program may replace.
 */
#if __has_attribute(__noipa__)
#define __klpack_hook __attribute__((__noipa__)) __used
#else
#define __klpack_hook noinline __used
#endif

/*
 * KLPACK_HOOK(fn, etype): declare fn, a function of this module defined
 * with __klpack_hook, a BPF hook point. etype is what a failure returns,
 * as for ALLOW_ERROR_INJECTION: ERRNO (-errno), ERRNO_NULL (-errno or
 * NULL), NULL or TRUE. Use it at file scope after fn's definition.
 */
#define KLPACK_HOOK(fn, _etype)						\
	__KLPACK_ALLOW_ERROR_INJECTION(fn, _etype);			\
	static const char __klpack_hook_name_##fn[] = #fn;		\
	static const struct klpack_hook_marker __used			\
		__section(".klpack.hooks") __aligned(8)			\
		__klpack_hook_##fn = {					\
			.magic = KLPACK_HOOK_MAGIC,			\
			.version = KLPACK_HOOK_VERSION,			\
			.size = sizeof(struct klpack_hook_marker),	\
			.etype = KLPACK_ETYPE_##_etype,			\
			.func = (const void *)fn,			\
			.name = __klpack_hook_name_##fn,		\
		}

/*
 * What the declarations below say, for klpack_enable_patch(). These are
 * tentative definitions: a declaration's own definition, anywhere in the
 * file, gives the value; without one they are 0 (replaceable, set 0).
 */
static int __klpack_non_replaceable __maybe_unused;
static unsigned int __klpack_replace_set __maybe_unused;

/* The patch is an off-band fix, kept across cumulative upgrades. */
#define KLPACK_OFF_BAND()						\
	MODULE_INFO(klpack_layer, "off-band");				\
	KLPACK_NON_REPLACEABLE()

/* An atomic-replace patch does not replace this one. */
#define KLPACK_NON_REPLACEABLE()					\
	MODULE_INFO(klpack_replaceable, "N");				\
	static int __klpack_non_replaceable __maybe_unused = 1

/* The patch's replace set: a replace patch replaces only its own set. */
#define KLPACK_REPLACE_SET(n)						\
	MODULE_INFO(klpack_replace_set, __stringify(n));		\
	static unsigned int __klpack_replace_set __maybe_unused = (n)

/*
 * klpack_enable_patch(): klp_enable_patch() with the declarations written
 * into struct klp_patch where the kernel has the fields; elsewhere only
 * the modinfo tags carry them, for klpack.
 */
static inline int klpack_enable_patch(struct klp_patch *patch)
{
#ifdef KLP_PATCH_HAS_REPLACEABLE
	patch->replaceable = !__klpack_non_replaceable;
#endif
#ifdef KLP_PATCH_HAS_REPLACE_SET
	patch->replace_set = __klpack_replace_set;
#endif
	return klp_enable_patch(patch);
}

#endif /* _KLPACK_LIVEPATCH_H */
