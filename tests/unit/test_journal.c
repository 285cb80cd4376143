/*
 * evt_journal on the in-memory NOR model: basic operations, persistence, garbage collection
 * under thousands of overwrites, a power cut at every unit of a put, a delete, a sector switch
 * and a garbage collection (three tear models, and a second cut during the recovery), bit
 * flips, a full store and misuse.
 *
 * Every test checks the journal against a model of what must be stored: key i holds
 * value_for(i, version[i]) or nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "evt/journal.h"
#include "evt/log.h"
#include "journal_seal.h"
#include "ram_nor.h"

#define SMALL_SECTOR 2048u
#define MAX_KEYS     64
#define ABSENT       (-1)

static uint32_t work[EVT_JOURNAL_WORK_SIZE(64, 256) / 4];

/* ---- log capture: the recovery warning is part of the contract ------------------------- */

static char last_warning[256];
static unsigned warnings;

static void capture_log(void *ctx, evt_log_level level, const char *module, const char *line)
{
    (void)ctx;
    (void)module;
    if (level >= EVT_LOG_WARN) {
        snprintf(last_warning, sizeof last_warning, "%s", line);
        warnings++;
    }
}

static const evt_hal_sys log_sys = {.log_write = capture_log};

/* ---- the model --------------------------------------------------------------------------- */

typedef struct model {
    int version[MAX_KEYS];
} model;

static void key_name(int i, char *out)
{
    snprintf(out, 16, "k/%03d", i);
}

/* Deterministic content with a length that changes with the version, so overwrites move. */
static size_t value_for(int i, int version, uint8_t *out, size_t max_len)
{
    uint32_t ui = (uint32_t)i, uv = (uint32_t)version;
    size_t len = (size_t)((ui * 37u + uv * 11u) % (uint32_t)(max_len + 1));
    uint32_t x = ui * 7919u + uv * 104729u + 1u;
    for (size_t b = 0; b < len; b++) {
        x = x * 1103515245u + 12345u;
        out[b] = (uint8_t)(x >> 16);
    }
    return len;
}

static void model_init(model *m)
{
    for (int i = 0; i < MAX_KEYS; i++) {
        m->version[i] = ABSENT;
    }
}

static size_t g_max_len = 200;

static void put_version(evt_journal *j, model *m, int i, int version)
{
    char key[16];
    uint8_t v[EVT_JOURNAL_VALUE_MAX];
    key_name(i, key);
    size_t len = value_for(i, version, v, g_max_len);
    assert_int_equal(evt_journal_put(j, key, v, len), EVT_OK);
    m->version[i] = version;
}

/* Returns the version key i holds (ABSENT if none); fails if it is not a known version in
 * [lo, hi] or ABSENT. */
static int stored_version(evt_journal *j, int i, int candidate_a, int candidate_b)
{
    char key[16];
    uint8_t got[EVT_JOURNAL_VALUE_MAX], want[EVT_JOURNAL_VALUE_MAX];
    size_t len = 0;
    key_name(i, key);
    evt_err err = evt_journal_get(j, key, got, sizeof got, &len);
    if (err == EVT_ERR_NOT_FOUND) {
        return ABSENT;
    }
    assert_int_equal(err, EVT_OK);
    int candidates[2] = {candidate_a, candidate_b};
    for (int c = 0; c < 2; c++) {
        if (candidates[c] == ABSENT) {
            continue;
        }
        size_t want_len = value_for(i, candidates[c], want, g_max_len);
        if (want_len == len && memcmp(got, want, len) == 0) {
            return candidates[c];
        }
    }
    fail_msg("key %d holds a value that is neither version %d nor %d", i, candidate_a, candidate_b);
    return ABSENT;
}

static void model_check(evt_journal *j, const model *m)
{
    uint32_t live = 0;
    for (int i = 0; i < MAX_KEYS; i++) {
        int v = stored_version(j, i, m->version[i], m->version[i]);
        assert_int_equal(v, m->version[i]);
        live += m->version[i] != ABSENT;
    }
    evt_journal_stats st;
    assert_int_equal(evt_journal_stats_get(j, &st), EVT_OK);
    assert_int_equal(st.live_keys, live);
}

/* ---- fixtures ---------------------------------------------------------------------------- */

static evt_ram_nor nor;
static evt_journal jr;

static void nor_setup(uint32_t sectors, uint32_t sector_size)
{
    assert_int_equal(evt_ram_nor_init(&nor, sectors * sector_size, sector_size), EVT_OK);
}

static void reopen(uint32_t *corrupt)
{
    assert_int_equal(evt_journal_open(&jr, &nor.hal, work, sizeof work, corrupt), EVT_OK);
}

/* Erased flash of sectors x sector_size with the journal opened on it; m (if given) empty. */
static void fresh_journal(uint32_t sectors, uint32_t sector_size, model *m)
{
    nor_setup(sectors, sector_size);
    reopen(NULL);
    if (m != NULL) {
        model_init(m);
    }
}

/* Keys 0 .. count-1, each put at `version`. */
static void put_keys(model *m, int count, int version)
{
    for (int i = 0; i < count; i++) {
        put_version(&jr, m, i, version);
    }
}

static int setup(void **state)
{
    (void)state;
    evt_log_init(&log_sys);
    warnings = 0;
    last_warning[0] = '\0';
    g_max_len = 200;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    /* The journal must never ask flash to turn a 0 back into a 1. */
    assert_int_equal(nor.overprogram_bytes, 0);
    evt_ram_nor_free(&nor);
    return 0;
}

/* ---- basic behaviour --------------------------------------------------------------------- */

