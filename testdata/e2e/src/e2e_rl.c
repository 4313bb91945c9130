// SPDX-License-Identifier: GPL-2.0
/* e2e_rl: loadavg, atomic replace */
#define E2E_REPLACE 1
#define E2E_LOADAVG
#include "e2e.h"
