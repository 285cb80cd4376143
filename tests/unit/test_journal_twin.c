/*
 * evt_journal twin records on the in-memory NOR model: a value stored under two keys survives
 * one damaged record, a read repairs the other copy, a power cut at every unit of a twin put
 * leaves the old or the new value, iteration sees every id once.
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
#include "ram_nor.h"

#define SECTOR 2048u

static uint32_t work[EVT_JOURNAL_WORK_SIZE(8, 64) / 4];

typedef struct fixture {
    evt_ram_nor nor;
    evt_journal j;
} fixture;

static void mount(fixture *f)
{
    uint32_t corrupt = 0;
    assert_int_equal(evt_journal_open(&f->j, &f->nor.hal, work, sizeof work, &corrupt), EVT_OK);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_int_equal(evt_ram_nor_init(&f->nor, 4 * SECTOR, SECTOR), EVT_OK);
    mount(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    evt_ram_nor_free(&f->nor);
    free(f);
    return 0;
}

static void put_text(fixture *f, const char *id, const char *text)
{
    assert_int_equal(evt_journal_twin_put(&f->j, "order", id, text, strlen(text)), EVT_OK);
}

static evt_err get_text(fixture *f, const char *id, char *out, size_t cap, bool *repaired)
{
    size_t len = 0;
    evt_err err = evt_journal_twin_get(&f->j, "order", id, out, cap - 1, &len, repaired);
    out[err == EVT_OK ? len : 0] = '\0';
    return err;
}

/* Address of the newest record under key: its value starts right after the key bytes. */
static uint32_t newest_value_addr(const fixture *f, const char *key)
{
    size_t klen = strlen(key);
    uint32_t found = 0;
    for (uint32_t a = 0; a + klen <= f->nor.size; a++) {
        if (memcmp(f->nor.mem + a, key, klen) == 0) {
            found = a + (uint32_t)klen;
        }
    }
    assert_true(found != 0);
    return found;
}

static void put_get_and_overwrite(void **state)
{
    fixture *f = *state;
    char buf[64];
    assert_int_equal(get_text(f, "A1", buf, sizeof buf, NULL), EVT_ERR_NOT_FOUND);
    put_text(f, "A1", "settling");
    put_text(f, "A1", "settled");
    bool repaired = true;
    assert_int_equal(get_text(f, "A1", buf, sizeof buf, &repaired), EVT_OK);
    assert_string_equal(buf, "settled");
    assert_false(repaired);
    /* both keys exist, as the format says */
    size_t len = 0;
    assert_int_equal(evt_journal_get(&f->j, "order/A1", NULL, 0, &len), EVT_ERR_OVERFLOW);
    assert_int_equal(evt_journal_get(&f->j, "order#A1", NULL, 0, &len), EVT_ERR_OVERFLOW);
    /* length query */
    assert_int_equal(evt_journal_twin_get(&f->j, "order", "A1", NULL, 0, &len, NULL),
                     EVT_ERR_OVERFLOW);
    assert_int_equal(len, strlen("settled"));
    mount(f);
    assert_int_equal(get_text(f, "A1", buf, sizeof buf, NULL), EVT_OK);
    assert_string_equal(buf, "settled");
}

/* One damaged copy, found at mount: the other one answers and the pair is made whole. */
static void one_rotten_copy_is_survived(void **state)
{
    fixture *f = *state;
    for (int which = 0; which < 2; which++) {
        const char *id = which ? "B2" : "B1";
        char key[32], buf[64];
        put_text(f, id, "settling");
        put_text(f, id, "settled");
        snprintf(key, sizeof key, "order%c%s", which ? '#' : '/', id);
        evt_ram_nor_flip_bit(&f->nor, newest_value_addr(f, key) + 5, 3);
        mount(f);
        bool repaired = false;
        assert_int_equal(get_text(f, id, buf, sizeof buf, &repaired), EVT_OK);
        /* the damaged copy's older version (settling) is visible again; the revision says
         * which copy is newer */
        assert_string_equal(buf, "settled");
        assert_true(repaired);
        /* after the repair, the other copy can rot too */
        snprintf(key, sizeof key, "order%c%s", which ? '/' : '#', id);
        evt_ram_nor_flip_bit(&f->nor, newest_value_addr(f, key) + 5, 1);
        mount(f);
        assert_int_equal(get_text(f, id, buf, sizeof buf, NULL), EVT_OK);
        assert_string_equal(buf, "settled");
    }
}

/* Both copies decay after mount: the caller is told it cannot know (not "not found"). */
static void both_copies_decayed_is_corrupt(void **state)
{
    fixture *f = *state;
    char buf[64];
    put_text(f, "C1", "settled");
    evt_ram_nor_flip_bit(&f->nor, newest_value_addr(f, "order/C1") + 6, 0);
    evt_ram_nor_flip_bit(&f->nor, newest_value_addr(f, "order#C1") + 6, 0);
    assert_int_equal(get_text(f, "C1", buf, sizeof buf, NULL), EVT_ERR_JOURNAL_CORRUPT);
}

/* A power cut at every unit of a twin put over an old value: after the reboot the record
 * reads as the old or the new value, never anything else, and a cut after the primary was
 * committed gives the new one. */
