// SPDX-License-Identifier: GPL-2.0
/* e2e_b: cmdline and loadavg, no replace */
#define E2E_CMDLINE
#define E2E_LOADAVG
#include "e2e.h"
