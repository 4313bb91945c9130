// SPDX-License-Identifier: GPL-2.0
/* e2e_s1r: state 0x10 version 1, replace, version */
#define E2E_REPLACE 1
#define E2E_STATE_ID 0x10
#define E2E_STATE_VERSION 1
#define E2E_VERSION
#include "e2e.h"
