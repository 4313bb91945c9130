// SPDX-License-Identifier: GPL-2.0
/* e2e_hr: replace; e2e_hold_sleep (a version that sleeps) */
#define E2E_REPLACE 1
#define E2E_HOLD
#include "e2e.h"