static void test_put_get_del_overwrite(void **state)
{
    (void)state;
    fresh_journal(4, 4096, NULL);
    char buf[64];
    size_t len = 99;
    assert_int_equal(evt_journal_get(&jr, "msgid", buf, sizeof buf, &len), EVT_ERR_NOT_FOUND);
    assert_int_equal(evt_journal_put(&jr, "msgid", "H00000000001", 12), EVT_OK);
    assert_int_equal(evt_journal_get(&jr, "msgid", buf, sizeof buf, &len), EVT_OK);
    assert_int_equal(len, 12);
    assert_memory_equal(buf, "H00000000001", 12);

    assert_int_equal(evt_journal_put(&jr, "msgid", "H2", 2), EVT_OK);
    assert_int_equal(evt_journal_get(&jr, "msgid", buf, sizeof buf, &len), EVT_OK);
    assert_int_equal(len, 2);
    assert_memory_equal(buf, "H2", 2);

    assert_int_equal(evt_journal_put(&jr, "sign/0001", "S1", 2), EVT_OK);
    assert_int_equal(evt_journal_del(&jr, "msgid"), EVT_OK);
    assert_int_equal(evt_journal_get(&jr, "msgid", buf, sizeof buf, &len), EVT_ERR_NOT_FOUND);
    assert_int_equal(evt_journal_del(&jr, "msgid"), EVT_ERR_NOT_FOUND);
    assert_int_equal(evt_journal_get(&jr, "sign/0001", buf, sizeof buf, &len), EVT_OK);
    assert_memory_equal(buf, "S1", 2);

    /* Re-adding a deleted key works and an empty value is a value. */
    assert_int_equal(evt_journal_put(&jr, "msgid", NULL, 0), EVT_OK);
    assert_int_equal(evt_journal_get(&jr, "msgid", NULL, 0, &len), EVT_OK);
    assert_int_equal(len, 0);

    evt_journal_stats st;
    assert_int_equal(evt_journal_stats_get(&jr, &st), EVT_OK);
    assert_int_equal(st.live_keys, 2);
    assert_int_equal(st.records, 5); /* put, put, put, del, put */
    assert_int_equal(st.corrupt_skipped, 0);
    assert_int_equal(st.sector_count, 4);
    assert_int_equal(st.capacity_bytes, 3 * (4096 - 24 - 28));
}

static void test_get_length_query_and_overflow(void **state)
{
    (void)state;
    fresh_journal(2, 4096, NULL);
    uint8_t big[EVT_JOURNAL_VALUE_MAX], out[EVT_JOURNAL_VALUE_MAX];
    for (size_t i = 0; i < sizeof big; i++) {
        big[i] = (uint8_t)(i * 31u);
    }
    char key48[EVT_JOURNAL_KEY_MAX + 1];
    memset(key48, 'K', EVT_JOURNAL_KEY_MAX);
    key48[EVT_JOURNAL_KEY_MAX] = '\0';
    assert_int_equal(evt_journal_put(&jr, key48, big, sizeof big), EVT_OK);
    size_t len = 0;
    assert_int_equal(evt_journal_get(&jr, key48, NULL, 0, &len), EVT_ERR_OVERFLOW);
    assert_int_equal(len, sizeof big);
    memset(out, 0xAB, sizeof out);
    assert_int_equal(evt_journal_get(&jr, key48, out, 100, &len), EVT_ERR_OVERFLOW);
    assert_int_equal(out[0], 0xAB); /* untouched */
    assert_int_equal(evt_journal_get(&jr, key48, out, sizeof out, &len), EVT_OK);
    assert_memory_equal(out, big, sizeof big);
}

static void test_persistence_across_reopen(void **state)
{
    (void)state;
    model m;
    fresh_journal(4, 4096, &m);
    put_keys(&m, 20, 1);
    for (int i = 0; i < 20; i += 3) {
        put_version(&jr, &m, i, 2);
    }
    char key[16];
    key_name(5, key);
    assert_int_equal(evt_journal_del(&jr, key), EVT_OK);
    m.version[5] = ABSENT;
    evt_journal_stats before;
    assert_int_equal(evt_journal_stats_get(&jr, &before), EVT_OK);

    /* A reboot: a fresh struct, the same flash. */
    memset(&jr, 0, sizeof jr);
    uint32_t corrupt = 99;
    reopen(&corrupt);
    assert_int_equal(corrupt, 0);
    model_check(&jr, &m);
    evt_journal_stats after;
    assert_int_equal(evt_journal_stats_get(&jr, &after), EVT_OK);
    assert_int_equal(after.records, before.records);
    assert_int_equal(after.live_bytes, before.live_bytes);
    assert_int_equal(after.append_bytes, before.append_bytes);
    assert_int_equal(nor.erase_calls, 0); /* mounting a clean journal writes nothing */

    /* Writing continues where it stopped, and the sequence numbers keep rising. */
    put_version(&jr, &m, 5, 3);
    reopen(NULL);
    model_check(&jr, &m);
}

typedef struct visit_log {
    char keys[16][EVT_JOURNAL_KEY_MAX + 1];
    size_t lens[16];
    int count;
    int stop_after;
    evt_journal *j;
} visit_log;

static evt_err record_visit(void *arg, const char *key, size_t value_len)
{
    visit_log *log = arg;
    assert_true(log->count < 16);
    snprintf(log->keys[log->count], sizeof log->keys[0], "%s", key);
    log->lens[log->count] = value_len;
    log->count++;
    if (log->j != NULL) {
        /* Reading inside the callback is allowed, changing is not. */
        char buf[64];
        size_t len;
        assert_int_equal(evt_journal_get(log->j, key, buf, sizeof buf, &len), EVT_OK);
        assert_int_equal(len, value_len);
        assert_int_equal(evt_journal_put(log->j, "x", "y", 1), EVT_ERR_BUSY);
        assert_int_equal(evt_journal_del(log->j, key), EVT_ERR_BUSY);
        assert_int_equal(evt_journal_iterate(log->j, "", record_visit, arg), EVT_ERR_BUSY);
        assert_int_equal(evt_journal_format(log->j), EVT_ERR_BUSY);
    }
    if (log->stop_after > 0 && log->count == log->stop_after) {
        return EVT_ERR_CANCELLED;
    }
    return EVT_OK;
}

static int has_key(const visit_log *log, const char *key)
{
    for (int i = 0; i < log->count; i++) {
        if (strcmp(log->keys[i], key) == 0) {
            return 1;
        }
    }
    return 0;
}

