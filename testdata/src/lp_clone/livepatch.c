// SPDX-License-Identifier: GPL-2.0
/*
 * lp_clone: livepatch whose old_name values carry GCC clone suffixes.
 *
 * Covers: reporting of ".isra.N", ".constprop.N" and ".cold" in
 * old_name (the names are plausible vmlinux clones, written for testing
 * suffix reporting; they were not checked against a real symbol table, so
 * klp_enable_patch() may fail with -ENOENT on a given build: do not expect
 * this module to load).  The new functions only print a line naming the
 * patch; their prototypes do not match any real clone.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>

static void lp_clone_show_val_kb(void)
{
	pr_info("lp_clone show_val_kb.isra.0\n");
}

static void lp_clone_task_state(void)
{
	pr_info("lp_clone task_state.constprop.0\n");
}

static void lp_clone_do_sys_poll_cold(void)
{
	pr_info("lp_clone do_sys_poll.cold\n");
}

static struct klp_func lp_clone_funcs[] = {
	{
		.old_name = "show_val_kb.isra.0",
		.new_func = lp_clone_show_val_kb,
	},
	{
		.old_name = "task_state.constprop.0",
		.new_func = lp_clone_task_state,
	},
	{
		.old_name = "do_sys_poll.cold",
		.new_func = lp_clone_do_sys_poll_cold,
	},
	{ }
};

static struct klp_object lp_clone_objs[] = {
	{
		/* .name = NULL: vmlinux */
		.funcs = lp_clone_funcs,
	},
	{ }
};

static struct klp_patch lp_clone_patch = {
	.mod = THIS_MODULE,
	.objs = lp_clone_objs,
	.replace = false,
};

static int __init lp_clone_init(void)
{
	return klp_enable_patch(&lp_clone_patch);
}

static void __exit lp_clone_exit(void)
{
}

module_init(lp_clone_init);
module_exit(lp_clone_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpack test: old names with GCC clone suffixes");
