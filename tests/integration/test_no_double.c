/*
 * Never paid twice, never the wrong person: the holes of issue 5, each driven end to end
 * against the platform emulator, each checked against the emulator's own ledger (settlements
 * per order, what it handled), never against the terminal's word alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evt/orders.h"
#include "harness.h"

#define AMOXICILLIN "XJ01CAA040A001010100001"

typedef it_fixture fixture;

static void order_fixed(evt_order *o, const char *prefix, unsigned n)
{
    char id[40];
    snprintf(id, sizeof id, "%s-%04u", prefix, n);
    order_make(o, id, AMOXICILLIN, "阿莫西林胶囊", 2, 1250);
}

static void scan_and_sell(fixture *f, const char *person, const evt_order *o, evt_ecr_result *r)
{
    char code[128];
    assert_int_equal(emu_code(&f->e, person, NULL, 120, code, sizeof code), 0);
    term_scan(&f->t, code);
    evt_app_sale(f->t.app, o, r);
}

static void settlements_of(fixture *f, const char *order_id, int *live, int *reversed)
{
    int cancelled = 0;
    assert_int_equal(emu_order_money(&f->e, order_id, live, reversed, &cancelled), 0);
    assert_int_equal(cancelled, 0);
}

/* The idle loop retries owed reversals; bounded. */
static void settle_reversals(fixture *f)
{
    assert_int_equal(term_deliver_reversals(&f->t, 40), 0);
}

/* ---- hole 1: power cut while the settled order is recorded ------------------------------ */

typedef struct settled_window {
    char key[64];
    uint64_t first;   /* budget offset where the SETTLED record's writing starts */
    unsigned written; /* order-record writes seen */
    bool next_is_value;
    uint64_t key_offset;
} settled_window;

/* The journal programs a record as header, key, value, CRC, commit: the value of an order
 * record starts with the twin revision (4 bytes), then layout version and state. */
static void find_settled(void *arg, uint64_t offset, const uint8_t *data, size_t len)
{
    settled_window *w = arg;
    size_t klen = strlen(w->key);
    if (len == klen &&
        (memcmp(data, w->key, klen) == 0 ||
         (memcmp(data, "order#", 6) == 0 && memcmp(data + 6, w->key + 6, klen - 6) == 0))) {
        w->next_is_value = true;
        w->key_offset = offset;
        return;
    }
    if (w->next_is_value) {
        w->next_is_value = false;
        if (len > 5 && data[5] == EVT_ORDER_SETTLED && w->first == 0) {
            w->first = w->key_offset - 16; /* the record's header came before its key */
        }
    }
}

/* Reboot from the same flash, let the reversals go out, then the POS re-sends the order. */
static void reboot_and_resend(fixture *f, const char *name, unsigned slot, const evt_order *o,
                              evt_ecr_result *r)
{
    term_stop(&f->t);
    char *keys = keys_ok_to_everything(8);
    term_options again = {
        .keys = keys, .reuse_flash = true, .http_timeout_ms = 2000, .msgid_slot = slot};
    assert_int_equal(term_start(&f->t, &f->e, name, &again), 0);
    free(keys);
    settle_reversals(f);
    scan_and_sell(f, "employee", o, r);
}

