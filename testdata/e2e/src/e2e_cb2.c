// SPDX-License-Identifier: GPL-2.0
/* e2e_cb2: version, with the four callbacks (test_klp_callbacks_demo2) */
#define E2E_VERSION
#define E2E_CALLBACKS
#include "e2e.h"
