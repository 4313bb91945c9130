// SPDX-License-Identifier: GPL-2.0
/* e2e_s1: state 0x10 version 1, no replace, loadavg */
#define E2E_STATE_ID 0x10
#define E2E_STATE_VERSION 1
#define E2E_LOADAVG
#include "e2e.h"
