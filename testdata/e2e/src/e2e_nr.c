// SPDX-License-Identifier: GPL-2.0
/* e2e_nr: cmdline, no replace, not replaceable */
#define E2E_CMDLINE
#define E2E_NON_REPLACEABLE
#include "e2e.h"
