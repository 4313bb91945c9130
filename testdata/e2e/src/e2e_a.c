// SPDX-License-Identifier: GPL-2.0
/* e2e_a: cmdline and version, no replace */
#define E2E_CMDLINE
#define E2E_VERSION
#include "e2e.h"
