// SPDX-License-Identifier: GPL-2.0
/* e2e_n: cmdline only, no replace */
#define E2E_CMDLINE
#include "e2e.h"