static void power_cut_while_recording_settled_order(void **state)
{
    fixture *f = *state;
    char *keys = keys_ok_to_everything(8);
    settled_window w = {0};
    evt_order o;
    order_fixed(&o, "CUT", 0);
    snprintf(w.key, sizeof w.key, "order/%s", o.order_id);
    /* Where, counted from the start of a sale, the settled record is written. */
    /* Fresh flash restarts the msgid counter: terminals started within one second need their
     * own msgid slots (9 for the probe, 0..8 in turn for the cases, ~0.5 s each). */
    term_options probe = {
        .keys = keys, .write_tap = find_settled, .write_tap_arg = &w, .msgid_slot = 10};
    assert_int_equal(term_start(&f->t, &f->e, "probe", &probe), 0);
    uint64_t base = term_flash_work(&f->t);
    evt_ecr_result r;
    scan_and_sell(f, "employee", &o, &r);
    assert_int_equal(r.status, EVT_ECR_SETTLED);
    uint64_t end = term_flash_work(&f->t) - base;
    assert_true(w.first > base);
    uint64_t from = w.first - base;
    term_stop(&f->t);

    /* Cut the power at every 8th byte from there to the end of the sale, in both tear
     * models; after each: reboot, recovery, the POS re-sends. */
    unsigned cases = 0, settled = 0;
    for (uint64_t cut = from; cut < end; cut += 8, cases++) {
        order_fixed(&o, "CUT", 1 + cases);
        term_options opt = {.keys = keys, .http_timeout_ms = 2000, .msgid_slot = 1 + cases % 9};
        assert_int_equal(term_start(&f->t, &f->e, "cut", &opt), 0);
        evt_sim_storage_inject_power_cut(f->t.flash, cut,
                                         cases % 2 ? EVT_SIM_CUT_RANDOM_BITS : EVT_SIM_CUT_PREFIX,
                                         (uint32_t)cut);
        scan_and_sell(f, "employee", &o, &r);
        if (!evt_sim_storage_is_cut(f->t.flash)) {
            fail_msg("cut at %llu (window %llu..%llu) did not fire; sale used %llu (%s %s, log %s)",
                     (unsigned long long)cut, (unsigned long long)from, (unsigned long long)end,
                     (unsigned long long)term_flash_work(&f->t), evt_ecr_status_name(r.status),
                     evt_err_name(r.error), f->t.dir);
        }
        evt_ecr_result again;
        reboot_and_resend(f, "cut", opt.msgid_slot, &o, &again);
        int live = 0, reversed = 0;
        settlements_of(f, o.order_id, &live, &reversed);
        /* zero double, zero lost: one settlement standing iff the POS is told settled */
        assert_true(live <= 1);
        assert_int_equal(live, again.status == EVT_ECR_SETTLED ? 1 : 0);
        assert_int_equal(again.status, EVT_ECR_SETTLED);
        settled += again.status == EVT_ECR_SETTLED;
        term_stop(&f->t);
    }
    print_message("power cuts at %u points of a settled order's recording: %u settled once, "
                  "0 twice\n",
                  cases, settled);
    assert_true(cases >= 20);
    free(keys);
}

/* ---- hole 2: a full journal refuses new sales before anything is scanned ------------------ */

static void full_journal_refuses_before_scanning(void **state)
{
    fixture *f = *state;
    char *keys = keys_ok_to_everything(400);
    term_options opt = {.keys = keys, .flash_bytes = 16u * 1024u};
    assert_int_equal(term_start(&f->t, &f->e, "full", &opt), 0);
    evt_order orders[100];
    unsigned sold = 0;
    evt_ecr_result r;
    for (; sold < 100; sold++) {
        order_fixed(&orders[sold], "FULL", sold);
        int decodes = emu_handled_count(&f->e, "ec.query");
        scan_and_sell(f, "stranger", &orders[sold], &r);
        if (r.status != EVT_ECR_SETTLED) {
            /* refused up front: not a byte went to the platform, no code was spent */
            assert_int_equal(r.status, EVT_ECR_REFUSED);
            assert_int_equal(r.error, EVT_ERR_JOURNAL_FULL);
            assert_int_equal(emu_handled_count(&f->e, "ec.query"), decodes);
            assert_true(term_screen_seen(&f->t, "交易日志已满"));
            break;
        }
    }
    assert_true(sold > 5 && sold < 100);
    print_message("16 KiB journal: %u sales recorded, then refused before scanning\n", sold);
    /* Every settled order is remembered: the POS re-sending any of them gets its result. */
    for (unsigned i = 0; i < sold; i++) {
        evt_app_sale(f->t.app, &orders[i], &r);
        assert_int_equal(r.status, EVT_ECR_SETTLED);
        int live = 0, reversed = 0;
        settlements_of(f, orders[i].order_id, &live, &reversed);
        assert_int_equal(live, 1);
    }
    free(keys);
}

