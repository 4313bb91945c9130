// SPDX-License-Identifier: GPL-2.0
/* e2e_c: version and uptime, no replace */
#define E2E_VERSION
#define E2E_UPTIME
#include "e2e.h"
