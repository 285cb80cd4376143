/*
 * What a test does when it cannot run (a missing package, a kernel that cannot show the
 * behaviour): in CI that is a failure, never a skip, because a skipped test reports green
 * while proving nothing. A developer without the dependency may set EVT_ALLOW_SKIP=1 to
 * turn these failures into cmocka skips; CI (tools/test.sh, .ci/run) never sets it.
 */
#ifndef EVT_SKIP_POLICY_H
#define EVT_SKIP_POLICY_H

#include <stdbool.h>

#define EVT_ALLOW_SKIP_ENV "EVT_ALLOW_SKIP"

/* true when EVT_ALLOW_SKIP=1 is set. */
bool skip_policy_allowed(void);

/*
 * Ends the running cmocka test: skipped when allowed, failed otherwise. `why` says what is
 * missing and how to get it ("certtool not found: install Debian package gnutls-bin").
 */
void skip_policy_cannot_run(const char *why);

/*
 * For group setups, where cmocka cannot skip: prints why the programme cannot run and returns
 * the group setup's result: 0 when skipping is allowed (each test then calls
 * skip_policy_cannot_run itself), -1 otherwise (every test of the group fails).
 */
int skip_policy_group_cannot_run(const char *program, const char *why);

#endif /* EVT_SKIP_POLICY_H */
