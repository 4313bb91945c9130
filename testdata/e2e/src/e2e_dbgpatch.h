/* SPDX-License-Identifier: GPL-2.0 */
/*
 * e2e_dbgpatch.h: the livepatch of e2e_dbg_poke (module e2e_dbg) that
 * e2e_nodbg.c and e2e_keepdbg.c build; E2E_KEEP_DBG keeps the pr_debug
 * site of the original, its format unchanged.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>

static int livepatch_e2e_dbg_poke(int v)
{
#ifdef E2E_KEEP_DBG
	pr_debug("klpe-dbg poke %d\n", v);
#endif
	pr_info("klpe %s e2e_dbg_poke %d\n", KBUILD_MODNAME, v);
	return 0;
}

static struct klp_func e2e_dbg_funcs[] = {
	{ .old_name = "e2e_dbg_poke", .new_func = livepatch_e2e_dbg_poke },
	{ }
};

static struct klp_object e2e_dbg_objs[] = {
	{ .name = "e2e_dbg", .funcs = e2e_dbg_funcs },
	{ }
};

static struct klp_patch e2e_dbg_patch = {
	.mod = THIS_MODULE,
	.objs = e2e_dbg_objs,
};

static int __init e2e_dbgpatch_init(void)
{
	return klp_enable_patch(&e2e_dbg_patch);
}

static void __exit e2e_dbgpatch_exit(void)
{
}

module_init(e2e_dbgpatch_init);
module_exit(e2e_dbgpatch_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpack e2e livepatch of e2e_dbg_poke");
