// SPDX-License-Identifier: GPL-2.0
/*
 * e2e_kprobe: a plain module (no livepatch) that puts a kprobe on
 * cmdline_proc_show, the function e2e_a patches. With post=1 (the
 * default) the kprobe has a post handler, so the kernel arms it through
 * kprobe_ipmodify_ops (kernel/kprobes.c), an IPMODIFY ftrace user: a
 * livepatch of the function is then refused with EBUSY. With post=0 it
 * has a pre handler only (kprobe_ftrace_ops, no IPMODIFY) and a livepatch
 * loads beside it. The handlers count their hits, shown in sysfs.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>

static bool post = true;
module_param(post, bool, 0444);
MODULE_PARM_DESC(post, "give the kprobe a post handler (an IPMODIFY user)");

static unsigned long pre_hits, post_hits;
module_param(pre_hits, ulong, 0444);
module_param(post_hits, ulong, 0444);

static int e2e_kprobe_pre(struct kprobe *p, struct pt_regs *regs)
{
	pre_hits++;
	return 0;
}

static void e2e_kprobe_post(struct kprobe *p, struct pt_regs *regs, unsigned long flags)
{
	post_hits++;
}

static struct kprobe e2e_kp = {
	.symbol_name = "cmdline_proc_show",
	.pre_handler = e2e_kprobe_pre,
};

static int __init e2e_kprobe_init(void)
{
	int ret;

	if (post)
		e2e_kp.post_handler = e2e_kprobe_post;
	ret = register_kprobe(&e2e_kp);
	if (ret)
		pr_err("e2e_kprobe: register_kprobe: %d\n", ret);
	return ret;
}

static void __exit e2e_kprobe_exit(void)
{
	unregister_kprobe(&e2e_kp);
}

module_init(e2e_kprobe_init);
module_exit(e2e_kprobe_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klpack e2e: a kprobe, with or without post handler, on cmdline_proc_show");