static void test_iterate_prefix(void **state)
{
    (void)state;
    fresh_journal(4, 4096, NULL);
    assert_int_equal(evt_journal_put(&jr,
                                     "rev/H1234567890120250101120000"
                                     "1001",
                                     "a", 1),
                     EVT_OK);
    assert_int_equal(evt_journal_put(&jr,
                                     "rev/H1234567890120250101120000"
                                     "1002",
                                     "bb", 2),
                     EVT_OK);
    assert_int_equal(evt_journal_put(&jr, "order/POS-1", "ccc", 3), EVT_OK);
    assert_int_equal(evt_journal_put(&jr, "re", "d", 1), EVT_OK);
    assert_int_equal(evt_journal_put(&jr,
                                     "rev/H1234567890120250101120000"
                                     "1003",
                                     "e", 1),
                     EVT_OK);
    assert_int_equal(evt_journal_del(&jr, "rev/H1234567890120250101120000"
                                          "1003"),
                     EVT_OK);

    visit_log log = {.j = &jr};
    assert_int_equal(evt_journal_iterate(&jr, EVT_JOURNAL_PREFIX_REVERSAL, record_visit, &log),
                     EVT_OK);
    assert_int_equal(log.count, 2);
    assert_true(has_key(&log, "rev/H12345678901202501011200001001"));
    assert_true(has_key(&log, "rev/H12345678901202501011200001002"));

    memset(&log, 0, sizeof log);
    assert_int_equal(evt_journal_iterate(&jr, "", record_visit, &log), EVT_OK);
    assert_int_equal(log.count, 4);

    memset(&log, 0, sizeof log);
    assert_int_equal(evt_journal_iterate(&jr, "nothing/", record_visit, &log), EVT_OK);
    assert_int_equal(log.count, 0);

    /* The callback's error stops the walk and comes back. */
    memset(&log, 0, sizeof log);
    log.stop_after = 1;
    assert_int_equal(evt_journal_iterate(&jr, "", record_visit, &log), EVT_ERR_CANCELLED);
    assert_int_equal(log.count, 1);
    /* ... and the journal is writable again afterwards. */
    assert_int_equal(evt_journal_put(&jr, "x", "y", 1), EVT_OK);
}

/* ---- garbage collection ------------------------------------------------------------------ */

static void test_gc_thousands_of_overwrites(void **state)
{
    (void)state;
    model m;
    fresh_journal(4, SMALL_SECTOR, &m);
    uint32_t rng = 12345;
    for (int n = 0; n < 6000; n++) {
        rng = rng * 1664525u + 1013904223u;
        int i = (int)((rng >> 8) % 24u);
        if ((rng >> 4) % 10u == 0 && m.version[i] != ABSENT) {
            char key[16];
            key_name(i, key);
            assert_int_equal(evt_journal_del(&jr, key), EVT_OK);
            m.version[i] = ABSENT;
        } else {
            put_version(&jr, &m, i, n);
        }
        if (n % 1000 == 999) {
            model_check(&jr, &m);
            reopen(NULL);
            model_check(&jr, &m);
        }
    }
    evt_journal_stats st;
    assert_int_equal(evt_journal_stats_get(&jr, &st), EVT_OK);
    assert_true(nor.erase_calls > 100);
    assert_int_equal(st.corrupt_skipped, 0);
    /* Ring order spreads the erases evenly. */
    assert_true(st.erase_count_max - st.erase_count_min <= 1);
    for (uint32_t s = 0; s < 4; s++) {
        assert_true(nor.sector_erases[s] + 1 >= nor.sector_erases[(s + 1) % 4]);
    }
}

/* ---- power cuts -------------------------------------------------------------------------- */

typedef enum op_kind { OP_PUT, OP_DEL } op_kind;

typedef struct cut_case {
    const uint8_t *image; /* flash before the operation */
    const model *before;
    int key;
    op_kind op;
    int new_version; /* OP_PUT */
} cut_case;

static evt_err run_op(const cut_case *c)
{
    char key[16];
    uint8_t v[EVT_JOURNAL_VALUE_MAX];
    key_name(c->key, key);
    if (c->op == OP_DEL) {
        return evt_journal_del(&jr, key);
    }
    size_t len = value_for(c->key, c->new_version, v, g_max_len);
    return evt_journal_put(&jr, key, v, len);
}

/* After the reboot: the key is old or new, the rest untouched, and the journal still works
 * and still mounts (the outcome chosen is the model from then on). */
static void check_after_cut(const cut_case *c, uint32_t corrupt, bool full_lap)
{
    assert_true(corrupt <= 1);
    int old_v = c->before->version[c->key];
    int new_v = c->op == OP_DEL ? ABSENT : c->new_version;
    int got = stored_version(&jr, c->key, old_v, new_v);
    assert_true(got == old_v || got == new_v);
    model m = *c->before;
    m.version[c->key] = got;
    model_check(&jr, &m);
    int other = (c->key + 1) % MAX_KEYS;
    put_version(&jr, &m, other, 900000 + other);
    if (c->op == OP_PUT) {
        put_version(&jr, &m, c->key, 800000);
    }
    reopen(NULL);
    model_check(&jr, &m);
    if (!full_lap) {
        return;
    }
    /* A full lap of garbage collection: a recovery that left the sectors in a wrong state
     * (no spare, a stale sector) shows up here, not in the first put. */
    evt_journal_stats st;
    for (int n = 0; n < 2000; n++) {
        assert_int_equal(evt_journal_stats_get(&jr, &st), EVT_OK);
        if (st.gc_runs > st.sector_count) {
            break;
        }
        put_version(&jr, &m, 50, n);
    }
    assert_true(st.gc_runs > st.sector_count);
    reopen(NULL);
    model_check(&jr, &m);
}

static uint64_t measure_units(const cut_case *c)
{
    evt_ram_nor_load(&nor, c->image);
    reopen(NULL);
    uint64_t start = nor.units;
    assert_int_equal(run_op(c), EVT_OK);
    return nor.units - start;
}

/* Cuts the operation at every unit (every `step`-th), in each tear model; every
 * `nested_every`-th cut also gets a second cut at each unit of the recovery that follows. */
