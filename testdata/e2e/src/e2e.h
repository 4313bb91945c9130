/* SPDX-License-Identifier: GPL-2.0 */
/*
 * e2e.h: the body of every klpack e2e livepatch module.
 *
 * A module's .c file defines what its patch does, then includes this file:
 *
 *   E2E_REPLACE        1 for an atomic-replace patch (default 0)
 *   E2E_CMDLINE        patch cmdline_proc_show   (cat /proc/cmdline)
 *   E2E_VERSION        patch version_proc_show   (cat /proc/version)
 *   E2E_LOADAVG        patch loadavg_proc_show   (cat /proc/loadavg)
 *   E2E_UPTIME         patch uptime_proc_show    (cat /proc/uptime)
 *   E2E_MEMINFO        patch meminfo_proc_show   (cat /proc/meminfo)
 *   E2E_TARGET         patch e2e_target_show in module e2e_target
 *                      (cat /proc/e2e_target)
 *   E2E_HOLD           patch e2e_hold_sleep in module e2e_hold with a
 *                      version that sleeps the same way, so e2e_hold's
 *                      thread can be held in this patch's code
 *   E2E_STATE_ID, E2E_STATE_VERSION
 *                      one klp_state
 *   E2E_TAG            a word printed after the patch name (default "-")
 *   E2E_HOOK           meminfo_proc_show prints " hook=<value>" after its
 *                      line, the value of the BPF hook point
 *                      e2e_hook_value (KLPACK_HOOK, ERRNO): 0 unless a BPF
 *                      program overrides it for the reading task's cgroup.
 *                      Every hook module defines e2e_hook_value, so after
 *                      one replaces another two modules define it.
 *   E2E_OFF_BAND       declare the patch off-band (KLPACK_OFF_BAND)
 *   E2E_NON_REPLACEABLE
 *                      declare the patch not replaceable
 *                      (KLPACK_NON_REPLACEABLE)
 *   E2E_REPLACE_SET    the patch's replace set (KLPACK_REPLACE_SET)
 *   E2E_SYMPOS         old_sympos of every function (default 0; 1 names
 *                      the same function of a unique symbol)
 *   E2E_CALLBACKS      every object has the four callbacks; each prints
 *                      "klpe-cb <callback> <patch> <object>", and
 *                      pre_patch returns the module parameter pre_patch_ret
 *                      (default 0; writable, as the kernel's
 *                      test_klp_callbacks_demo has it)
 *
 * Every module enables its patch with klpack_enable_patch(), which sets
 * the declarations in struct klp_patch on the hybrid and replace-set test
 * kernels.
 *
 * Every new function prints one line, "klpe <patch> <tag> <function>", so
 * the guest runner reads which patch's code runs by reading the file the
 * function shows. The patch name is the module name (KBUILD_MODNAME), the
 * name of the patch's directory in /sys/kernel/livepatch.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

#ifndef E2E_REPLACE
#define E2E_REPLACE 0
#endif
#ifndef E2E_TAG
#define E2E_TAG "-"
#endif

#define E2E_SHOW(fn)							\
static int e2e_##fn(struct seq_file *m, void *v)			\
{									\
	seq_printf(m, "klpe %s %s %s\n", KBUILD_MODNAME, E2E_TAG, #fn);	\
	return 0;							\
}

#ifndef E2E_SYMPOS
#define E2E_SYMPOS 0
#endif

#define E2E_FUNC(fn) { .old_name = #fn, .new_func = e2e_##fn, .old_sympos = E2E_SYMPOS, },

#ifdef E2E_CMDLINE
E2E_SHOW(cmdline_proc_show)
#endif
#ifdef E2E_VERSION
E2E_SHOW(version_proc_show)
#endif
#ifdef E2E_LOADAVG
E2E_SHOW(loadavg_proc_show)
#endif
#ifdef E2E_UPTIME
E2E_SHOW(uptime_proc_show)
#endif
#include "klpack_livepatch.h"

#ifdef E2E_HOOK
#define E2E_MEMINFO
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
#elif defined(E2E_MEMINFO)
E2E_SHOW(meminfo_proc_show)
#endif
#ifdef E2E_TARGET
E2E_SHOW(e2e_target_show)
#endif
#ifdef E2E_HOLD
#include "e2e_hold.h"

static void e2e_e2e_hold_sleep(struct e2e_hold *h)
{
	pr_info("klpe %s %s e2e_hold_sleep\n", KBUILD_MODNAME, E2E_TAG);
	E2E_HOLD_WAIT(h);
	pr_info("klpe %s: awake, leaving e2e_hold_sleep\n", KBUILD_MODNAME);
}
#endif

#ifdef E2E_CALLBACKS
static int pre_patch_ret;
module_param(pre_patch_ret, int, 0644);
MODULE_PARM_DESC(pre_patch_ret, "what the pre_patch callbacks return, e.g. -19");

static const char *e2e_object(struct klp_object *obj)
{
	return obj->name ? obj->name : "vmlinux";
}

static int e2e_pre_patch(struct klp_object *obj)
{
	pr_info("klpe-cb pre_patch %s %s\n", KBUILD_MODNAME, e2e_object(obj));
	return pre_patch_ret;
}

static void e2e_post_patch(struct klp_object *obj)
{
	pr_info("klpe-cb post_patch %s %s\n", KBUILD_MODNAME, e2e_object(obj));
}

static void e2e_pre_unpatch(struct klp_object *obj)
{
	pr_info("klpe-cb pre_unpatch %s %s\n", KBUILD_MODNAME, e2e_object(obj));
}

static void e2e_post_unpatch(struct klp_object *obj)
{
	pr_info("klpe-cb post_unpatch %s %s\n", KBUILD_MODNAME, e2e_object(obj));
}

#define E2E_CB								\
	.callbacks = {							\
		.pre_patch = e2e_pre_patch,				\
		.post_patch = e2e_post_patch,				\
		.pre_unpatch = e2e_pre_unpatch,				\
		.post_unpatch = e2e_post_unpatch,			\
	},
#else
#define E2E_CB
#endif

static struct klp_func e2e_vmlinux_funcs[] = {
#ifdef E2E_CMDLINE
	E2E_FUNC(cmdline_proc_show)
#endif
#ifdef E2E_VERSION
	E2E_FUNC(version_proc_show)
#endif
#ifdef E2E_LOADAVG
	E2E_FUNC(loadavg_proc_show)
#endif
#ifdef E2E_UPTIME
	E2E_FUNC(uptime_proc_show)
#endif
#ifdef E2E_MEMINFO
	E2E_FUNC(meminfo_proc_show)
#endif
	{ }
};

#ifdef E2E_TARGET
static struct klp_func e2e_target_funcs[] = {
	E2E_FUNC(e2e_target_show)
	{ }
};
#endif
#ifdef E2E_HOLD
static struct klp_func e2e_hold_funcs[] = {
	E2E_FUNC(e2e_hold_sleep)
	{ }
};
#endif

static struct klp_object e2e_objs[] = {
#if defined(E2E_CMDLINE) || defined(E2E_VERSION) || defined(E2E_LOADAVG) || \
	defined(E2E_UPTIME) || defined(E2E_MEMINFO)
	{
		/* .name = NULL: vmlinux */
		.funcs = e2e_vmlinux_funcs,
		E2E_CB
	},
