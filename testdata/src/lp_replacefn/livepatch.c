// SPDX-License-Identifier: GPL-2.0
/*
 * lp_replacefn: livepatch whose replace flag is what a function returns.
 *
 * Covers: the static initializer says .replace = true, but the init
 * function overwrites it with the result of lp_replacefn_wanted(), which
 * the compiler must not inline and whose value depends on the machine
 * it runs on (the number of online CPUs), before klp_enable_patch().  No scan of the
 * module can know the value, so it must be reported as unknown, never as
 * the initializer's true.
 * Patches vmlinux cmdline_proc_show, the same function as lp_replace.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>
#include <linux/cpumask.h>

static int lp_replacefn_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_puts(m, "lp_replacefn cmdline_proc_show\n");
	return 0;
}

static struct klp_func lp_replacefn_funcs[] = {
	{
		.old_name = "cmdline_proc_show",
		.new_func = lp_replacefn_cmdline_proc_show,
	},
	{ }
};

static struct klp_object lp_replacefn_objs[] = {
	{
		/* .name = NULL: vmlinux */
		.funcs = lp_replacefn_funcs,
	},
	{ }
};

static struct klp_patch lp_replacefn_patch = {
	.mod = THIS_MODULE,
	.objs = lp_replacefn_objs,
	.replace = true,	/* overwritten by lp_replacefn_init() */
};

/* Not a constant the compiler could fold: it depends on the machine. */
static noinline bool lp_replacefn_wanted(void)
{
	return num_online_cpus() > 1;
}

static int __init lp_replacefn_init(void)
{
	lp_replacefn_patch.replace = lp_replacefn_wanted();
	return klp_enable_patch(&lp_replacefn_patch);
}

static void __exit lp_replacefn_exit(void)
{
}

module_init(lp_replacefn_init);
module_exit(lp_replacefn_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpack test: replace flag set from a function's result");