static void sweep_cuts(const cut_case *c, uint64_t step, uint64_t nested_every)
{
    static const evt_ram_nor_cut_mode modes[] = {EVT_RAM_NOR_CUT_PREFIX, EVT_RAM_NOR_CUT_SCATTER,
                                                 EVT_RAM_NOR_CUT_RANDOM};
    uint64_t total = measure_units(c);
    assert_true(total > 0);
    uint8_t *after_cut = malloc(nor.size);
    assert_non_null(after_cut);
    for (size_t mi = 0; mi < sizeof modes / sizeof modes[0]; mi++) {
        for (uint64_t k = 0; k < total; k += step) {
            uint32_t seed = (uint32_t)(k * 2654435761u + mi + 1u);
            evt_ram_nor_load(&nor, c->image);
            evt_ram_nor_power_on(&nor);
            reopen(NULL);
            uint32_t cuts = nor.cuts;
            evt_ram_nor_arm_cut(&nor, k, modes[mi], seed);
            assert_int_equal(run_op(c), EVT_ERR_STORAGE_IO);
            assert_int_equal(nor.cuts, cuts + 1);
            /* The journal refuses to go on with a RAM view the flash may not match. */
            char key[16];
            key_name(c->key, key);
            assert_int_equal(evt_journal_put(&jr, key, "z", 1), EVT_ERR_ARG);
            evt_ram_nor_power_on(&nor);
            evt_ram_nor_save(&nor, after_cut);

            uint32_t corrupt = 0;
            uint64_t start = nor.units;
            reopen(&corrupt);
            uint64_t recovery_units = nor.units - start;
            /* The lap is the slow part; every third cut point still covers each phase. */
            check_after_cut(c, corrupt, (k / step) % 3 == 0);

            if (nested_every == 0 || (k / step) % nested_every != 0) {
                continue;
            }
            for (uint64_t r = 0; r < recovery_units; r++) {
                evt_ram_nor_load(&nor, after_cut);
                evt_ram_nor_arm_cut(&nor, r, modes[mi], seed ^ (uint32_t)r);
                assert_int_equal(evt_journal_open(&jr, &nor.hal, work, sizeof work, NULL),
                                 EVT_ERR_STORAGE_IO);
                evt_ram_nor_power_on(&nor);
                reopen(&corrupt);
                check_after_cut(c, corrupt, true);
            }
        }
    }
    free(after_cut);
}

/* A journal with some history: several sectors in use, keys at various versions. */
static uint8_t *make_history(model *m, uint32_t sectors, int keys, int puts)
{
    fresh_journal(sectors, SMALL_SECTOR, m);
    for (int n = 0; n < puts; n++) {
        put_version(&jr, m, n % keys, n);
    }
    uint8_t *image = malloc(nor.size);
    assert_non_null(image);
    evt_ram_nor_save(&nor, image);
    return image;
}

static void test_power_cut_put(void **state)
{
    (void)state;
    model m;
    uint8_t *image = make_history(&m, 4, 10, 25);
    cut_case overwrite = {
        .image = image, .before = &m, .key = 3, .op = OP_PUT, .new_version = 7777};
    sweep_cuts(&overwrite, 1, 9);
    cut_case fresh = {.image = image, .before = &m, .key = 20, .op = OP_PUT, .new_version = 4242};
    sweep_cuts(&fresh, 1, 0);
    free(image);
}

static void test_power_cut_delete(void **state)
{
    (void)state;
    model m;
    uint8_t *image = make_history(&m, 4, 10, 25);
    cut_case del = {.image = image, .before = &m, .key = 4, .op = OP_DEL};
    sweep_cuts(&del, 1, 5);
    free(image);
}

/* Writes on until the next put of `key` collects a sector that still holds live records, so
 * the sweep cuts inside the copies too, not only in the erase. */
static uint8_t *make_history_until_gc(model *m, uint32_t sectors, int keys, op_kind op, int key,
                                      int new_version)
{
    fresh_journal(sectors, SMALL_SECTOR, m);
    uint8_t *image = malloc(nor.size);
    assert_non_null(image);
    char name[16];
    key_name(key, name);
    uint8_t v[EVT_JOURNAL_VALUE_MAX];
    size_t len = value_for(key, new_version, v, g_max_len);
    for (int n = 0;; n++) {
        assert_true(n < 10000);
        /* Keys 40.. are written once and key 0 rarely, so old sectors keep live records. */
        int i = n < 4 ? 40 + n : (n % 7 == 0 ? 0 : 1 + n % (keys - 1));
        put_version(&jr, m, i, n);
        evt_journal_stats st0, st1;
        assert_int_equal(evt_journal_stats_get(&jr, &st0), EVT_OK);
        if (nor.erase_calls == 0) {
            continue; /* not yet in the steady state where every switch collects */
        }
        evt_ram_nor_save(&nor, image);
        model saved = *m;
        if (op == OP_DEL && m->version[key] == ABSENT) {
            continue;
        }
        if (op == OP_DEL) {
            assert_int_equal(evt_journal_del(&jr, name), EVT_OK);
        } else {
            assert_int_equal(evt_journal_put(&jr, name, v, len), EVT_OK);
        }
        assert_int_equal(evt_journal_stats_get(&jr, &st1), EVT_OK);
        evt_ram_nor_load(&nor, image);
        reopen(NULL);
        *m = saved;
        if (st1.gc_runs == st0.gc_runs + 1 && st1.bytes_programmed - st0.bytes_programmed > 400) {
            return image;
        }
    }
}

static void test_power_cut_gc(void **state)
{
    (void)state;
    model m;
    uint8_t *image = make_history_until_gc(&m, 4, 12, OP_PUT, 2, 5000);
    cut_case gc = {.image = image, .before = &m, .key = 2, .op = OP_PUT, .new_version = 5000};

    sweep_cuts(&gc, 1, 31);
    free(image);
}

static void test_power_cut_gc_two_sectors(void **state)
{
    (void)state;
    /* The smallest geometry: every sector switch is a GC of the only other sector. */
    model m;
    uint8_t *image = make_history_until_gc(&m, 2, 6, OP_PUT, 1, 5000);
    cut_case gc = {.image = image, .before = &m, .key = 1, .op = OP_PUT, .new_version = 5000};
    sweep_cuts(&gc, 3, 17);
    free(image);
    evt_ram_nor_free(&nor);
    /* A delete whose tombstone needs a GC first. */
    image = make_history_until_gc(&m, 2, 6, OP_DEL, 3, 0);
    cut_case del = {.image = image, .before = &m, .key = 3, .op = OP_DEL};
    sweep_cuts(&del, 2, 17);
    free(image);
}

/* ---- damage on flash --------------------------------------------------------------------- */

