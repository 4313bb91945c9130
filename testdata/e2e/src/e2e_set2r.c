// SPDX-License-Identifier: GPL-2.0
/* e2e_set2r: version, atomic replace of replace set 2 */
#define E2E_REPLACE 1
#define E2E_REPLACE_SET 2
#define E2E_VERSION
#include "e2e.h"
