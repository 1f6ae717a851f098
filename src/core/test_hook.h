/* Test-only hooks: named switches that the test suite turns on through the environment
 * (MNIST_CL_TEST_HOOKS=name[,name...]) to reach failure paths no real device provokes on demand,
 * as SQLite's test controls do. Nothing else sets them; an unknown name does nothing. */
#ifndef MCL_CORE_TEST_HOOK_H
#define MCL_CORE_TEST_HOOK_H

#include <stdbool.h>

/* Whether the hook `name` is on. */
bool mcl_test_hook(const char *name);

#endif
