// SPDX-License-Identifier: GPL-2.0
/* e2e_cb2r: replace; version, with the four callbacks (test_klp_callbacks_demo2 replace=1) */
#define E2E_REPLACE 1
#define E2E_VERSION
#define E2E_CALLBACKS
#include "e2e.h"
