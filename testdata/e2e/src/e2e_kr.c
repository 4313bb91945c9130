// SPDX-License-Identifier: GPL-2.0
/*
 * e2e_kr: replaces e2e_target_show in module e2e_target with a function
 * that reaches the target's own e2e_target_show through a klp relocation,
 * as kpatch-build and klp-build patches reach a module's unexported
 * symbols. Kbuild cannot write one: scripts/e2e/klprela turns the
 * relocation of the section .e2e_kr_ref into .klp.rela.e2e_target..e2e_kr_ref
 * after the build. The kernel writes it when e2e_target loads; a kernel
 * that does not clear it when e2e_target goes (x86 before 6.3) refuses
 * e2e_target's next load (check rule KLP024).
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

/* Weak, so that modpost lets the undefined symbol through. */
extern int e2e_target_show(struct seq_file *m, void *v) __weak;

static void *e2e_kr_ref __section(".e2e_kr_ref") __used = e2e_target_show;

static int e2e_kr_target_show(struct seq_file *m, void *v)
{
	seq_printf(m, "klpe e2e_kr - e2e_target_show %ps\n", e2e_kr_ref);
	return 0;
}

static struct klp_func e2e_kr_funcs[] = {
	{ .old_name = "e2e_target_show", .new_func = e2e_kr_target_show, },
	{ }
};

static struct klp_object e2e_kr_objs[] = {
	{ .name = "e2e_target", .funcs = e2e_kr_funcs, },
	{ }
};

static struct klp_patch e2e_kr_lp = {
	.mod = THIS_MODULE,
	.objs = e2e_kr_objs,
};

static int __init e2e_kr_init(void)
{
	return klp_enable_patch(&e2e_kr_lp);
}

static void __exit e2e_kr_exit(void)
{
}

module_init(e2e_kr_init);
module_exit(e2e_kr_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpack e2e livepatch: reaches e2e_target through a klp relocation");
