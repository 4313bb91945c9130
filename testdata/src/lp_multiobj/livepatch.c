// SPDX-License-Identifier: GPL-2.0
/*
 * lp_multiobj: livepatch with two objects.
 *
 * Covers: a vmlinux object (uptime_proc_show) and a module object
 * (.name = "klpack_target", two funcs of klpack_target.ko), callbacks only
 * on the module object (pre_patch and post_unpatch), one klp_state.
 * After enabling: "cat /proc/uptime" prints "lp_multiobj
 * uptime_proc_show"; once klpack_target is loaded, "cat
 * /proc/klpack_target" prints "klpack_target value=4242 name=lp_multiobj".
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

static int lp_multiobj_uptime_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s\n", "lp_multiobj uptime_proc_show");
	return 0;
}

/* Replacements for klpack_target's functions (same prototypes). */
static int lp_multiobj_target_value(void)
{
	return 4242;
}

static const char *lp_multiobj_target_name(void)
{
	return "lp_multiobj";
}

static int lp_multiobj_target_pre_patch(struct klp_object *obj)
{
	pr_info("pre_patch %s\n", obj->name);
	return 0;
}

static void lp_multiobj_target_post_unpatch(struct klp_object *obj)
{
	pr_info("post_unpatch %s\n", obj->name);
}

static struct klp_func lp_multiobj_vmlinux_funcs[] = {
	{
		.old_name = "uptime_proc_show",
		.new_func = lp_multiobj_uptime_proc_show,
	},
	{ }
};

static struct klp_func lp_multiobj_target_funcs[] = {
	{
		.old_name = "klpack_target_value",
		.new_func = lp_multiobj_target_value,
	},
	{
		.old_name = "klpack_target_name",
		.new_func = lp_multiobj_target_name,
	},
	{ }
};

static struct klp_object lp_multiobj_objs[] = {
	{
		/* .name = NULL: vmlinux */
		.funcs = lp_multiobj_vmlinux_funcs,
	},
	{
		.name = "klpack_target",
		.funcs = lp_multiobj_target_funcs,
		.callbacks = {
			.pre_patch = lp_multiobj_target_pre_patch,
			.post_unpatch = lp_multiobj_target_post_unpatch,
		},
	},
	{ }
};

static struct klp_state lp_multiobj_states[] = {
	{ .id = 0x2001, .version = 1 },
	{ }
};

static struct klp_patch lp_multiobj_patch = {
	.mod = THIS_MODULE,
	.objs = lp_multiobj_objs,
	.states = lp_multiobj_states,
	.replace = false,
};

static int __init lp_multiobj_init(void)
{
	return klp_enable_patch(&lp_multiobj_patch);
}

static void __exit lp_multiobj_exit(void)
{
}

module_init(lp_multiobj_init);
module_exit(lp_multiobj_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpack test: vmlinux + module object patch");