/* ---- hole 3: an order whose outcome is unknown is never started again ---------------------- */

static void unknown_order_not_started_again(void **state)
{
    fixture *f = *state;
    char *keys = keys_ok_to_everything(20);
    term_options opt = {.keys = keys, .http_timeout_ms = 2000};
    assert_int_equal(term_start(&f->t, &f->e, "unknown", &opt), 0);
    assert_int_equal(emu_fault(&f->e, "2102", "close_mid", NULL, 1), 0);
    assert_int_equal(emu_fault(&f->e, "2601", "close_before", NULL, 50), 0);
    evt_order o;
    order_fixed(&o, "UNK", 1);
    evt_ecr_result r;
    scan_and_sell(f, "employee", &o, &r);
    assert_int_equal(r.status, EVT_ECR_UNKNOWN);
    int decodes = emu_handled_count(&f->e, "ec.query");
    int settles = emu_handled_count(&f->e, "2102");

    /* The POS re-sends: the stored result, and nothing scanned, queried or settled. */
    evt_app_sale(f->t.app, &o, &r);
    assert_int_equal(r.status, EVT_ECR_UNKNOWN);
    assert_int_equal(r.error, EVT_ERR_OUTCOME_UNKNOWN);
    assert_int_equal(emu_handled_count(&f->e, "ec.query"), decodes);
    assert_int_equal(emu_handled_count(&f->e, "2102"), settles);

    /* Also after a reboot. */
    term_stop(&f->t);
    term_options again = {.keys = keys, .reuse_flash = true, .http_timeout_ms = 2000};
    assert_int_equal(term_start(&f->t, &f->e, "unknown", &again), 0);
    evt_app_sale(f->t.app, &o, &r);
    assert_int_equal(r.status, EVT_ECR_UNKNOWN);
    assert_int_equal(emu_handled_count(&f->e, "ec.query"), decodes);

    /* The reversal gets through: the order provably moved no money and may be tried again. */
    emu_fault_clear(&f->e);
    settle_reversals(f);
    int live = 0, reversed = 0;
    settlements_of(f, o.order_id, &live, &reversed);
    assert_int_equal(live, 0);
    assert_int_equal(reversed, 1);
    scan_and_sell(f, "employee", &o, &r);
    assert_int_equal(r.status, EVT_ECR_SETTLED);
    settlements_of(f, o.order_id, &live, &reversed);
    assert_int_equal(live, 1);
    free(keys);
}

/* ---- hole 4: a damaged order record does not make the terminal forget ---------------------- */

/* Flips one bit inside the value of the record stored under key (a copy of an order record),
 * directly in the flash file: NOR bit rot. */
static void rot_record(const char *flash_path, const char *key)
{
    FILE *fl = fopen(flash_path, "r+b");
    assert_non_null(fl);
    static unsigned char img[64 * 1024];
    size_t n = fread(img, 1, sizeof img, fl);
    assert_int_equal(n, sizeof img);
    /* The newest record under key: the last occurrence of the key bytes. */
    unsigned char *hit = NULL;
    for (unsigned char *p = img;
         (p = memmem(p, sizeof img - (size_t)(p - img), key, strlen(key))) != NULL; p++) {
        hit = p;
    }
    assert_non_null(hit);
    long off = (long)(hit - img) + (long)strlen(key) + 12; /* inside the stored state/amounts */
    fseek(fl, off, SEEK_SET);
    fputc(img[off] ^ 0x04, fl);
    fclose(fl);
}

static void settle_one(fixture *f, const char *name, evt_order *o, const char *id_prefix)
{
    char *keys = keys_ok_to_everything(20);
    term_options opt = {.keys = keys, .msgid_slot = 1u + (unsigned)strlen(name) % 10u};
    if (term_start(&f->t, &f->e, name, &opt) != 0) {
        fail_msg("terminal did not start: %s", f->t.start_msg);
    }
    free(keys);
    order_fixed(o, id_prefix, 1);
    evt_ecr_result r;
    scan_and_sell(f, "employee", o, &r);
    assert_int_equal(r.status, EVT_ECR_SETTLED);
}

