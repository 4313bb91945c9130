// SPDX-License-Identifier: GPL-2.0
/*
 * e2e_hold: a plain module (no livepatch) whose parameter "hold" holds a
 * kernel thread inside e2e_hold_sleep() on demand, to keep a transition
 * pending for as long as a scenario needs:
 *
 *   echo 1 > /sys/module/e2e_hold/parameters/hold   a thread enters the
 *       function's code as it runs now and sleeps there (EBUSY when one
 *       already does); the write returns once it is inside
 *   echo 0 > /sys/module/e2e_hold/parameters/hold   it wakes, leaves the
 *       function and exits (EINVAL when none is held)
 *
 * A patch of e2e_hold_sleep whose version also sleeps (e2e.h, E2E_HOLD)
 * makes the thread sleep in the patch's code instead.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include "e2e_hold.h"

static struct e2e_hold e2e_hold;
static struct task_struct *e2e_hold_task;
static DEFINE_MUTEX(e2e_hold_lock);

noinline void e2e_hold_sleep(struct e2e_hold *h)
{
	pr_info("klpe original - e2e_hold_sleep\n");
	E2E_HOLD_WAIT(h);
	pr_info("e2e_hold: awake, leaving e2e_hold_sleep\n");
}

static int e2e_hold_thread(void *data)
{
	e2e_hold_sleep(&e2e_hold);
	/* kthread_stop wakes this sleep; no patched function is on the stack. */
	set_current_state(TASK_INTERRUPTIBLE);
	while (!kthread_should_stop()) {
		schedule();
		set_current_state(TASK_INTERRUPTIBLE);
	}
	__set_current_state(TASK_RUNNING);
	return 0;
}

/* e2e_hold_release wakes the held thread and waits for it to exit. */
static void e2e_hold_release(void)
{
	WRITE_ONCE(e2e_hold.held, false);
	wake_up(&e2e_hold.wq);
	kthread_stop(e2e_hold_task);
	e2e_hold_task = NULL;
}

static int e2e_hold_set(const char *val, const struct kernel_param *kp)
{
	struct task_struct *t;
	bool on;
	int err = kstrtobool(val, &on);

	if (err)
		return err;
	mutex_lock(&e2e_hold_lock);
	if (on == (e2e_hold_task != NULL)) {
		err = on ? -EBUSY : -EINVAL;
		goto out;
	}
	if (!on) {
		e2e_hold_release();
		goto out;
	}
	WRITE_ONCE(e2e_hold.held, true);
	reinit_completion(&e2e_hold.inside);
	t = kthread_run(e2e_hold_thread, NULL, "e2e_hold");
	if (IS_ERR(t)) {
		err = PTR_ERR(t);
		goto out;
	}
	e2e_hold_task = t;
	wait_for_completion(&e2e_hold.inside);
out:
	mutex_unlock(&e2e_hold_lock);
	return err;
}

static int e2e_hold_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", READ_ONCE(e2e_hold_task) != NULL);
}

static const struct kernel_param_ops e2e_hold_ops = {
	.set = e2e_hold_set,
	.get = e2e_hold_get,
};
module_param_cb(hold, &e2e_hold_ops, NULL, 0644);
MODULE_PARM_DESC(hold, "1: a kernel thread sleeps in e2e_hold_sleep; 0: it wakes and exits");

static int __init e2e_hold_init(void)
{
	init_waitqueue_head(&e2e_hold.wq);
	init_completion(&e2e_hold.inside);
	return 0;
}

static void __exit e2e_hold_exit(void)
{
	mutex_lock(&e2e_hold_lock);
	if (e2e_hold_task)
		e2e_hold_release();
	mutex_unlock(&e2e_hold_lock);
}

module_init(e2e_hold_init);
module_exit(e2e_hold_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klpack e2e: a kernel thread held in e2e_hold_sleep on demand");
