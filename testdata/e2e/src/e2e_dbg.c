// SPDX-License-Identifier: GPL-2.0
/*
 * e2e_dbg: a plain module (no livepatch) whose e2e_dbg_poke holds a
 * dynamic-debug site (pr_debug). Writing the module parameter poke runs
 * e2e_dbg_poke; with the site enabled
 * (echo 'module e2e_dbg +p' > /proc/dynamic_debug/control) it prints
 * "klpe-dbg poke N". e2e_nodbg replaces the function with one without the
 * site, e2e_keepdbg with one that keeps it (KLP019 fires for the first).
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/moduleparam.h>

int e2e_dbg_poke(int v);

/* Global and noinline: kallsyms lists it under its plain name. */
noinline int e2e_dbg_poke(int v)
{
	pr_debug("klpe-dbg poke %d\n", v);
	pr_info("klpe e2e_dbg original e2e_dbg_poke %d\n", v);
	return 0;
}

static int e2e_dbg_set(const char *val, const struct kernel_param *kp)
{
	int v, err;

	err = kstrtoint(val, 0, &v);
	if (err)
		return err;
	return e2e_dbg_poke(v);
}

static const struct kernel_param_ops e2e_dbg_ops = {
	.set = e2e_dbg_set,
};
module_param_cb(poke, &e2e_dbg_ops, NULL, 0200);
MODULE_PARM_DESC(poke, "write a number: runs e2e_dbg_poke");

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klpack e2e: plain module with a pr_debug site, patched by e2e_nodbg and e2e_keepdbg");
