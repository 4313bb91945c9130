// SPDX-License-Identifier: GPL-2.0
/*
 * lp_hook: an off-band livepatch whose new code calls two BPF hook points,
 * declared with klpack's header (templates/klpack_livepatch.h, which
 * testdata/build.sh copies to the top of the build tree).
 *
 * Covers: KLPACK_HOOK (an _error_injection_whitelist entry and a
 * .klpack.hooks marker per hook point, both relocated against the
 * function), KLPACK_OFF_BAND (modinfo klpack_layer=off-band,
 * klpack_replaceable=N) and KLPACK_REPLACE_SET (klpack_replace_set=7).
 *
 * After enabling, "cat /proc/meminfo" prints "lp_hook meminfo_proc_show
 * extra=0". A BPF program on lp_hook_meminfo_allowed that returns -EPERM
 * makes the read fail with EPERM; klpack's template refuses values outside
 * [-MAX_ERRNO, 0] for these ERRNO hook points.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

#include "../klpack_livepatch.h"

int lp_hook_meminfo_allowed(void);
int lp_hook_meminfo_extra(struct seq_file *m);

/* Hook point: 0 lets the read of /proc/meminfo through, -errno fails it. */
__klpack_hook int lp_hook_meminfo_allowed(void)
{
	return 0;
}
KLPACK_HOOK(lp_hook_meminfo_allowed, ERRNO);

/* Hook point: a number the patched file prints; -errno fails the read. */
__klpack_hook int lp_hook_meminfo_extra(struct seq_file *m)
{
	return 0;
}
KLPACK_HOOK(lp_hook_meminfo_extra, ERRNO);

static int lp_hook_meminfo_proc_show(struct seq_file *m, void *v)
{
	int err = lp_hook_meminfo_allowed();
	int extra;

	if (err)
		return err;
	extra = lp_hook_meminfo_extra(m);
	if (extra < 0)
		return extra;
	seq_printf(m, "lp_hook meminfo_proc_show extra=%d\n", extra);
	return 0;
}

static struct klp_func lp_hook_funcs[] = {
	{
		.old_name = "meminfo_proc_show",
		.new_func = lp_hook_meminfo_proc_show,
	},
	{ }
};

static struct klp_object lp_hook_objs[] = {
	{
		/* .name = NULL: vmlinux */
		.funcs = lp_hook_funcs,
	},
	{ }
};

static struct klp_patch lp_hook_patch = {
	.mod = THIS_MODULE,
	.objs = lp_hook_objs,
};

static int __init lp_hook_init(void)
{
	return klp_enable_patch(&lp_hook_patch);
}

static void __exit lp_hook_exit(void)
{
}

module_init(lp_hook_init);
module_exit(lp_hook_exit);
KLPACK_OFF_BAND();
KLPACK_REPLACE_SET(7);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpack test: off-band patch with two BPF hook points");