#endif
#ifdef E2E_TARGET
	{
		.name = "e2e_target",
		.funcs = e2e_target_funcs,
		E2E_CB
	},
#endif
#ifdef E2E_HOLD
	{
		.name = "e2e_hold",
		.funcs = e2e_hold_funcs,
		E2E_CB
	},
#endif
	{ }
};

#ifdef E2E_STATE_ID
static struct klp_state e2e_states[] = {
	{ .id = E2E_STATE_ID, .version = E2E_STATE_VERSION },
	{ }
};
#endif

static struct klp_patch e2e_patch = {
	.mod = THIS_MODULE,
	.objs = e2e_objs,
#ifdef E2E_STATE_ID
	.states = e2e_states,
#endif
	.replace = E2E_REPLACE,
};

static int __init e2e_init(void)
{
	return klpack_enable_patch(&e2e_patch);
}

static void __exit e2e_exit(void)
{
}

module_init(e2e_init);
module_exit(e2e_exit);
#ifdef E2E_OFF_BAND
KLPACK_OFF_BAND();
#endif
#ifdef E2E_NON_REPLACEABLE
KLPACK_NON_REPLACEABLE();
#endif
#ifdef E2E_REPLACE_SET
KLPACK_REPLACE_SET(E2E_REPLACE_SET);
#endif
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpack e2e livepatch");