static void rotten_copy_still_proves_settlement(void **state)
{
    fixture *f = *state;
    for (int which = 0; which < 2; which++) {
        evt_order o;
        settle_one(f, which ? "rot-copy" : "rot-primary", &o, which ? "ROTB" : "ROTA");
        char key[64];
        snprintf(key, sizeof key, "order%c%s", which ? '#' : '/', o.order_id);
        char flash[PATH_MAX];
        snprintf(flash, sizeof flash, "%s", f->t.flash_path);
        term_stop(&f->t);
        rot_record(flash, key);

        char *keys = keys_ok_to_everything(20);
        term_options again = {.keys = keys, .reuse_flash = true};
        assert_int_equal(term_start(&f->t, &f->e, which ? "rot-copy" : "rot-primary", &again), 0);
        free(keys);
        assert_true(term_screen_seen(&f->t, "交易日志损坏"));
        evt_ecr_result r;
        scan_and_sell(f, "employee", &o, &r); /* the POS re-sends */
        assert_int_equal(r.status, EVT_ECR_SETTLED);
        int live = 0, reversed = 0;
        settlements_of(f, o.order_id, &live, &reversed);
        assert_int_equal(live, 1);
        term_stop(&f->t);
    }
}

/* Both copies decay while the terminal runs: it cannot prove the order did not settle, so it
 * refuses and names who decides. */
static void unreadable_order_refused(void **state)
{
    fixture *f = *state;
    evt_order o;
    settle_one(f, "decay", &o, "DECAY");
    char key[64];
    snprintf(key, sizeof key, "order/%s", o.order_id);
    rot_record(f->t.flash_path, key);
    snprintf(key, sizeof key, "order#%s", o.order_id);
    rot_record(f->t.flash_path, key);
    int decodes = emu_handled_count(&f->e, "ec.query");
    evt_ecr_result r;
    evt_app_sale(f->t.app, &o, &r);
    assert_int_equal(r.status, EVT_ECR_REFUSED);
    assert_int_equal(r.error, EVT_ERR_ORDER_RECORD_UNREADABLE);
    assert_true(r.blocked);
    assert_true(strstr(r.message, "主管") != NULL);
    assert_int_equal(emu_handled_count(&f->e, "ec.query"), decodes);
    int live = 0, reversed = 0;
    settlements_of(f, o.order_id, &live, &reversed);
    assert_int_equal(live, 1);
}

/* ---- hole 5: no window on the owed reversals ------------------------------------------------ */

static void seventeenth_owed_reversal_still_blocks(void **state)
{
    fixture *f = *state;
    char *keys = keys_ok_to_everything(80);
    term_options opt = {.keys = keys, .http_timeout_ms = 2000};
    assert_int_equal(term_start(&f->t, &f->e, "owed17", &opt), 0);
    assert_int_equal(emu_fault(&f->e, "2102", "close_mid", NULL, 17), 0);
    assert_int_equal(emu_fault(&f->e, "2601", "close_before", NULL, 1000), 0);
    evt_order o[17];
    evt_ecr_result r;
    for (unsigned i = 0; i < 17; i++) {
        order_fixed(&o[i], "OWED", i);
        scan_and_sell(f, "employee", &o[i], &r);
        assert_int_equal(r.status, EVT_ECR_UNKNOWN);
    }
    evt_app_figures fig;
    evt_app_get_figures(f->t.app, &fig);
    assert_int_equal(fig.reversals_pending, 17);
    int decodes = emu_handled_count(&f->e, "ec.query");
    for (unsigned i = 0; i < 17; i++) {
        evt_app_sale(f->t.app, &o[i], &r);
        assert_int_equal(r.status, EVT_ECR_UNKNOWN);
        int live = 0, reversed = 0;
        settlements_of(f, o[i].order_id, &live, &reversed);
        assert_int_equal(live, 1); /* settled once, its reversal still owed */
    }
    assert_int_equal(emu_handled_count(&f->e, "ec.query"), decodes);
    free(keys);
}