/* Address of the live record of key i (found by scanning for its key bytes). */
static uint32_t find_record(const char *key, int nth)
{
    size_t n = strlen(key);
    int seen = 0;
    for (uint32_t a = 16; a + n <= nor.size; a++) {
        if (nor.mem[a - 16] == 0x4A && nor.mem[a - 14] == n && memcmp(nor.mem + a, key, n) == 0) {
            if (seen++ == nth) {
                return a - 16;
            }
        }
    }
    fail_msg("record for %s not found", key);
    return 0;
}

/* Where the nth record (0 = oldest) of the model's key i starts. */
static uint32_t record_of(int i, int nth)
{
    char key[16];
    key_name(i, key);
    return find_record(key, nth);
}

static void test_bit_flip_in_value_skipped(void **state)
{
    (void)state;
    model m;
    fresh_journal(4, 4096, &m);
    put_keys(&m, 12, 1);
    put_version(&jr, &m, 6, 2); /* key 6 has an older version to fall back on */
    uint32_t rec4 = record_of(4, 0);
    uint32_t rec6 = record_of(6, 1);
    evt_ram_nor_flip_bit(&nor, rec4 + 16 + 5 + 3, 2); /* inside the value */
    evt_ram_nor_flip_bit(&nor, rec6 + 16 + 5 + 1, 7);

    warnings = 0;
    uint32_t corrupt = 0;
    reopen(&corrupt);
    assert_int_equal(corrupt, 2);
    assert_int_equal(warnings, 1);
    assert_string_equal(last_warning, "journal: 2 corrupt records skipped");
    m.version[4] = ABSENT; /* its only record is damaged */
    m.version[6] = 1;      /* the damaged newest version is skipped, the older one shows */
    model_check(&jr, &m);
    evt_journal_stats st;
    assert_int_equal(evt_journal_stats_get(&jr, &st), EVT_OK);
    assert_int_equal(st.corrupt_skipped, 2);

    /* Writing on and reopening keeps everything else intact. */
    put_version(&jr, &m, 4, 3);
    reopen(NULL);
    model_check(&jr, &m);
}

static void test_bit_flip_in_header_resyncs(void **state)
{
    (void)state;
    model m;
    fresh_journal(4, 4096, &m);
    put_keys(&m, 12, 1);
    uint32_t rec5 = record_of(5, 0);
    evt_ram_nor_flip_bit(&nor, rec5 + 4, 3); /* value length: the walk cannot trust it */
    uint32_t rec9 = record_of(9, 0);
    evt_ram_nor_flip_bit(&nor, rec9 + 0, 0); /* magic */
    uint32_t corrupt = 0;
    reopen(&corrupt);
    assert_int_equal(corrupt, 2);
    m.version[5] = ABSENT;
    m.version[9] = ABSENT;
    model_check(&jr, &m); /* the records after each damaged one were found again */
}

static void test_get_detects_decay_after_open(void **state)
{
    (void)state;
    fresh_journal(2, 4096, NULL);
    assert_int_equal(evt_journal_put(&jr, "pend/1", "settlement 2102", 15), EVT_OK);
    uint32_t rec = find_record("pend/1", 0);
    evt_ram_nor_flip_bit(&nor, rec + 16 + 6 + 4, 1);
    char buf[32];
    size_t len;
    assert_int_equal(evt_journal_get(&jr, "pend/1", buf, sizeof buf, &len),
                     EVT_ERR_JOURNAL_CORRUPT);
}

/* A record intact by its CRCs whose key breaks the key rule (printable ASCII) was not written
 * by this journal: foreign data, or damage the CRCs cannot see. Listed, it would hand the
 * firmware a key it can neither read nor delete (put/get/del refuse it), so it is skipped
 * like any damaged record. Found by the journal fuzzer (tests/fuzz/fuzz_journal.c). */
static void test_intact_record_with_invalid_key_skipped(void **state)
{
    (void)state;
    fresh_journal(2, SMALL_SECTOR, NULL);
    assert_int_equal(evt_journal_put(&jr, "k/1", "one", 3), EVT_OK);
    assert_int_equal(evt_journal_put(&jr, "k/2", "two", 3), EVT_OK);
    uint32_t rec = find_record("k/2", 0);
    nor.mem[rec + 16 + 1] = 0x01; /* "k\x012" */
    assert_int_not_equal(journal_seal_record(nor.mem + rec, nor.size - rec, false), 0);

    uint32_t corrupt = 0;
    reopen(&corrupt);
    assert_int_equal(corrupt, 1);
    evt_journal_stats st;
    assert_int_equal(evt_journal_stats_get(&jr, &st), EVT_OK);
    assert_int_equal(st.live_keys, 1);
    char buf[8];
    size_t len = 0;
    assert_int_equal(evt_journal_get(&jr, "k/1", buf, sizeof buf, &len), EVT_OK);
    assert_memory_equal(buf, "one", 3);
}

static void test_torn_tail_counted_then_reclaimed(void **state)
{
    (void)state;
    model m;
    fresh_journal(3, SMALL_SECTOR, &m);
    put_version(&jr, &m, 0, 1);
    evt_ram_nor_arm_cut(&nor, 20, EVT_RAM_NOR_CUT_PREFIX, 1); /* inside the next record's body */
    char key[16];
    key_name(1, key);
    assert_int_equal(evt_journal_put(&jr, key, "0123456789abcdefghij", 20), EVT_ERR_STORAGE_IO);
    evt_ram_nor_power_on(&nor);
    uint32_t corrupt = 0;
    reopen(&corrupt);
    assert_int_equal(corrupt, 1);
    model_check(&jr, &m);
    /* Enough traffic to recycle every sector: the torn record is collected with its sector. */
    for (int n = 0; n < 400; n++) {
        put_version(&jr, &m, n % 5, n + 10);
    }
    reopen(&corrupt);
    assert_int_equal(corrupt, 0);
    model_check(&jr, &m);
}

static void test_garbage_flash_opens_empty(void **state)
{
    (void)state;
    nor_setup(4, SMALL_SECTOR);
    evt_ram_nor_fill_random(&nor, 77);
    nor.overprogram_bytes = 0;
    uint32_t corrupt = 0;
    reopen(&corrupt);
    assert_int_equal(corrupt, 0); /* foreign sectors are not journal records */
    model m;
    model_init(&m);
    model_check(&jr, &m);
    for (int n = 0; n < 300; n++) {
        put_version(&jr, &m, n % 7, n);
    }
    reopen(NULL);
    model_check(&jr, &m);
}

