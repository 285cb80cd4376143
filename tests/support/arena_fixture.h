/*
 * Arena leak check for cmocka tests: each test starts with nothing taken from the arena and
 * must give back every byte and every block it took.
 */
#ifndef EVT_ARENA_FIXTURE_H
#define EVT_ARENA_FIXTURE_H

#include <stddef.h>

/* Capacity arena_fixture_init gives the arena: enough for any unit test's cJSON trees (the
 * largest: test_proto's reference tree of a 100-line settlement request, on 64-bit). The
 * Cortex-M test images set their own (tests/target/CMakeLists.txt): 32-bit trees are smaller. */
#ifndef ARENA_FIXTURE_BYTES
#define ARENA_FIXTURE_BYTES (512u * 1024u)
#endif

/* Hands the arena a static buffer of ARENA_FIXTURE_BYTES; once, before the tests run. */
void arena_fixture_init(void);

/* cmocka setup: fails the test when the arena is not empty at its start. */
int arena_fixture_setup(void **state);

/* cmocka teardown: fails the test when it leaked arena bytes or blocks. */
int arena_fixture_teardown(void **state);

/* Teardown for programs that give the arena their own buffer (buf, len): like
 * arena_fixture_teardown, but a leak also re-initialises the arena over buf before failing, so
 * one failing test (which leaves its allocations behind) does not fail every test after it. */
int arena_fixture_teardown_over(void *buf, size_t len);

/* Everything but crumbs for the out-of-memory paths: takes the arena in halving blocks, into hog
 * (room for ARENA_FIXTURE_HOG_MAX), until not even 16 bytes are left. Returns the count for
 * arena_fixture_release. */
#define ARENA_FIXTURE_HOG_MAX 64
size_t arena_fixture_exhaust(void *hog[ARENA_FIXTURE_HOG_MAX]);
void arena_fixture_release(void *hog[], size_t count);

#endif
