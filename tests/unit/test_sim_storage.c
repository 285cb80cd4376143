/* Sim board storage: NOR flash semantics of the file model, strict argument checks, wear
 * counts, and injected power cuts that leave partial writes behind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evt_sim/storage_file.h"

#define SIZE   (16u * 1024u)
#define SECTOR 4096u

static char path[64];

static int setup(void **state)
{
    (void)state;
    strcpy(path, "/tmp/evt_flash_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) {
        return -1;
    }
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return unlink(path);
}

static evt_sim_storage *open_flash(void)
{
    evt_sim_storage *st = NULL;
    assert_int_equal(evt_sim_storage_open(&st, path, SIZE, SECTOR), EVT_OK);
    assert_non_null(st);
    return st;
}

static void assert_all(const evt_hal_storage *hal, uint32_t addr, size_t len, uint8_t value)
{
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    assert_int_equal(hal->read(hal->ctx, addr, buf, len), EVT_OK);
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != value) {
            fail_msg("byte %zu at 0x%x is 0x%02x, expected 0x%02x", i, (unsigned)(addr + i), buf[i],
                     value);
        }
    }
    free(buf);
}

static void test_new_flash_is_erased(void **state)
{
    (void)state;
    evt_sim_storage *st = open_flash();
    const evt_hal_storage *hal = evt_sim_storage_hal(st);
    assert_int_equal(hal->size, SIZE);
    assert_int_equal(hal->sector_size, SECTOR);
    assert_all(hal, 0, SIZE, 0xFF);
    evt_sim_storage_close(st);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, SIZE);
}

static void test_program_ands_and_persists(void **state)
{
    (void)state;
    evt_sim_storage *st = open_flash();
    const evt_hal_storage *hal = evt_sim_storage_hal(st);
    const uint8_t first[4] = {0xF0, 0x0F, 0xAA, 0x00};
    const uint8_t second[4] = {0xCC, 0xFF, 0x55, 0xFF};
    assert_int_equal(hal->program(hal->ctx, 100, first, 4), EVT_OK);
    assert_int_equal(hal->program(hal->ctx, 100, second, 4), EVT_OK);
    uint8_t got[4];
    assert_int_equal(hal->read(hal->ctx, 100, got, 4), EVT_OK);
    /* Bits only go 1 -> 0: 0xF0 & 0xCC, 0x0F & 0xFF, 0xAA & 0x55, 0x00 & 0xFF. */
    const uint8_t want[4] = {0xC0, 0x0F, 0x00, 0x00};
    assert_memory_equal(got, want, 4);
    evt_sim_storage_stats stats;
    evt_sim_storage_get_stats(st, &stats);
    assert_int_equal(stats.programs, 2);
    assert_int_equal(stats.bytes_programmed, 8);
    /* Every byte of second has a 1 where first had left a 0. */
    assert_int_equal(stats.program_conflicts, 4);
    evt_sim_storage_close(st);

    st = open_flash();
    hal = evt_sim_storage_hal(st);
    assert_int_equal(hal->read(hal->ctx, 100, got, 4), EVT_OK);
    assert_memory_equal(got, want, 4);
    assert_all(hal, 0, 100, 0xFF);
    evt_sim_storage_close(st);
}

static void test_erase_sets_one_sector(void **state)
{
    (void)state;
    evt_sim_storage *st = open_flash();
    const evt_hal_storage *hal = evt_sim_storage_hal(st);
    uint8_t zeros[SECTOR * 2];
    memset(zeros, 0, sizeof zeros);
    assert_int_equal(hal->program(hal->ctx, SECTOR, zeros, sizeof zeros), EVT_OK);
    assert_int_equal(hal->erase(hal->ctx, SECTOR), EVT_OK);
    assert_all(hal, SECTOR, SECTOR, 0xFF);
    assert_all(hal, 2 * SECTOR, SECTOR, 0x00);
    assert_int_equal(hal->erase(hal->ctx, SECTOR), EVT_OK);
    assert_int_equal(hal->erase(hal->ctx, 3 * SECTOR), EVT_OK);
    evt_sim_storage_stats stats;
    evt_sim_storage_get_stats(st, &stats);
    assert_int_equal(stats.erases, 3);
    assert_int_equal(stats.max_sector_erases, 2);
    assert_int_equal(evt_sim_storage_sector_erases(st, 1), 2);
    assert_int_equal(evt_sim_storage_sector_erases(st, 3), 1);
    assert_int_equal(evt_sim_storage_sector_erases(st, 0), 0);
    assert_int_equal(evt_sim_storage_sector_erases(st, 99), 0);
    evt_sim_storage_close(st);
}

