// SPDX-License-Identifier: GPL-2.0
/* e2e_set1: cmdline, no replace, replace set 1 */
#define E2E_REPLACE_SET 1
#define E2E_CMDLINE
#include "e2e.h"
