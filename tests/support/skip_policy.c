/* A test that cannot run fails unless the developer opted out; see skip_policy.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skip_policy.h"

bool skip_policy_allowed(void)
{
    const char *v = getenv(EVT_ALLOW_SKIP_ENV);
    return v != NULL && strcmp(v, "1") == 0;
}

void skip_policy_cannot_run(const char *why)
{
    if (skip_policy_allowed()) {
        print_message("SKIPPED (" EVT_ALLOW_SKIP_ENV "=1): %s\n", why);
        skip();
    }
    fail_msg("cannot run: %s (a developer may set " EVT_ALLOW_SKIP_ENV "=1 to skip instead)", why);
}

int skip_policy_group_cannot_run(const char *program, const char *why)
{
    if (skip_policy_allowed()) {
        fprintf(stderr, "%s: %s; " EVT_ALLOW_SKIP_ENV "=1, so its tests are skipped\n", program,
                why);
        return 0;
    }
    fprintf(stderr,
            "%s: FAILED, cannot run: %s. tools/bootstrap.sh installs what the tests need; a "
            "developer may set " EVT_ALLOW_SKIP_ENV "=1 to skip instead.\n",
            program, why);
    return -1;
}
