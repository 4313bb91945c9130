// SPDX-License-Identifier: GPL-2.0
/*
 * lp_intparam: livepatch whose replace flag is copied from an int module
 * parameter.
 *
 * Covers: the static initializer says .replace = false, but the init
 * function overwrites it with the "replace" parameter (an int, writable
 * through sysfs) before klp_enable_patch().  The compiler turns the int
 * into the bool with a compare and SETcc (x86_64) or CSET (arm64), not a
 * plain copy, so a scan that only follows moves misses the store and
 * reports the initializer's false.
 *     insmod lp_intparam.ko replace=1   ->  loads as an atomic-replace patch
 * Patches vmlinux cmdline_proc_show, the same function as lp_replace.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/moduleparam.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

static int replace;
module_param(replace, int, 0644);
MODULE_PARM_DESC(replace, "non-zero: enable as an atomic-replace patch (default: 0)");

static int lp_intparam_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "lp_intparam cmdline_proc_show replace=%d\n", replace);
	return 0;
}

static struct klp_func lp_intparam_funcs[] = {
	{
		.old_name = "cmdline_proc_show",
		.new_func = lp_intparam_cmdline_proc_show,
	},
	{ }
};

static struct klp_object lp_intparam_objs[] = {
	{
		/* .name = NULL: vmlinux */
		.funcs = lp_intparam_funcs,
	},
	{ }
};

static struct klp_patch lp_intparam_patch = {
	.mod = THIS_MODULE,
	.objs = lp_intparam_objs,
	.replace = false,	/* overwritten by lp_intparam_init() */
};

static int __init lp_intparam_init(void)
{
	lp_intparam_patch.replace = replace;
	return klp_enable_patch(&lp_intparam_patch);
}

static void __exit lp_intparam_exit(void)
{
}

module_init(lp_intparam_init);
module_exit(lp_intparam_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpack test: replace flag set from an int module parameter");
