// SPDX-License-Identifier: GPL-2.0
/* e2e_st3: state 0x20 version 2, replace, version (test_klp_state3) */
#define E2E_REPLACE 1
#define E2E_STATE_ID 0x20
#define E2E_STATE_VERSION 2
#define E2E_VERSION
#include "e2e.h"
