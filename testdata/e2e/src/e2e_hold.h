/* SPDX-License-Identifier: GPL-2.0 */
/*
 * e2e_hold.h: what module e2e_hold and the patches of its function
 * e2e_hold_sleep share. Every version of e2e_hold_sleep (the original and
 * each patch's) prints which code the thread entered, then sleeps in
 * itself the same way: wait_event is a macro, so the return address of the
 * sleep lies inside the version the thread runs, which is what
 * klp_check_stack_func looks for.
 */
#ifndef E2E_HOLD_H
#define E2E_HOLD_H

#include <linux/wait.h>
#include <linux/completion.h>

struct e2e_hold {
	wait_queue_head_t wq;
	struct completion inside;
	bool held;
};

void e2e_hold_sleep(struct e2e_hold *h);

/*
 * An uninterruptible sleep: klp_send_signals wakes only interruptible
 * kernel threads, so nothing but the module's "hold" parameter ends it.
 */
#define E2E_HOLD_WAIT(h)						\
	do {								\
		complete(&(h)->inside);					\
		wait_event((h)->wq, !READ_ONCE((h)->held));		\
	} while (0)

#endif
