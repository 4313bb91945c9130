// SPDX-License-Identifier: GPL-2.0
/* e2e_nodbg: patches e2e_dbg_poke (module e2e_dbg) without its pr_debug */
#include "e2e_dbgpatch.h"
