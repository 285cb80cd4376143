/* Shared pieces of the libFuzzer targets; see fuzz_support.h. */
#include "fuzz_support.h"

#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "evt/arena.h"
#include "evt/log.h"

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    fprintf(stderr, "\n%s:%d: invariant failed: %s\n  ", file, line, cond);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

/* ---- the arena double ------------------------------------------------------------------
 * Defines every symbol of firmware/common/arena.c, so the linker never takes that object out
 * of libevt_core.a: the targets run the firmware on these functions instead. */

static evt_arena_stats arena;

void evt_arena_init(void *buf, size_t len)
{
    (void)buf;
    memset(&arena, 0, sizeof arena);
    arena.capacity = len;
    cJSON_Hooks hooks = {.malloc_fn = evt_malloc, .free_fn = evt_free};
    cJSON_InitHooks(&hooks);
}

void *evt_malloc(size_t len)
{
    if (len == 0 || len > arena.capacity - arena.in_use) {
        return NULL; /* the arena is full: the caller's out-of-memory path runs */
    }
    /* Zeroed like the real arena (mbedtls_calloc). */
    void *p = calloc(1, len);
    if (p == NULL) {
        return NULL;
    }
    arena.in_use += malloc_usable_size(p);
    arena.blocks++;
    if (arena.in_use > arena.peak) {
        arena.peak = arena.in_use;
    }
    if (arena.blocks > arena.peak_blocks) {
        arena.peak_blocks = arena.blocks;
    }
    return p;
}

void *evt_calloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) {
        return NULL;
    }
    return evt_malloc(count * size);
}

void evt_free(void *ptr)
{
    if (ptr == NULL) {
        return;
    }
    size_t n = malloc_usable_size(ptr);
    FUZZ_CHECK(arena.blocks > 0 && n <= arena.in_use, "evt_free of a block the arena never gave");
    arena.in_use -= n;
    arena.blocks--;
    free(ptr);
}

void evt_arena_get_stats(evt_arena_stats *out)
{
    *out = arena;
}

void evt_arena_reset_peak(void)
{
    arena.peak = arena.in_use;
    arena.peak_blocks = arena.blocks;
}

/* ---- set-up ------------------------------------------------------------------------------ */

/* Every line is formatted by the firmware into a fixed buffer; reading it back here makes an
 * unterminated or overlong line an ASan report. */
static void check_log_line(void *ctx, evt_log_level level, const char *module, const char *line)
{
    (void)ctx;
    FUZZ_CHECK(level >= EVT_LOG_DEBUG && level <= EVT_LOG_ERROR, "log level %d", (int)level);
    FUZZ_CHECK(module != NULL && strlen(module) < 32, "log module name");
    FUZZ_CHECK(strlen(line) < 256, "log line longer than the firmware's line buffer");
}

static const evt_hal_sys log_sys = {.log_write = check_log_line};

void fuzz_setup(size_t arena_capacity)
{
    if (arena.capacity != arena_capacity) {
        evt_arena_init(NULL, arena_capacity);
    }
    evt_log_init(&log_sys);
}

void fuzz_arena_check_empty(const char *where)
{
    FUZZ_CHECK(arena.in_use == 0 && arena.blocks == 0, "%s: %zu arena bytes in %zu blocks leaked",
               where, arena.in_use, arena.blocks);
}

/* ---- input reader and PRNG --------------------------------------------------------------- */

uint8_t fuzz_take_u8(fuzz_input *in)
{
    return in->pos < in->len ? in->data[in->pos++] : 0;
}

uint32_t fuzz_take_u32(fuzz_input *in)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        v |= (uint32_t)fuzz_take_u8(in) << (8 * i);
    }
    return v;
}

const uint8_t *fuzz_rest(const fuzz_input *in, size_t *len)
{
    *len = in->len - in->pos;
    return in->data + in->pos;
}

void fuzz_rng_seed(fuzz_rng *rng, uint32_t seed)
{
    rng->state = seed != 0 ? seed : 0x9E3779B9u;
}

uint32_t fuzz_rng_next(fuzz_rng *rng)
{
    uint32_t x = rng->state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng->state = x;
    return x;
}

uint32_t fuzz_rng_below(fuzz_rng *rng, uint32_t n)
{
    return fuzz_rng_next(rng) % n;
}

/* ---- oracles ----------------------------------------------------------------------------- */

bool fuzz_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint32_t c = s[i];
        size_t n;
        uint32_t min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return false;
        }
        if (len - i <= n) {
            return false;
        }
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return false;
            }
            c = (c << 6) | (s[i + k] & 0x3Fu);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

bool fuzz_ref_money(const uint8_t *t, size_t n, int64_t *fen, bool *present)
{
    *fen = 0;
    *present = false;
    if (n == 0) {
        return true;
    }
    size_t i = t[0] == '-' ? 1 : 0;
    size_t int_start = i;
    while (i < n && t[i] >= '0' && t[i] <= '9') {
        i++;
    }
    size_t int_len = i - int_start;
    if (int_len < 1 || int_len > 14 || (int_len > 1 && t[int_start] == '0')) {
        return false;
    }
    int64_t yuan = 0;
    for (size_t k = int_start; k < i; k++) {
        yuan = yuan * 10 + (t[k] - '0');
    }
    int64_t cents = 0;
    if (i < n) {
        if (t[i] != '.') {
            return false;
        }
        size_t frac_start = ++i;
        while (i < n && t[i] >= '0' && t[i] <= '9') {
            i++;
        }
        size_t frac_len = i - frac_start;
        if (i != n || frac_len < 1 || frac_len > 6) {
            return false;
        }
        for (size_t k = 0; k < frac_len; k++) {
            int d = t[frac_start + k] - '0';
            if (k == 0) {
                cents += 10 * d;
            } else if (k == 1) {
                cents += d;
            } else if (d != 0) {
                return false;
            }
        }
    }
    *fen = (t[0] == '-' ? -1 : 1) * (yuan * 100 + cents);
    *present = true;
    return true;
}

char *fuzz_strndup(const uint8_t *data, size_t len)
{
    char *s = malloc(len + 1);
    FUZZ_CHECK(s != NULL, "host out of memory");
    if (len > 0) {
        memcpy(s, data, len);
    }
    s[len] = '\0';
    return s;
}