static void power_cut_at_every_unit_of_a_put(void **state)
{
    fixture *f = *state;
    put_text(f, "D1", "old value");
    static uint8_t image[4 * SECTOR];
    evt_ram_nor_save(&f->nor, image);
    uint64_t start = f->nor.units;
    put_text(f, "D1", "new value, longer");
    uint64_t units = f->nor.units - start;
    unsigned olds = 0, news = 0;
    for (int mode = 0; mode < 3; mode++) {
        for (uint64_t cut = 0; cut < units; cut++) {
            evt_ram_nor_load(&f->nor, image);
            mount(f);
            evt_ram_nor_arm_cut(&f->nor, cut, (evt_ram_nor_cut_mode)mode, (uint32_t)cut);
            evt_journal_twin_put(&f->j, "order", "D1", "new value, longer", 17);
            evt_ram_nor_power_on(&f->nor);
            mount(f);
            char buf[64];
            assert_int_equal(get_text(f, "D1", buf, sizeof buf, NULL), EVT_OK);
            bool is_old = strcmp(buf, "old value") == 0;
            bool is_new = strcmp(buf, "new value, longer") == 0;
            assert_true(is_old || is_new);
            olds += is_old;
            news += is_new;
            /* and the value stays put across the next reboot (the repair wrote the pair) */
            mount(f);
            char again[64];
            assert_int_equal(get_text(f, "D1", again, sizeof again, NULL), EVT_OK);
            assert_string_equal(again, buf);
        }
    }
    assert_true(olds > 0 && news > 0);
    assert_int_equal(f->nor.overprogram_bytes, 0);
}

typedef struct seen {
    char ids[8][16];
    unsigned count;
} seen;

static evt_err collect(void *arg, const char *id)
{
    seen *s = arg;
    assert_true(s->count < 8);
    snprintf(s->ids[s->count++], 16, "%s", id);
    return EVT_OK;
}

static void iterate_sees_each_id_once(void **state)
{
    fixture *f = *state;
    put_text(f, "E1", "a");
    put_text(f, "E2", "b");
    put_text(f, "E3", "c");
    /* E2 lost its primary (a cut during a delete): still visited, once */
    assert_int_equal(evt_journal_del(&f->j, "order/E2"), EVT_OK);
    seen s = {0};
    assert_int_equal(evt_journal_twin_iterate(&f->j, "order", collect, &s), EVT_OK);
    assert_int_equal(s.count, 3);
    unsigned mask = 0;
    for (unsigned i = 0; i < s.count; i++) {
        assert_int_equal(strlen(s.ids[i]), 2);
        mask |= 1u << (s.ids[i][1] - '0');
    }
    assert_int_equal(mask, 0xEu);
    /* and reads the surviving copy */
    char buf[8];
    assert_int_equal(get_text(f, "E2", buf, sizeof buf, NULL), EVT_OK);
    assert_string_equal(buf, "b");
    assert_int_equal(evt_journal_twin_del(&f->j, "order", "E1"), EVT_OK);
    assert_int_equal(evt_journal_twin_del(&f->j, "order", "E1"), EVT_ERR_NOT_FOUND);
    assert_int_equal(get_text(f, "E1", buf, sizeof buf, NULL), EVT_ERR_NOT_FOUND);
}

static void misuse_refused(void **state)
{
    fixture *f = *state;
    static const uint8_t big[EVT_JOURNAL_TWIN_VALUE_MAX + 1];
    assert_int_equal(evt_journal_twin_put(&f->j, "order", "X", big, sizeof big), EVT_ERR_ARG);
    assert_int_equal(evt_journal_twin_put(&f->j, "or/der", "X", "v", 1), EVT_ERR_ARG);
    assert_int_equal(evt_journal_twin_put(&f->j, "or#der", "X", "v", 1), EVT_ERR_ARG);
    assert_int_equal(evt_journal_twin_put(&f->j, "", "X", "v", 1), EVT_ERR_ARG);
    assert_int_equal(evt_journal_twin_put(&f->j, "toolongname", "X", "v", 1), EVT_ERR_ARG);
    assert_int_equal(evt_journal_twin_put(&f->j, "order", "", "v", 1), EVT_ERR_ARG);
    char id[64];
    memset(id, 'i', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    assert_int_equal(evt_journal_twin_put(&f->j, "order", id, "v", 1), EVT_ERR_ARG);
    id[48 - 6] = '\0'; /* "order/" + 42 = 48: fits exactly */
    assert_int_equal(evt_journal_twin_put(&f->j, "order", id, "v", 1), EVT_OK);
    /* a plain record without the revision header under a twin key reads as damaged */
    assert_int_equal(evt_journal_put(&f->j, "order/Y", "ab", 2), EVT_OK);
    char buf[8];
    size_t len = 0;
    assert_int_equal(evt_journal_twin_get(&f->j, "order", "Y", buf, sizeof buf, &len, NULL),
                     EVT_ERR_JOURNAL_CORRUPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(put_get_and_overwrite, setup, teardown),
        cmocka_unit_test_setup_teardown(one_rotten_copy_is_survived, setup, teardown),
        cmocka_unit_test_setup_teardown(both_copies_decayed_is_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(power_cut_at_every_unit_of_a_put, setup, teardown),
        cmocka_unit_test_setup_teardown(iterate_sees_each_id_once, setup, teardown),
        cmocka_unit_test_setup_teardown(misuse_refused, setup, teardown),
    };
    return cmocka_run_group_tests_name("unit.journal_twin", tests, NULL, NULL);
}
