// SPDX-License-Identifier: GPL-2.0
/* e2e_s2r: state 0x10 version 2, replace, cmdline */
#define E2E_REPLACE 1
#define E2E_STATE_ID 0x10
#define E2E_STATE_VERSION 2
#define E2E_CMDLINE
#include "e2e.h"
