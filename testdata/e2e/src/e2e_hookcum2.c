// SPDX-License-Identifier: GPL-2.0
/* e2e_hookcum2: the next cumulative replace, with the same hook point */
#define E2E_REPLACE 1
#define E2E_HOOK
#include "e2e.h"