static void test_strict_arguments(void **state)
{
    (void)state;
    evt_sim_storage *st = open_flash();
    const evt_hal_storage *hal = evt_sim_storage_hal(st);
    uint8_t b[8] = {0};
    assert_int_equal(hal->read(hal->ctx, SIZE - 4, b, 8), EVT_ERR_ARG);
    assert_int_equal(hal->read(hal->ctx, SIZE, b, 1), EVT_ERR_ARG);
    assert_int_equal(hal->read(hal->ctx, UINT32_MAX, b, 2), EVT_ERR_ARG);
    assert_int_equal(hal->read(hal->ctx, SIZE, b, 0), EVT_OK);
    assert_int_equal(hal->program(hal->ctx, SIZE - 4, b, 8), EVT_ERR_ARG);
    assert_int_equal(hal->program(hal->ctx, 0, NULL, 8), EVT_ERR_ARG);
    assert_int_equal(hal->erase(hal->ctx, 1), EVT_ERR_ARG);
    assert_int_equal(hal->erase(hal->ctx, SECTOR / 2), EVT_ERR_ARG);
    assert_int_equal(hal->erase(hal->ctx, SIZE), EVT_ERR_ARG);
    /* Refused operations touch nothing. */
    assert_all(hal, 0, SIZE, 0xFF);
    evt_sim_storage_stats stats;
    evt_sim_storage_get_stats(st, &stats);
    assert_int_equal(stats.programs + stats.erases, 0);
    evt_sim_storage_close(st);

    evt_sim_storage *bad = NULL;
    assert_int_equal(evt_sim_storage_open(&bad, path, SIZE, 3000), EVT_ERR_ARG);
    assert_int_equal(evt_sim_storage_open(&bad, path, SIZE + 100, SECTOR), EVT_ERR_ARG);
    assert_int_equal(evt_sim_storage_open(&bad, path, 0, SECTOR), EVT_ERR_ARG);
    /* The existing file has another geometry: refused rather than silently reinterpreted. */
    assert_int_equal(evt_sim_storage_open(&bad, path, SIZE * 2, SECTOR), EVT_ERR_ARG);
    assert_int_equal(evt_sim_storage_open(&bad, "/proc/evt-no-such/flash", SIZE, SECTOR),
                     EVT_ERR_STORAGE_IO);
    assert_null(bad);
}

static void test_power_cut_mid_program_prefix(void **state)
{
    (void)state;
    evt_sim_storage *st = open_flash();
    const evt_hal_storage *hal = evt_sim_storage_hal(st);
    uint8_t rec[32];
    memset(rec, 0x11, sizeof rec);
    /* 40 bytes of work allowed: the first 32-byte record completes, the second gets 8. */
    evt_sim_storage_inject_power_cut(st, 40, EVT_SIM_CUT_PREFIX, 0);
    assert_int_equal(hal->program(hal->ctx, 0, rec, sizeof rec), EVT_OK);
    assert_false(evt_sim_storage_is_cut(st));
    assert_int_equal(hal->program(hal->ctx, 32, rec, sizeof rec), EVT_ERR_STORAGE_IO);
    assert_true(evt_sim_storage_is_cut(st));
    assert_all(hal, 0, 40, 0x11);
    assert_all(hal, 40, 24, 0xFF);
    /* Dead until "power comes back". */
    assert_int_equal(hal->program(hal->ctx, 64, rec, 1), EVT_ERR_STORAGE_IO);
    assert_int_equal(hal->erase(hal->ctx, SECTOR), EVT_ERR_STORAGE_IO);
    assert_all(hal, 64, 1, 0xFF);
    evt_sim_storage_stats stats;
    evt_sim_storage_get_stats(st, &stats);
    assert_int_equal(stats.power_cuts, 1);
    assert_int_equal(stats.programs, 1);
    evt_sim_storage_close(st);

    /* Reopened: the partial record is what the journal's recovery will find. */
    st = open_flash();
    hal = evt_sim_storage_hal(st);
    assert_false(evt_sim_storage_is_cut(st));
    assert_all(hal, 0, 40, 0x11);
    assert_all(hal, 40, 24, 0xFF);
    assert_int_equal(hal->program(hal->ctx, 64, rec, 1), EVT_OK);
    evt_sim_storage_close(st);
}

