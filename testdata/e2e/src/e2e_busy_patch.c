// SPDX-License-Identifier: GPL-2.0
/*
 * e2e_busy_patch: no replace, no state; replaces e2e_busy_sleep in module
 * e2e_busy. Its transition stalls while e2e_busy's thread sleeps in the old
 * function.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>

static void e2e_busy_patch_sleep(unsigned int ms)
{
	pr_info("klpe e2e_busy_patch - e2e_busy_sleep: not sleeping %u ms\n", ms);
}

static struct klp_func e2e_busy_funcs[] = {
	{ .old_name = "e2e_busy_sleep", .new_func = e2e_busy_patch_sleep, },
	{ }
};

static struct klp_object e2e_busy_objs[] = {
	{ .name = "e2e_busy", .funcs = e2e_busy_funcs, },
	{ }
};

static struct klp_patch e2e_busy_lp = {
	.mod = THIS_MODULE,
	.objs = e2e_busy_objs,
};

static int __init e2e_busy_patch_init(void)
{
	return klp_enable_patch(&e2e_busy_lp);
}

static void __exit e2e_busy_patch_exit(void)
{
}

module_init(e2e_busy_patch_init);
module_exit(e2e_busy_patch_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpack e2e livepatch: stalls while e2e_busy sleeps");
