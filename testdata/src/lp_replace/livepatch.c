// SPDX-License-Identifier: GPL-2.0
/*
 * lp_replace: atomic-replace livepatch (.replace = true).
 *
 * Covers: one vmlinux func (cmdline_proc_show), a klp_state array with two
 * states plus the zero terminator, and all four callbacks on the vmlinux
 * object.  After enabling, "cat /proc/cmdline" prints "lp_replace
 * cmdline_proc_show".
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

static int lp_replace_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s\n", "lp_replace cmdline_proc_show");
	return 0;
}

static int lp_replace_pre_patch(struct klp_object *obj)
{
	pr_info("pre_patch\n");
	return 0;
}

static void lp_replace_post_patch(struct klp_object *obj)
{
	pr_info("post_patch\n");
}

static void lp_replace_pre_unpatch(struct klp_object *obj)
{
	pr_info("pre_unpatch\n");
}

static void lp_replace_post_unpatch(struct klp_object *obj)
{
	pr_info("post_unpatch\n");
}

static struct klp_func lp_replace_funcs[] = {
	{
		.old_name = "cmdline_proc_show",
		.new_func = lp_replace_cmdline_proc_show,
	},
	{ }
};

static struct klp_object lp_replace_objs[] = {
	{
		/* .name = NULL: vmlinux */
		.funcs = lp_replace_funcs,
		.callbacks = {
			.pre_patch = lp_replace_pre_patch,
			.post_patch = lp_replace_post_patch,
			.pre_unpatch = lp_replace_pre_unpatch,
			.post_unpatch = lp_replace_post_unpatch,
		},
	},
	{ }
};

static struct klp_state lp_replace_states[] = {
	{ .id = 0x1001, .version = 2 },
	{ .id = 0x1002, .version = 1 },
	{ }
};

static struct klp_patch lp_replace_patch = {
	.mod = THIS_MODULE,
	.objs = lp_replace_objs,
	.states = lp_replace_states,
	.replace = true,
};

static int __init lp_replace_init(void)
{
	return klp_enable_patch(&lp_replace_patch);
}

static void __exit lp_replace_exit(void)
{
}

module_init(lp_replace_init);
module_exit(lp_replace_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpack test: replace patch with states and callbacks");
