// SPDX-License-Identifier: GPL-2.0
/* e2e_hb: cmdline and e2e_hold_sleep (a version that sleeps), no replace */
#define E2E_CMDLINE
#define E2E_HOLD
#include "e2e.h"