static void test_power_cut_budget_zero_and_random_bits(void **state)
{
    (void)state;
    evt_sim_storage *st = open_flash();
    const evt_hal_storage *hal = evt_sim_storage_hal(st);
    uint8_t zeros[64];
    memset(zeros, 0, sizeof zeros);
    evt_sim_storage_inject_power_cut(st, 0, EVT_SIM_CUT_PREFIX, 0);
    assert_int_equal(hal->program(hal->ctx, 0, zeros, sizeof zeros), EVT_ERR_STORAGE_IO);
    assert_all(hal, 0, 64, 0xFF);
    evt_sim_storage_close(st);

    st = open_flash();
    hal = evt_sim_storage_hal(st);
    evt_sim_storage_inject_power_cut(st, 10, EVT_SIM_CUT_RANDOM_BITS, 1234);
    assert_int_equal(hal->program(hal->ctx, 0, zeros, sizeof zeros), EVT_ERR_STORAGE_IO);
    uint8_t got[64];
    assert_int_equal(hal->read(hal->ctx, 0, got, sizeof got), EVT_OK);
    for (size_t i = 0; i < 10; i++) {
        assert_int_equal(got[i], 0x00);
    }
    /* The rest is half-programmed: some bits cleared, not all, and never anything set. */
    size_t partial = 0, untouched = 0;
    for (size_t i = 10; i < 64; i++) {
        partial += got[i] != 0xFF && got[i] != 0x00;
        untouched += got[i] == 0xFF;
    }
    assert_true(partial > 10);
    assert_true(untouched < 54);
    evt_sim_storage_close(st);

    /* Same seed, same damage: a failing journal test can be replayed. */
    uint8_t again[64];
    assert_int_equal(unlink(path), 0);
    st = open_flash();
    hal = evt_sim_storage_hal(st);
    evt_sim_storage_inject_power_cut(st, 10, EVT_SIM_CUT_RANDOM_BITS, 1234);
    assert_int_equal(hal->program(hal->ctx, 0, zeros, sizeof zeros), EVT_ERR_STORAGE_IO);
    assert_int_equal(hal->read(hal->ctx, 0, again, sizeof again), EVT_OK);
    assert_memory_equal(got, again, sizeof got);
    evt_sim_storage_close(st);
}

static void test_power_cut_mid_erase(void **state)
{
    (void)state;
    evt_sim_storage *st = open_flash();
    const evt_hal_storage *hal = evt_sim_storage_hal(st);
    uint8_t zeros[SECTOR];
    memset(zeros, 0, sizeof zeros);
    assert_int_equal(hal->program(hal->ctx, 0, zeros, SECTOR), EVT_OK);
    assert_int_equal(hal->program(hal->ctx, SECTOR, zeros, SECTOR), EVT_OK);
    evt_sim_storage_inject_power_cut(st, 100, EVT_SIM_CUT_PREFIX, 0);
    assert_int_equal(hal->erase(hal->ctx, 0), EVT_ERR_STORAGE_IO);
    assert_all(hal, 0, 100, 0xFF);
    assert_all(hal, 100, SECTOR - 100, 0x00);
    assert_all(hal, SECTOR, SECTOR, 0x00); /* nothing outside the interrupted range */
    evt_sim_storage_close(st);

    st = open_flash();
    hal = evt_sim_storage_hal(st);
    evt_sim_storage_inject_power_cut(st, 0, EVT_SIM_CUT_RANDOM_BITS, 99);
    assert_int_equal(hal->erase(hal->ctx, SECTOR), EVT_ERR_STORAGE_IO);
    uint8_t got[SECTOR];
    assert_int_equal(hal->read(hal->ctx, SECTOR, got, SECTOR), EVT_OK);
    size_t mixed = 0;
    for (size_t i = 0; i < SECTOR; i++) {
        mixed += got[i] != 0x00 && got[i] != 0xFF;
    }
    assert_true(mixed > SECTOR / 2);
    evt_sim_storage_stats stats;
    evt_sim_storage_get_stats(st, &stats);
    assert_int_equal(stats.erases, 0);
    evt_sim_storage_close(st);
}

static void test_disarm(void **state)
{
    (void)state;
    evt_sim_storage *st = open_flash();
    const evt_hal_storage *hal = evt_sim_storage_hal(st);
    uint8_t b[16] = {0};
    evt_sim_storage_inject_power_cut(st, 4, EVT_SIM_CUT_PREFIX, 0);
    evt_sim_storage_disarm(st);
    assert_int_equal(hal->program(hal->ctx, 0, b, sizeof b), EVT_OK);
    assert_int_equal(hal->erase(hal->ctx, 0), EVT_OK);
    assert_false(evt_sim_storage_is_cut(st));
    evt_sim_storage_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_flash_is_erased, setup, teardown),
        cmocka_unit_test_setup_teardown(test_program_ands_and_persists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_erase_sets_one_sector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strict_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_mid_program_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_budget_zero_and_random_bits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_mid_erase, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disarm, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
