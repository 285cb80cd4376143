/*
 * What every libFuzzer target in tests/fuzz shares (docs/fuzzing.md):
 *
 * - an arena double: evt_malloc & co. on the host's malloc with the board arena's byte budget,
 *   so AddressSanitizer sees every block on its own (inside the real arena, one buffer, an
 *   overflow into the next block would go unnoticed) while out-of-memory paths still happen;
 * - FUZZ_CHECK: an invariant that does not hold aborts with a message, which libFuzzer reports
 *   as a crash and saves the input;
 * - a log sink, so every log line the firmware formats is really formatted;
 * - a byte reader over the fuzz input and a small PRNG for split points and operations;
 * - oracles written here, independently of the firmware: strict UTF-8 (RFC 3629).
 */
#ifndef EVT_FUZZ_SUPPORT_H
#define EVT_FUZZ_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Arena budget of the targets: the sim board's (boards/sim/main.c). */
#define FUZZ_ARENA_BYTES (256u * 1024u)

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                     \
        }                                                                                          \
    } while (0)

__attribute__((noreturn, format(printf, 4, 5))) void
fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...);

/* Installs the arena double (capacity bytes) and the log sink; call at the start of every
 * input (cheap, idempotent). */
void fuzz_setup(size_t arena_capacity);

/* Fails unless every arena byte and block taken since fuzz_setup was given back. */
void fuzz_arena_check_empty(const char *where);

/* Sequential reader over the fuzz input; reads past the end give zeros. */
typedef struct fuzz_input {
    const uint8_t *data;
    size_t len;
    size_t pos;
} fuzz_input;

uint8_t fuzz_take_u8(fuzz_input *in);
uint32_t fuzz_take_u32(fuzz_input *in);
/* The unread rest; *len gets its length. */
const uint8_t *fuzz_rest(const fuzz_input *in, size_t *len);

/* xorshift32, deterministic per seed (a crash replays exactly). */
typedef struct fuzz_rng {
    uint32_t state;
} fuzz_rng;

void fuzz_rng_seed(fuzz_rng *rng, uint32_t seed);
uint32_t fuzz_rng_next(fuzz_rng *rng);
/* Uniform enough in [0, n) for n > 0. */
uint32_t fuzz_rng_below(fuzz_rng *rng, uint32_t n);

/* RFC 3629 UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF); NUL is a character. */
bool fuzz_utf8_valid(const uint8_t *s, size_t len);

/* The amount grammar of docs/money-and-json.md, written from the text, not from money.c:
 * -?(0|[1-9][0-9]{0,13})(\.[0-9]{1,6})? with zeros past the second decimal. "" means "not
 * applicable" (true, *present = false). False for anything else. */
bool fuzz_ref_money(const uint8_t *t, size_t n, int64_t *fen, bool *present);

/* For APIs that take C strings: len bytes in a fresh malloc block of exactly len + 1 bytes,
 * NUL-terminated (release with free). APIs that take a length get libFuzzer's own buffer,
 * which is exactly len bytes: a read past its end is an ASan report. */
char *fuzz_strndup(const uint8_t *data, size_t len);

#endif /* EVT_FUZZ_SUPPORT_H */
