// SPDX-License-Identifier: GPL-2.0
/*
 * e2e_unset: cmdline, no replace, written without klpack's header: it
 * calls klp_enable_patch itself and never sets klp_patch.replaceable,
 * which a hybrid kernel therefore holds as 0, not replaceable.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

static int e2e_unset_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "klpe %s - cmdline_proc_show\n", KBUILD_MODNAME);
	return 0;
}

static struct klp_func e2e_unset_funcs[] = {
	{ .old_name = "cmdline_proc_show", .new_func = e2e_unset_cmdline_proc_show, },
	{ }
};

static struct klp_object e2e_unset_objs[] = {
	{ .funcs = e2e_unset_funcs, },
	{ }
};

static struct klp_patch e2e_unset_patch = {
	.mod = THIS_MODULE,
	.objs = e2e_unset_objs,
};

static int __init e2e_unset_init(void)
{
	return klp_enable_patch(&e2e_unset_patch);
}

static void __exit e2e_unset_exit(void)
{
}

module_init(e2e_unset_init);
module_exit(e2e_unset_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpack e2e livepatch: replaceable never set");