/* ---- hole 6: an answer under any status but 200 is not understood --------------------------- */

static void http_202_with_success_body_is_reversed(void **state)
{
    fixture *f = *state;
    char *keys = keys_ok_to_everything(20);
    term_options opt = {.keys = keys};
    assert_int_equal(term_start(&f->t, &f->e, "s202", &opt), 0);
    int64_t before = emu_balance_fen(&f->e, "employee");
    assert_true(before > 0);
    assert_int_equal(emu_fault(&f->e, "2102", "status_body", "202", 1), 0);
    evt_order o;
    order_fixed(&o, "S202", 1);
    evt_ecr_result r;
    scan_and_sell(f, "employee", &o, &r);
    assert_int_equal(r.status, EVT_ECR_FAILED);
    assert_int_equal(r.error, EVT_ERR_HTTP_STATUS);
    assert_true(strstr(r.message, "已冲正") != NULL);
    char handled[256];
    assert_int_equal(emu_handled(&f->e, r.msgid, 5000, handled, sizeof handled), 0);
    int live = 0, reversed = 0;
    settlements_of(f, o.order_id, &live, &reversed);
    assert_int_equal(live, 0);
    assert_int_equal(reversed, 1);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), before);
    assert_int_equal(term_receipts(&f->t), 0);
    free(keys);
}

/* ---- hole 7: the person of 1101 is the person of the voucher -------------------------------- */

static void person_not_the_vouchers_is_refused(void **state)
{
    fixture *f = *state;
    char *keys = keys_ok_to_everything(20);
    term_options opt = {.keys = keys};
    assert_int_equal(term_start(&f->t, &f->e, "swap", &opt), 0);
    assert_int_equal(emu_fault(&f->e, "1101", "other_person", "stranger", 1), 0);
    evt_order o;
    order_fixed(&o, "SWAP", 1);
    evt_ecr_result r;
    scan_and_sell(f, "employee", &o, &r);
    assert_int_equal(r.status, EVT_ECR_REFUSED);
    assert_int_equal(r.error, EVT_ERR_PERSON_VOUCHER_MISMATCH);
    assert_true(term_screen_seen(&f->t, "参保人员信息与电子凭证不符"));
    assert_false(term_screen_seen(&f->t, "请核对患者身份"));
    assert_int_equal(emu_handled_count(&f->e, "2101"), 0);
    assert_int_equal(emu_handled_count(&f->e, "2102"), 0);
    free(keys);
}

/* ---- hole 8: no settle-reverse loop ------------------------------------------------------ */

static void unusable_answer_needs_supervisor(void **state)
{
    fixture *f = *state;
    char *keys = keys_ok_to_everything(20);
    term_options opt = {.keys = keys};
    assert_int_equal(term_start(&f->t, &f->e, "loop", &opt), 0);
    assert_int_equal(emu_fault(&f->e, "2102", "malformed_json", NULL, 1), 0);
    evt_order o;
    order_fixed(&o, "LOOP", 1);
    evt_ecr_result r;
    scan_and_sell(f, "employee", &o, &r);
    assert_int_equal(r.status, EVT_ECR_FAILED);
    assert_true(r.blocked);
    assert_true(strstr(r.message, "主管") != NULL);
    assert_true(term_screen_seen(&f->t, "请主管核实"));
    int decodes = emu_handled_count(&f->e, "ec.query");
    int settles = emu_handled_count(&f->e, "2102");
    /* The POS re-sends: no new code spent, no second settlement and reversal. */
    evt_app_sale(f->t.app, &o, &r);
    assert_int_equal(r.status, EVT_ECR_FAILED);
    assert_true(r.blocked);
    assert_int_equal(emu_handled_count(&f->e, "ec.query"), decodes);
    assert_int_equal(emu_handled_count(&f->e, "2102"), settles);
    int live = 0, reversed = 0;
    settlements_of(f, o.order_id, &live, &reversed);
    assert_int_equal(live, 0);
    assert_int_equal(reversed, 1);
    free(keys);
}

