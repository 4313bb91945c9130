// SPDX-License-Identifier: GPL-2.0
/* e2e_r: cmdline and meminfo, atomic replace */
#define E2E_REPLACE 1
#define E2E_CMDLINE
#define E2E_MEMINFO
#include "e2e.h"
