// SPDX-License-Identifier: GPL-2.0
/* e2e_hook1: an off-band patch with the hook point e2e_hook_value */
#define E2E_HOOK
#define E2E_OFF_BAND
#include "e2e.h"
