/* SPDX-License-Identifier: GPL-2.0 */
/*
 * e2e_hook.h: the body of the e2e hook modules. The new meminfo_proc_show
 * prints the value of the BPF hook point e2e_hook_value:
 *
 *   klpe <patch> <tag> meminfo_proc_show hook=<value>
 *
 * 0 unless a BPF program overrides it for the reading task's cgroup.
 * Every hook module defines e2e_hook_value, so after one replaces another
 * two modules define the same function: the kernel refuses a kprobe on the
 * bare name (EADDRNOTAVAIL) and klpack probes <module>:e2e_hook_value.
 *
 *   E2E_REPLACE   1 for an atomic-replace patch (default 0)
 *   E2E_OFF_BAND  declare the patch off-band (KLPACK_OFF_BAND)
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

#include "klpack_livepatch.h"

#ifndef E2E_REPLACE
#define E2E_REPLACE 0
#endif
#ifndef E2E_TAG
#define E2E_TAG "-"
#endif

int e2e_hook_value(void);

__klpack_hook int e2e_hook_value(void)
{
	return 0;
}
KLPACK_HOOK(e2e_hook_value, ERRNO);

static int e2e_meminfo_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "klpe %s %s meminfo_proc_show hook=%d\n", KBUILD_MODNAME,
		   E2E_TAG, e2e_hook_value());
	return 0;
}

static struct klp_func e2e_funcs[] = {
	{ .old_name = "meminfo_proc_show", .new_func = e2e_meminfo_proc_show, },
	{ }
};

static struct klp_object e2e_objs[] = {
	{ .funcs = e2e_funcs, },
	{ }
};

static struct klp_patch e2e_patch = {
	.mod = THIS_MODULE,
	.objs = e2e_objs,
	.replace = E2E_REPLACE,
};

static int __init e2e_init(void)
{
	return klp_enable_patch(&e2e_patch);
}

static void __exit e2e_exit(void)
{
}

module_init(e2e_init);
module_exit(e2e_exit);
#ifdef E2E_OFF_BAND
KLPACK_OFF_BAND();
#endif
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
