// SPDX-License-Identifier: GPL-2.0
/*
 * klp_user: NOT a livepatch.
 *
 * Covers: a module that calls the klp shadow-variable API (so it imports
 * klp_* symbols) but has no MODULE_INFO(livepatch, "Y") and no klp_patch.
 * A scanner must report livepatch=false and no patches.  On load it
 * attaches a shadow value to a static object of its own; the value is
 * visible as the read-only parameter "seen" (/sys/module/klp_user/
 * parameters/seen = 7 after a successful load).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/moduleparam.h>
#include <linux/livepatch.h>

#define KLP_USER_SHADOW_ID	0x0b5e0001UL

static int klp_user_anchor;
static int seen;
module_param(seen, int, 0444);
MODULE_PARM_DESC(seen, "shadow value read back at init (7 when it worked)");

static int __init klp_user_init(void)
{
	int *val, *got;

	val = klp_shadow_alloc(&klp_user_anchor, KLP_USER_SHADOW_ID,
			       sizeof(*val), GFP_KERNEL, NULL, NULL);
	if (!val)
		return -ENOMEM;
	*val = 7;

	got = klp_shadow_get(&klp_user_anchor, KLP_USER_SHADOW_ID);
	seen = got ? *got : -1;
	pr_info("shadow value %d\n", seen);
	return 0;
}

static void __exit klp_user_exit(void)
{
	klp_shadow_free(&klp_user_anchor, KLP_USER_SHADOW_ID, NULL);
}

module_init(klp_user_init);
module_exit(klp_user_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klpack test: uses the klp API but is not a livepatch");
