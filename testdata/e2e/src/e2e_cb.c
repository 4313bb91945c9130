// SPDX-License-Identifier: GPL-2.0
/*
 * e2e_cb: cmdline, e2e_target_show in module e2e_target and e2e_hold_sleep
 * in module e2e_hold, each object with the four callbacks (the kernel's
 * test_klp_callbacks_demo, whose objects are vmlinux and two target
 * modules, one of them busy)
 */
#define E2E_CMDLINE
#define E2E_TARGET
#define E2E_HOLD
#define E2E_CALLBACKS
#include "e2e.h"
