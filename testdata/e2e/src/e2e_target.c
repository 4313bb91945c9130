// SPDX-License-Identifier: GPL-2.0
/*
 * e2e_target: a plain module (no livepatch) that e2e_late patches.
 * cat /proc/e2e_target prints "klpe original - e2e_target_show" until a
 * patch replaces e2e_target_show. The function is global and noinline so
 * kallsyms lists it under its plain name.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

int e2e_target_show(struct seq_file *m, void *v);

noinline int e2e_target_show(struct seq_file *m, void *v)
{
	seq_puts(m, "klpe original - e2e_target_show\n");
	return 0;
}

static int __init e2e_target_init(void)
{
	if (!proc_create_single("e2e_target", 0444, NULL, e2e_target_show))
		return -ENOMEM;
	return 0;
}

static void __exit e2e_target_exit(void)
{
	remove_proc_entry("e2e_target", NULL);
}

module_init(e2e_target_init);
module_exit(e2e_target_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klpack e2e: plain module patched by e2e_late");
