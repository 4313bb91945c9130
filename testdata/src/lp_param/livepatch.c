// SPDX-License-Identifier: GPL-2.0
/*
 * lp_param: livepatch whose replace flag comes from a module parameter.
 *
 * Covers: the static initializer leaves .replace false (not written), the
 * init function copies the "replace" parameter (default false, 0444) into
 * the patch before klp_enable_patch().  Patches vmlinux version_proc_show,
 * the same function as lp_noreplace (an intended overlap).
 *     insmod lp_param.ko replace=1   ->  loads as an atomic-replace patch
 * After enabling, "cat /proc/version" prints "lp_param version_proc_show
 * replace=0|1".
 *
 * Like the upstream samples, its structures are called plain "funcs",
 * "objs" and "patch".
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/moduleparam.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

static bool replace;
module_param(replace, bool, 0444);
MODULE_PARM_DESC(replace, "enable as an atomic-replace patch (default: false)");

static int lp_param_version_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "lp_param version_proc_show replace=%d\n", replace);
	return 0;
}

static struct klp_func funcs[] = {
	{
		.old_name = "version_proc_show",
		.new_func = lp_param_version_proc_show,
	},
	{ }
};

static struct klp_object objs[] = {
	{
		/* .name = NULL: vmlinux */
		.funcs = funcs,
	},
	{ }
};

/* .replace deliberately not initialized here: see lp_param_init(). */
static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int __init lp_param_init(void)
{
	patch.replace = replace;
	return klp_enable_patch(&patch);
}

static void __exit lp_param_exit(void)
{
}

module_init(lp_param_init);
module_exit(lp_param_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpack test: replace flag set from a module parameter");