/* A sector with a valid erase header but bytes in its body (a disturbed cell, foreign data)
 * must be erased before use, never programmed over. */
static void test_spare_with_stray_bits_is_erased_first(void **state)
{
    (void)state;
    model m;
    fresh_journal(3, SMALL_SECTOR, &m);
    for (int n = 0; n < 60; n++) {
        put_version(&jr, &m, n % 6, n);
    }
    uint32_t spare = UINT32_MAX;
    for (uint32_t s = 0; s < 3; s++) {
        const uint8_t *h = nor.mem + s * SMALL_SECTOR;
        int stage2_blank = 1;
        for (int i = 16; i < 24; i++) {
            stage2_blank &= h[i] == 0xFF;
        }
        if (memcmp(h, "EVJL", 4) == 0 && stage2_blank) {
            spare = s;
        }
    }
    assert_true(spare != UINT32_MAX);
    evt_ram_nor_flip_bit(&nor, spare * SMALL_SECTOR + 700, 4);
    reopen(NULL);
    for (int n = 0; n < 200; n++) {
        put_version(&jr, &m, n % 6, 1000 + n);
    }
    reopen(NULL);
    model_check(&jr, &m);
}

/* A sector header intact by its CRCs with a generation near 2^32 (no journal gets there: one
 * per sector activation) is foreign data. Trusted, it made the next sector's generation wrap to
 * the blank value 0xFFFFFFFF, which the next mount cannot read as data: every write on it was
 * lost after put had returned EVT_OK. Found by the journal fuzzer (tests/fuzz/fuzz_journal.c). */
static void test_foreign_generation_never_wraps(void **state)
{
    (void)state;
    model m;
    fresh_journal(2, SMALL_SECTOR, &m);
    put_version(&jr, &m, 0, 1);
    uint8_t *h = nor.mem; /* the data sector's stage-2 header: generation 0xFFFFFFFE */
    memset(h + 16, 0xFE, 1);
    memset(h + 17, 0xFF, 3);
    journal_seal_image(nor.mem, 2, SMALL_SECTOR, false);
    reopen(NULL);
    model_init(&m);                /* a foreign sector holds nothing of ours */
    for (int n = 0; n < 40; n++) { /* switches sectors and collects several times */
        put_version(&jr, &m, n % 4, n);
        reopen(NULL);
        model_check(&jr, &m);
    }
}

/* One generation below the cap is accepted; the write that would need a generation above it is
 * refused (JOURNAL_FULL, nothing lost) instead of landing in a sector the next mount treats
 * as foreign, which brought deleted and overwritten values back. Found by the journal fuzzer. */
static void test_generation_cap_refuses_instead_of_losing(void **state)
{
    (void)state;
    model m;
    fresh_journal(2, SMALL_SECTOR, &m);
    put_version(&jr, &m, 0, 1);
    uint8_t *h = nor.mem; /* the data sector's generation: 0x7FFFFFFF, the largest accepted */
    memset(h + 16, 0xFF, 3);
    h[19] = 0x7F;
    journal_seal_image(nor.mem, 2, SMALL_SECTOR, false);
    reopen(NULL);
    model_check(&jr, &m);
    int refused = 0;
    for (int n = 0; n < 40; n++) {
        char key[16];
        uint8_t v[EVT_JOURNAL_VALUE_MAX];
        key_name(n % 4, key);
        size_t len = value_for(n % 4, n + 2, v, g_max_len);
        evt_err err = evt_journal_put(&jr, key, v, len);
        if (err == EVT_OK) {
            m.version[n % 4] = n + 2;
        } else {
            assert_int_equal(err, EVT_ERR_JOURNAL_FULL);
            refused++;
        }
        reopen(NULL);
        model_check(&jr, &m);
    }
    assert_true(refused > 0);
}

/* Writes, by hand, a data sector of generation gen holding one GC-done record that names
 * dead_gen (docs/journal.md's layout; CRCs by journal_seal). */
static void craft_gc_done_sector(uint32_t s, uint32_t gen, uint32_t dead_gen)
{
    uint8_t *p = nor.mem + s * SMALL_SECTOR;
    memset(p, 0xFF, SMALL_SECTOR);
    const uint8_t hdr[24] = {'E',
                             'V',
                             'J',
                             'L',
                             1,
                             11,
                             0xFF,
                             0xFF,
                             1,
                             0,
                             0,
                             0,
                             0,
                             0,
                             0,
                             0,
                             (uint8_t)gen,
                             (uint8_t)(gen >> 8),
                             (uint8_t)(gen >> 16),
                             (uint8_t)(gen >> 24)};
    memcpy(p, hdr, 20);
    uint8_t *rec = p + 24;
    const uint8_t rec_hdr[16] = {0x4A, 'G', 0, 0xFF, 4, 0, 0xFF, 0xFF, 9, 0, 0, 0};
    memcpy(rec, rec_hdr, 12);
    for (int i = 0; i < 4; i++) {
        rec[16 + i] = (uint8_t)(dead_gen >> (8 * i));
    }
    journal_seal_image(nor.mem, nor.size / SMALL_SECTOR, SMALL_SECTOR, true);
}

/* Flash whose every data sector is dead (a GC-done record names the top generation) leaves
 * nothing to replay: the mount starts the generations again instead of refusing to open
 * because the next one would pass the cap. Format does the same. */
static void test_empty_log_restarts_generations(void **state)
{
    (void)state;
    nor_setup(2, SMALL_SECTOR);
    craft_gc_done_sector(0, 0x7FFFFFFFu, 0x7FFFFFFFu);
    uint32_t corrupt = 0;
    reopen(&corrupt);
    model m;
    model_init(&m);
    for (int n = 0; n < 40; n++) {
        put_version(&jr, &m, n % 4, n); /* several sector switches */
    }
    reopen(NULL);
    model_check(&jr, &m);

    craft_gc_done_sector(1, 0x7FFFFFFFu, 1);
    assert_int_equal(evt_journal_open(&jr, &nor.hal, work, sizeof work, NULL), EVT_OK);
    assert_int_equal(evt_journal_format(&jr), EVT_OK);
    model_init(&m);
    for (int n = 0; n < 40; n++) {
        put_version(&jr, &m, n % 4, n);
    }
    reopen(NULL);
    model_check(&jr, &m);
}

