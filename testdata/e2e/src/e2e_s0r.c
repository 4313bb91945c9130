// SPDX-License-Identifier: GPL-2.0
/* e2e_s0r: no state, replace, uptime */
#define E2E_REPLACE 1
#define E2E_UPTIME
#include "e2e.h"
