// SPDX-License-Identifier: GPL-2.0
/*
 * lp_shadow: livepatch that uses shadow variables.
 *
 * Covers: klp_shadow_get / klp_shadow_alloc in the new function and
 * klp_shadow_free_all on module exit; .replace = false; .states points to
 * an all-zero one-element klp_state array, which gcc puts in .bss, so a
 * decoder must read the terminator from a NOBITS section (no states).
 * Patches vmlinux show_softirqs (/proc/softirqs).  After enabling, "cat
 * /proc/softirqs" prints "lp_shadow show_softirqs reads=N", N counted in a
 * shadow variable attached to the /proc/softirqs inode.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/fs.h>
#include <linux/mutex.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

#define LP_SHADOW_READS_ID	0x5eed0001UL

static DEFINE_MUTEX(lp_shadow_lock);

static int lp_shadow_show_softirqs(struct seq_file *p, void *v)
{
	void *key = p->file ? (void *)file_inode(p->file) : (void *)p;
	unsigned long *reads;
	unsigned long n = 0;

	mutex_lock(&lp_shadow_lock);
	reads = klp_shadow_get(key, LP_SHADOW_READS_ID);
	if (!reads)
		reads = klp_shadow_alloc(key, LP_SHADOW_READS_ID,
					 sizeof(*reads), GFP_KERNEL,
					 NULL, NULL);
	if (reads)
		n = ++*reads;
	mutex_unlock(&lp_shadow_lock);

	seq_printf(p, "lp_shadow show_softirqs reads=%lu\n", n);
	return 0;
}

static struct klp_func lp_shadow_funcs[] = {
	{
		.old_name = "show_softirqs",
		.new_func = lp_shadow_show_softirqs,
	},
	{ }
};

static struct klp_object lp_shadow_objs[] = {
	{
		/* .name = NULL: vmlinux */
		.funcs = lp_shadow_funcs,
	},
	{ }
};

/* Only the terminator: all zero, so it lands in .bss. */
static struct klp_state lp_shadow_states[1];

static struct klp_patch lp_shadow_patch = {
	.mod = THIS_MODULE,
	.objs = lp_shadow_objs,
	.states = lp_shadow_states,
	.replace = false,
};

static int __init lp_shadow_init(void)
{
	return klp_enable_patch(&lp_shadow_patch);
}

static void __exit lp_shadow_exit(void)
{
	/* The patch is disabled by now: drop every counter we attached. */
	klp_shadow_free_all(LP_SHADOW_READS_ID, NULL);
}

module_init(lp_shadow_init);
module_exit(lp_shadow_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpack test: shadow variables, zero states array in .bss");
