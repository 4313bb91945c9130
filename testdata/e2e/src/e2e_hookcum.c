// SPDX-License-Identifier: GPL-2.0
/*
 * e2e_hookcum: a cumulative replace patch carrying the same hook point. On
 * a mainline kernel it replaces e2e_hook1 despite its off-band declaration.
 */
#define E2E_REPLACE 1
#define E2E_HOOK
#include "e2e.h"
