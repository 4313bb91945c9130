// SPDX-License-Identifier: GPL-2.0
/* e2e_set1r: uptime, atomic replace of replace set 1 */
#define E2E_REPLACE 1
#define E2E_REPLACE_SET 1
#define E2E_UPTIME
#include "e2e.h"
