// SPDX-License-Identifier: GPL-2.0
/* e2e_late: patches e2e_target_show in module e2e_target, and uptime */
#define E2E_TARGET
#define E2E_UPTIME
#include "e2e.h"
