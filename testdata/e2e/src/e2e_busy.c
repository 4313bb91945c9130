// SPDX-License-Identifier: GPL-2.0
/*
 * e2e_busy: a plain module (no livepatch) whose kernel thread sleeps inside
 * e2e_busy_sleep() for sleep_ms milliseconds (a module parameter, default
 * 60000) as soon as the module loads. e2e_busy_patch replaces
 * e2e_busy_sleep: while the thread sleeps there its stack holds the old
 * function, so the patch's transition cannot finish until the thread wakes
 * (the idea of the kernel samples' livepatch-callbacks-busymod).
 *
 * The module's init returns once the thread is inside e2e_busy_sleep, so a
 * patch loaded after it always finds the thread there. The function is
 * global and noinline so kallsyms lists it under its plain name, and the
 * sleep is no tail call, so the return address stays inside it.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/delay.h>
#include <linux/completion.h>

static unsigned int sleep_ms = 60000;
module_param(sleep_ms, uint, 0444);
MODULE_PARM_DESC(sleep_ms, "how long the thread sleeps in e2e_busy_sleep");

static struct task_struct *e2e_busy_task;
static DECLARE_COMPLETION(e2e_busy_inside);

void e2e_busy_sleep(unsigned int ms);

noinline void e2e_busy_sleep(unsigned int ms)
{
	pr_info("e2e_busy: sleeping %u ms in e2e_busy_sleep\n", ms);
	complete(&e2e_busy_inside);
	msleep(ms);
	pr_info("e2e_busy: awake, leaving e2e_busy_sleep\n");
}

static int e2e_busy_thread(void *data)
{
	e2e_busy_sleep(sleep_ms);
	while (!kthread_should_stop())
		msleep_interruptible(100);
	return 0;
}

static int __init e2e_busy_init(void)
{
	e2e_busy_task = kthread_run(e2e_busy_thread, NULL, "e2e_busy");
	if (IS_ERR(e2e_busy_task))
		return PTR_ERR(e2e_busy_task);
	wait_for_completion(&e2e_busy_inside);
	return 0;
}

static void __exit e2e_busy_exit(void)
{
	kthread_stop(e2e_busy_task);
}

module_init(e2e_busy_init);
module_exit(e2e_busy_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klpack e2e: a kernel thread asleep in the function e2e_busy_patch replaces");