/* Runs the idle loop until text is on screen (bounded). */
static void idle_until(fixture *f, const char *text)
{
    bool quit = false;
    for (int i = 0; i < 60 && !quit && !term_screen_seen(&f->t, text); i++) {
        evt_app_step(f->t.app, 100, &quit);
    }
    assert_true(term_screen_seen(&f->t, text));
}

/* The blocked order is released by a supervisor at the terminal — not with a wrong PIN — and
 * then the POS's re-send settles it once. */
static void supervisor_releases_blocked_order(void **state)
{
    fixture *f = *state;
    char pin_line[256];
    supervisor_pin_line("246810", pin_line, sizeof pin_line);
    term_options opt = {
        .keys = "请核对患者身份 => OK\n请确认结算金额 => OK\n结算未完成 => OK\n"
                "就绪 => MENU\n功能菜单 => TYPE:3\n选择要放行的订单 => TYPE:1\n"
                "主管密码 => DIGITS:111111\n密码错误 => OK\n"
                "就绪 => MENU\n功能菜单 => TYPE:3\n选择要放行的订单 => TYPE:1\n"
                "主管密码 => DIGITS:246810\n"
                "请核对患者身份 => OK\n请确认结算金额 => OK\n结算成功 => OK\n",
        .extra_config = pin_line,
    };
    assert_int_equal(term_start(&f->t, &f->e, "release", &opt), 0);
    assert_int_equal(emu_fault(&f->e, "2102", "malformed_json", NULL, 1), 0);
    evt_order o;
    order_fixed(&o, "REL", 1);
    evt_ecr_result r;
    scan_and_sell(f, "employee", &o, &r);
    assert_true(r.blocked);
    idle_until(f, "密码错误");
    evt_app_sale(f->t.app, &o, &r); /* a wrong PIN released nothing */
    assert_true(r.blocked);
    idle_until(f, "订单已放行");
    scan_and_sell(f, "employee", &o, &r);
    assert_int_equal(r.status, EVT_ECR_SETTLED);
    int live = 0, reversed = 0;
    settlements_of(f, o.order_id, &live, &reversed);
    assert_int_equal(live, 1);
    assert_int_equal(reversed, 1);
}

/* A network failure of the same kind is not the platform's answer: retry is allowed. */
static void network_failure_may_retry(void **state)
{
    fixture *f = *state;
    char *keys = keys_ok_to_everything(20);
    term_options opt = {.keys = keys, .http_timeout_ms = 2000};
    assert_int_equal(term_start(&f->t, &f->e, "netretry", &opt), 0);
    assert_int_equal(emu_fault(&f->e, "2102", "close_mid", NULL, 1), 0);
    evt_order o;
    order_fixed(&o, "NET", 1);
    evt_ecr_result r;
    scan_and_sell(f, "employee", &o, &r);
    assert_int_equal(r.status, EVT_ECR_FAILED);
    assert_false(r.blocked);
    scan_and_sell(f, "employee", &o, &r);
    assert_int_equal(r.status, EVT_ECR_SETTLED);
    int live = 0, reversed = 0;
    settlements_of(f, o.order_id, &live, &reversed);
    assert_int_equal(live, 1);
    assert_int_equal(reversed, 1);
    free(keys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(power_cut_while_recording_settled_order, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(full_journal_refuses_before_scanning, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(unknown_order_not_started_again, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(rotten_copy_still_proves_settlement, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(unreadable_order_refused, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(seventeenth_owed_reversal_still_blocks, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(http_202_with_success_body_is_reversed, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(person_not_the_vouchers_is_refused, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(unusable_answer_needs_supervisor, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(supervisor_releases_blocked_order, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(network_failure_may_retry, it_setup, it_teardown),
    };
    if (getenv("EVT_TEST_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("EVT_TEST_FILTER"));
    }
    return cmocka_run_group_tests_name("integration.no_double", tests, NULL, NULL);
}
