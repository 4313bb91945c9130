// SPDX-License-Identifier: GPL-2.0
/* e2e_keepdbg: patches e2e_dbg_poke (module e2e_dbg), keeping its pr_debug */
#define E2E_KEEP_DBG
#include "e2e_dbgpatch.h"