/* ---- full store and capacity ------------------------------------------------------------- */

static void test_full_store(void **state)
{
    (void)state;
    fresh_journal(4, SMALL_SECTOR, NULL);
    uint8_t v[EVT_JOURNAL_VALUE_MAX];
    memset(v, 0x5A, sizeof v);
    char key[16];
    int stored = 0;
    evt_err err = EVT_OK;
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "big/%02d", i);
        v[0] = (uint8_t)i;
        err = evt_journal_put(&jr, key, v, 700);
        if (err != EVT_OK) {
            break;
        }
        stored++;
    }
    assert_int_equal(err, EVT_ERR_JOURNAL_FULL);
    assert_true(stored >= 6); /* 3 data sectors x 2 records of 728 bytes */
    /* Overwriting in place is refused too when there is no room, and changes nothing. */
    evt_journal_stats st;
    assert_int_equal(evt_journal_stats_get(&jr, &st), EVT_OK);
    assert_int_equal(st.live_keys, (uint32_t)stored);

    reopen(NULL);
    uint8_t out[EVT_JOURNAL_VALUE_MAX];
    size_t len;
    for (int i = 0; i < stored; i++) {
        snprintf(key, sizeof key, "big/%02d", i);
        assert_int_equal(evt_journal_get(&jr, key, out, sizeof out, &len), EVT_OK);
        assert_int_equal(len, 700);
        assert_int_equal(out[0], i);
    }
    /* A delete always goes through, even in a full store, and makes room. */
    assert_int_equal(evt_journal_del(&jr, "big/00"), EVT_OK);
    assert_int_equal(evt_journal_put(&jr, "big/new", v, 700), EVT_OK);
    reopen(NULL);
    assert_int_equal(evt_journal_get(&jr, "big/00", out, sizeof out, &len), EVT_ERR_NOT_FOUND);
    assert_int_equal(evt_journal_get(&jr, "big/new", out, sizeof out, &len), EVT_OK);
}

static void test_small_records_fill_then_delete_all(void **state)
{
    (void)state;
    fresh_journal(2, SMALL_SECTOR, NULL);
    char key[16];
    int stored = 0;
    for (; stored < 1000; stored++) {
        snprintf(key, sizeof key, "o/%04d", stored);
        evt_err err = evt_journal_put(&jr, key, "12345678", 8);
        if (err == EVT_ERR_JOURNAL_FULL) {
            break;
        }
        assert_int_equal(err, EVT_OK);
    }
    assert_true(stored > 40 && stored < 1000);
    for (int i = 0; i < stored; i++) {
        snprintf(key, sizeof key, "o/%04d", i);
        assert_int_equal(evt_journal_del(&jr, key), EVT_OK);
    }
    reopen(NULL);
    evt_journal_stats st;
    assert_int_equal(evt_journal_stats_get(&jr, &st), EVT_OK);
    assert_int_equal(st.live_keys, 0);
    assert_int_equal(evt_journal_put(&jr, "o/again", "x", 1), EVT_OK);
}

static void test_index_full(void **state)
{
    (void)state;
    nor_setup(2, 4096);
    static uint32_t small_work[EVT_JOURNAL_WORK_SIZE(2, 4) / 4];
    assert_int_equal(evt_journal_open(&jr, &nor.hal, small_work, sizeof small_work, NULL), EVT_OK);
    evt_journal_stats st;
    assert_int_equal(evt_journal_stats_get(&jr, &st), EVT_OK);
    assert_int_equal(st.index_capacity, 4);
    assert_int_equal(evt_journal_put(&jr, "a", "1", 1), EVT_OK);
    assert_int_equal(evt_journal_put(&jr, "b", "1", 1), EVT_OK);
    assert_int_equal(evt_journal_put(&jr, "c", "1", 1), EVT_OK);
    assert_int_equal(evt_journal_put(&jr, "d", "1", 1), EVT_OK);
    assert_int_equal(evt_journal_put(&jr, "e", "1", 1), EVT_ERR_JOURNAL_FULL);
    assert_int_equal(evt_journal_put(&jr, "d", "2", 1), EVT_OK); /* overwrite still fine */

    /* A bigger journal mounted with too small an index: NOMEM, but a format is possible. */
    static uint32_t tiny_work[EVT_JOURNAL_WORK_SIZE(2, 2) / 4];
    assert_int_equal(evt_journal_open(&jr, &nor.hal, tiny_work, sizeof tiny_work, NULL),
                     EVT_ERR_NOMEM);
    char buf[4];
    size_t len;
    assert_int_equal(evt_journal_get(&jr, "a", buf, sizeof buf, &len), EVT_ERR_ARG);
    assert_int_equal(evt_journal_format(&jr), EVT_OK);
    assert_int_equal(evt_journal_get(&jr, "a", buf, sizeof buf, &len), EVT_ERR_NOT_FOUND);
    assert_int_equal(evt_journal_put(&jr, "a", "1", 1), EVT_OK);
}

/* ---- format, misuse ---------------------------------------------------------------------- */

static void test_format_keeps_wear(void **state)
{
    (void)state;
    model m;
    fresh_journal(4, SMALL_SECTOR, &m);
    for (int n = 0; n < 500; n++) {
        put_version(&jr, &m, n % 9, n);
    }
    evt_journal_stats before, after;
    assert_int_equal(evt_journal_stats_get(&jr, &before), EVT_OK);
    assert_true(before.erase_count_max > 0);
    assert_int_equal(evt_journal_format(&jr), EVT_OK);
    assert_int_equal(evt_journal_stats_get(&jr, &after), EVT_OK);
    assert_int_equal(after.live_keys, 0);
    assert_int_equal(after.records, 0);
    /* Every used sector was erased once more; the spare already was blank. */
    assert_true(after.erase_count_min >= before.erase_count_min);
    assert_true(after.erase_count_max >= before.erase_count_max);
    assert_true(after.erases >= 3);
    reopen(NULL);
    model_init(&m);
    model_check(&jr, &m);
    evt_journal_stats reopened;
    assert_int_equal(evt_journal_stats_get(&jr, &reopened), EVT_OK);
    assert_int_equal(reopened.erase_count_min, after.erase_count_min);
    assert_int_equal(reopened.erase_count_max, after.erase_count_max);
}

