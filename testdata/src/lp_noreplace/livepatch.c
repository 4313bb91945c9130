// SPDX-License-Identifier: GPL-2.0
/*
 * lp_noreplace: livepatch with .replace = false written out explicitly.
 *
 * Covers: three vmlinux funcs, one of them with .old_sympos = 2, no states,
 * no callbacks, and a klp_patch that is NOT at offset 0 of .data (an
 * initialized, non-zero array is defined first and used by the new code).
 *
 * old_sympos = 2 targets "c_next": a static seq_file iterator with that
 * name exists in arch/x86/kernel/cpu/proc.c (/proc/cpuinfo) and in
 * fs/proc/consoles.c (/proc/consoles); net/sunrpc/cache.c has one too but
 * SUNRPC is a module in Debian's config.  arch/ is linked before fs/, so
 * the /proc/consoles one should be the second in kallsyms.  Not checked
 * against a symbol table (only headers are at hand): verify with
 * "grep ' c_next$' /proc/kallsyms" before relying on it at runtime.
 *
 * After enabling: "cat /proc/version" prints "lp_noreplace
 * version_proc_show calls=N", /proc/loadavg "lp_noreplace
 * loadavg_proc_show calls=N".
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>
#include <linux/console.h>
#include <linux/version.h>

/*
 * gcc normally emits a file's variables in reverse order of definition;
 * no_reorder keeps the variables marked with it in source order, so the
 * non-zero array below lands at .data+0 and the klp_patch after it.
 */
#define LP_IN_ORDER __attribute__((__no_reorder__))

/* Non-zero initialized data, placed in .data ahead of the klp structures. */
static unsigned long lp_noreplace_calls[4] LP_IN_ORDER = {
	0x10, 0x20, 0x30, 0x40
};

static int lp_noreplace_version_proc_show(struct seq_file *m, void *v)
{
	unsigned long n = ++lp_noreplace_calls[0] - 0x10;

	seq_printf(m, "lp_noreplace version_proc_show calls=%lu\n", n);
	return 0;
}

static int lp_noreplace_loadavg_proc_show(struct seq_file *m, void *v)
{
	unsigned long n = ++lp_noreplace_calls[1] - 0x20;

	seq_printf(m, "lp_noreplace loadavg_proc_show calls=%lu\n", n);
	return 0;
}

/* Same behaviour as fs/proc/consoles.c's c_next. */
static void *lp_noreplace_c_next(struct seq_file *s, void *v, loff_t *pos)
{
	struct console *con = v;

	lp_noreplace_calls[2]++;
	++*pos;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
	return hlist_entry_safe(con->node.next, struct console, node);
#else
	return con->next;
#endif
}

static struct klp_func lp_noreplace_funcs[] LP_IN_ORDER = {
	{
		.old_name = "version_proc_show",
		.new_func = lp_noreplace_version_proc_show,
	},
	{
		.old_name = "loadavg_proc_show",
		.new_func = lp_noreplace_loadavg_proc_show,
	},
	{
		.old_name = "c_next",
		.new_func = lp_noreplace_c_next,
		.old_sympos = 2,
	},
	{ }
};

static struct klp_object lp_noreplace_objs[] LP_IN_ORDER = {
	{
		/* .name = NULL: vmlinux */
		.funcs = lp_noreplace_funcs,
	},
	{ }
};

static struct klp_patch lp_noreplace_patch LP_IN_ORDER = {
	.mod = THIS_MODULE,
	.objs = lp_noreplace_objs,
	.replace = false,
};

static int __init lp_noreplace_init(void)
{
	return klp_enable_patch(&lp_noreplace_patch);
}

static void __exit lp_noreplace_exit(void)
{
}

module_init(lp_noreplace_init);
module_exit(lp_noreplace_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpack test: non-replace patch, sympos, patch not at .data+0");
