// SPDX-License-Identifier: GPL-2.0
/* e2e_set2c: cmdline, no replace, replace set 2 */
#define E2E_REPLACE_SET 2
#define E2E_CMDLINE
#include "e2e.h"
