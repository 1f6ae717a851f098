#include "core/test_hook.h"

#include <stdlib.h>
#include <string.h>

bool mcl_test_hook(const char *name) {
    const char *list = getenv("MNIST_CL_TEST_HOOKS");
    if (list == NULL || name[0] == '\0') return false;
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == '\0' || p[n] == ',')) return true;
    return false;
}