static void test_misuse(void **state)
{
    (void)state;
    nor_setup(2, 4096);
    char buf[8];
    size_t len;
    evt_journal never_opened;
    memset(&never_opened, 0, sizeof never_opened);
    assert_int_equal(evt_journal_put(&never_opened, "a", "1", 1), EVT_ERR_ARG);
    assert_int_equal(evt_journal_get(&never_opened, "a", buf, sizeof buf, &len), EVT_ERR_ARG);
    assert_int_equal(evt_journal_format(&never_opened), EVT_ERR_ARG);
    assert_int_equal(evt_journal_open(NULL, &nor.hal, work, sizeof work, NULL), EVT_ERR_ARG);
    assert_int_equal(evt_journal_open(&jr, NULL, work, sizeof work, NULL), EVT_ERR_ARG);
    assert_int_equal(evt_journal_open(&jr, &nor.hal, NULL, sizeof work, NULL), EVT_ERR_ARG);
    assert_int_equal(evt_journal_open(&jr, &nor.hal, (uint8_t *)work + 1, 1000, NULL), EVT_ERR_ARG);
    assert_int_equal(evt_journal_open(&jr, &nor.hal, work, 24, NULL), EVT_ERR_ARG);

    /* Geometry the format cannot use. */
    evt_hal_storage bad = nor.hal;
    bad.sector_size = 1024; /* below the minimum */
    assert_int_equal(evt_journal_open(&jr, &bad, work, sizeof work, NULL), EVT_ERR_ARG);
    bad = nor.hal;
    bad.sector_size = 3000; /* not a power of two */
    assert_int_equal(evt_journal_open(&jr, &bad, work, sizeof work, NULL), EVT_ERR_ARG);
    bad = nor.hal;
    bad.size = 4096; /* a single sector: no spare */
    assert_int_equal(evt_journal_open(&jr, &bad, work, sizeof work, NULL), EVT_ERR_ARG);
    bad = nor.hal;
    bad.size = 4096 * 2 + 100;
    assert_int_equal(evt_journal_open(&jr, &bad, work, sizeof work, NULL), EVT_ERR_ARG);
    bad = nor.hal;
    bad.erase = NULL;
    assert_int_equal(evt_journal_open(&jr, &bad, work, sizeof work, NULL), EVT_ERR_ARG);

    reopen(NULL);
    char key49[EVT_JOURNAL_KEY_MAX + 2];
    memset(key49, 'k', EVT_JOURNAL_KEY_MAX + 1);
    key49[EVT_JOURNAL_KEY_MAX + 1] = '\0';
    static uint8_t big[EVT_JOURNAL_VALUE_MAX + 1];
    assert_int_equal(evt_journal_put(&jr, NULL, "1", 1), EVT_ERR_ARG);
    assert_int_equal(evt_journal_put(&jr, "", "1", 1), EVT_ERR_ARG);
    assert_int_equal(evt_journal_put(&jr, key49, "1", 1), EVT_ERR_ARG);
    assert_int_equal(evt_journal_put(&jr, "tab\there", "1", 1), EVT_ERR_ARG);
    assert_int_equal(evt_journal_put(&jr, "\xe5\x8c\xbb", "1", 1), EVT_ERR_ARG); /* not ASCII */
    assert_int_equal(evt_journal_put(&jr, "a", NULL, 1), EVT_ERR_ARG);
    assert_int_equal(evt_journal_put(&jr, "a", big, sizeof big), EVT_ERR_ARG);
    assert_int_equal(evt_journal_get(&jr, "a", NULL, 4, &len), EVT_ERR_ARG);
    assert_int_equal(evt_journal_get(&jr, "a", buf, sizeof buf, NULL), EVT_ERR_ARG);
    assert_int_equal(evt_journal_del(&jr, key49), EVT_ERR_ARG);
    assert_int_equal(evt_journal_iterate(&jr, NULL, record_visit, NULL), EVT_ERR_ARG);
    assert_int_equal(evt_journal_iterate(&jr, "", NULL, NULL), EVT_ERR_ARG);
    assert_int_equal(evt_journal_iterate(&jr, key49, record_visit, NULL), EVT_ERR_ARG);
    assert_int_equal(evt_journal_stats_get(&jr, NULL), EVT_ERR_ARG);
    assert_int_equal(evt_journal_stats_get(NULL, NULL), EVT_ERR_ARG);
    /* Nothing above reached the flash. */
    evt_journal_stats st;
    assert_int_equal(evt_journal_stats_get(&jr, &st), EVT_OK);
    assert_int_equal(st.records, 0);
    /* Spaces and punctuation are fine in keys (ECR order ids carry them). */
    assert_int_equal(evt_journal_put(&jr, "order/A 1-2_3#~", "1", 1), EVT_OK);
}

static void test_storage_error_forces_reopen(void **state)
{
    (void)state;
    fresh_journal(2, 4096, NULL);
    assert_int_equal(evt_journal_put(&jr, "a", "1", 1), EVT_OK);
    nor.powered_off = true; /* the HAL reports an I/O error */
    assert_int_equal(evt_journal_put(&jr, "b", "2", 1), EVT_ERR_STORAGE_IO);
    nor.powered_off = false;
    assert_int_equal(evt_journal_put(&jr, "b", "2", 1), EVT_ERR_ARG);
    reopen(NULL);
    char buf[4];
    size_t len;
    assert_int_equal(evt_journal_get(&jr, "a", buf, sizeof buf, &len), EVT_OK);
    assert_int_equal(evt_journal_put(&jr, "b", "2", 1), EVT_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_del_overwrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_length_query_and_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence_across_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iterate_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc_thousands_of_overwrites, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_put, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_gc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_gc_two_sectors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bit_flip_in_value_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bit_flip_in_header_resyncs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_detects_decay_after_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_intact_record_with_invalid_key_skipped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_counted_then_reclaimed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_flash_opens_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_generation_never_wraps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generation_cap_refuses_instead_of_losing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_empty_log_restarts_generations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spare_with_stray_bits_is_erased_first, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_full_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_records_fill_then_delete_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_format_keeps_wear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_misuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_storage_error_forces_reopen, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
