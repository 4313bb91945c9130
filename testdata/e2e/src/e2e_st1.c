// SPDX-License-Identifier: GPL-2.0
/* e2e_st1: state 0x20 version 1, replace, cmdline (test_klp_state) */
#define E2E_REPLACE 1
#define E2E_STATE_ID 0x20
#define E2E_STATE_VERSION 1
#define E2E_CMDLINE
#include "e2e.h"
