// SPDX-License-Identifier: GPL-2.0
/* e2e-twin: module e2e_twin too (Kbuild turns - into _), second file: version */
#define E2E_VERSION
#define E2E_TAG "two"
#include "e2e.h"
