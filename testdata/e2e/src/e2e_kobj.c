// SPDX-License-Identifier: GPL-2.0
/*
 * e2e_kobj: a hand-written, non-replace patch of foo_show in module
 * kobject_example (the kernel's samples/kobject/kobject-example.ko), the
 * function the klp-build patch klpb_kobject also patches: the two stack
 * on it. Reading /sys/kernel/kobject_example/foo prints
 * "klpe e2e_kobj - foo_show" while this patch's code runs. Not built on
 * e2e.h: that header patches vmlinux functions and e2e_target only.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/kobject.h>
#include <linux/sysfs.h>
#include <linux/livepatch.h>

static ssize_t e2e_kobj_foo_show(struct kobject *kobj,
				 struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "klpe %s - foo_show\n", KBUILD_MODNAME);
}

static struct klp_func e2e_kobj_funcs[] = {
	{ .old_name = "foo_show", .new_func = e2e_kobj_foo_show, },
	{ }
};

static struct klp_object e2e_kobj_objs[] = {
	{ .name = "kobject_example", .funcs = e2e_kobj_funcs, },
	{ }
};

static struct klp_patch e2e_kobj_patch = {
	.mod = THIS_MODULE,
	.objs = e2e_kobj_objs,
};

static int __init e2e_kobj_init(void)
{
	return klp_enable_patch(&e2e_kobj_patch);
}

static void __exit e2e_kobj_exit(void)
{
}

module_init(e2e_kobj_init);
module_exit(e2e_kobj_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpack e2e: patches foo_show in kobject_example");
