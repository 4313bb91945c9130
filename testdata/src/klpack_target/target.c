// SPDX-License-Identifier: GPL-2.0
/*
 * klpack_target: a plain module, no livepatch at all.
 *
 * It is the module object that lp_multiobj patches (.name =
 * "klpack_target").  Its two noinline functions feed /proc/klpack_target,
 * so a shell can see whether the patch is active:
 *     cat /proc/klpack_target  ->  "klpack_target value=42 name=original"
 * The functions are global (not static, not exported) so gcc cannot clone
 * them and kallsyms lists them under their plain names.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

/* Global so lp_multiobj can patch them by name; no header needed. */
int klpack_target_value(void);
const char *klpack_target_name(void);
int klpack_target_show(struct seq_file *m, void *v);

static int base = 42;
module_param(base, int, 0444);
MODULE_PARM_DESC(base, "value reported by klpack_target_value()");

noinline int klpack_target_value(void)
{
	return READ_ONCE(base);
}

noinline const char *klpack_target_name(void)
{
	return "original";
}

noinline int klpack_target_show(struct seq_file *m, void *v)
{
	seq_printf(m, "klpack_target value=%d name=%s\n",
		   klpack_target_value(), klpack_target_name());
	return 0;
}

static int __init klpack_target_init(void)
{
	if (!proc_create_single("klpack_target", 0444, NULL,
				klpack_target_show))
		return -ENOMEM;
	return 0;
}

static void __exit klpack_target_exit(void)
{
	remove_proc_entry("klpack_target", NULL);
}

module_init(klpack_target_init);
module_exit(klpack_target_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klpack test: plain module patched by lp_multiobj");
