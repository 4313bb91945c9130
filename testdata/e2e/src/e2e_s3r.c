// SPDX-License-Identifier: GPL-2.0
/* e2e_s3r: state 0x10 version 3, replace, meminfo */
#define E2E_REPLACE 1
#define E2E_STATE_ID 0x10
#define E2E_STATE_VERSION 3
#define E2E_MEMINFO
#include "e2e.h"
