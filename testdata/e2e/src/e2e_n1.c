// SPDX-License-Identifier: GPL-2.0
/* e2e_n1: cmdline named with sympos 1, no replace */
#define E2E_SYMPOS 1
#define E2E_CMDLINE
#include "e2e.h"
