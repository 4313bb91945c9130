// SPDX-License-Identifier: GPL-2.0
/* e2e_cbt: version and e2e_target_show in module e2e_target, with the four callbacks */
#define E2E_VERSION
#define E2E_TARGET
#define E2E_CALLBACKS
#include "e2e.h"
