// SPDX-License-Identifier: GPL-2.0
/* e2e_twin: module e2e_twin, first of two files: cmdline */
#define E2E_CMDLINE
#define E2E_TAG "one"
#include "e2e.h"
