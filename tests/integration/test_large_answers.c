/*
 * Answers of any size the protocol allows are read in fixed memory (issue 6): the platform's
 * answer is parsed while it arrives, so an order of EVT_ORDER_MAX_ITEMS lines, whose 2102 answer
 * carries one detlcutinfo entry per line, and an answer padded to just under the documented
 * limit (EVT_PROTO_ANSWER_MAX_BYTES) both settle, with the same arena peak as a one-line sale.
 * An answer over the limit is not one the protocol allows: the settlement is reversed exactly
 * once, the order waits for a supervisor (a resend does not settle and reverse again), and the
 * cashier is told who decides.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evt/arena.h"
#include "evt/proto.h"
#include "harness.h"

#define AMOXICILLIN "XJ01CAA040A001010100001"

static const char confirm_then_ack[] = "请核对患者身份 => OK\n"
                                       "请确认结算金额 => OK\n"
                                       "结算 => OK\n";

typedef it_fixture fixture;

/* lines x (1 box at 12.50 + line fen). */
static void order_of_lines(evt_order *o, unsigned lines)
{
    char id[40];
    order_make(o, order_id_next(id, sizeof id), AMOXICILLIN, "阿莫西林胶囊", 1, 1250);
    evt_order_clear_items(o);
    for (unsigned i = 0; i < lines; i++) {
        char medins[16], name[64];
        snprintf(medins, sizeof medins, "YP%04u", i + 1);
        snprintf(name, sizeof name, "阿莫西林胶囊 第%u行", i + 1);
        assert_int_equal(evt_order_add_item(o, AMOXICILLIN, medins, name, 1, 1250 + (evt_fen)i),
                         EVT_OK);
    }
}

/* One sale of o; returns the arena peak during it. */
static size_t sale_peak(fixture *f, evt_order *o, evt_ecr_result *r)
{
    char code[128];
    assert_int_equal(emu_code(&f->e, "employee", NULL, 120, code, sizeof code), 0);
    term_scan(&f->t, code);
    evt_arena_reset_peak();
    evt_app_sale(f->t.app, o, r);
    evt_arena_stats st;
    evt_arena_get_stats(&st);
    return st.peak;
}

static void long_answers_settle_in_fixed_memory(void **state)
{
    fixture *f = *state;
    char *keys = keys_ok_to_everything(40);
    term_options opt = {.keys = keys};
    int started = term_start(&f->t, &f->e, "large", &opt);
    free(keys); /* the terminal keeps its own copy of the script */
    assert_int_equal(started, 0);

    evt_order one, full, padded;
    evt_ecr_result r;
    order_of_lines(&one, 1);
    size_t peak_one = sale_peak(f, &one, &r);
    assert_int_equal(r.status, EVT_ECR_SETTLED);

    order_of_lines(&full, EVT_ORDER_MAX_ITEMS);
    size_t peak_full = sale_peak(f, &full, &r);
    if (r.status != EVT_ECR_SETTLED) {
        fail_msg("%u-line order: %s (%s)", (unsigned)EVT_ORDER_MAX_ITEMS, r.message,
                 evt_err_name(r.error));
    }
    assert_int_equal(r.total, full.total);

    /* The 2102 answer padded to just under the limit: still an answer the protocol allows. */
    char bytes[32];
    snprintf(bytes, sizeof bytes, "%u", EVT_PROTO_ANSWER_MAX_BYTES - 4096u);
    assert_int_equal(emu_fault(&f->e, "2102", "pad_answer", bytes, 1), 0);
    order_of_lines(&padded, 1);
    size_t peak_padded = sale_peak(f, &padded, &r);
    if (r.status != EVT_ECR_SETTLED) {
        fail_msg("padded answer: %s (%s)", r.message, evt_err_name(r.error));
    }
    print_message("arena peak: 1 line %zu B, %u lines %zu B, 1 line with a %s-byte answer %zu B\n",
                  peak_one, (unsigned)EVT_ORDER_MAX_ITEMS, peak_full, bytes, peak_padded);
    /* What the answer's length costs: nothing. The request and the receipt of a longer order
     * are bigger (their buffers are sized for the largest order, so they do not add to the
     * peak either beyond the per-line cJSON nodes of the request being built). */
    assert_true(peak_padded <= peak_one + 512u);
    assert_int_equal(emu_count(&f->e, "settlements"), 3);
    assert_true(audit_no_reversal_owed(&f->t, "after the long answers"));
}

static void answer_over_the_limit_is_reversed_once(void **state)
{
    fixture *f = *state;
    term_options opt = {.keys = confirm_then_ack};
    assert_int_equal(term_start(&f->t, &f->e, "over", &opt), 0);
    int64_t before = emu_balance_fen(&f->e, "employee");
    char bytes[32];
    snprintf(bytes, sizeof bytes, "%u", EVT_PROTO_ANSWER_MAX_BYTES + 4096u);
    /* Every 2102 answer is too large, as a platform that always sends one would. */
    assert_int_equal(emu_fault(&f->e, "2102", "pad_answer", bytes, 5), 0);

    evt_order o;
    evt_ecr_result r;
    order_of_lines(&o, 1);
    sale_peak(f, &o, &r);
    assert_int_equal(r.status, EVT_ECR_FAILED);
    assert_int_equal(r.error, EVT_ERR_HTTP_TOO_LARGE);
    assert_true(strstr(r.message, "已冲正") != NULL);
    assert_true(term_screen_seen(&f->t, "结算未完成"));
    assert_true(term_screen_seen(&f->t, "请主管核实")); /* who decides */
    assert_int_equal(term_receipts(&f->t), 0);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), before);
    assert_int_equal(emu_count(&f->e, "settlements"), 1);
    assert_int_equal(emu_count(&f->e, "reversals"), 1);

    /* The POS sends the order again: the stored answer, no second settlement or reversal. */
    assert_false(term_would_start(&f->t, o.order_id));
    evt_ecr_result again;
    evt_app_sale(f->t.app, &o, &again);
    assert_int_equal(again.status, EVT_ECR_FAILED);
    assert_true(again.blocked || again.error == EVT_ERR_HTTP_TOO_LARGE);
    assert_int_equal(emu_count(&f->e, "settlements"), 1);
    assert_int_equal(emu_count(&f->e, "reversals"), 1);
    assert_int_equal(emu_handled_count(&f->e, "2102"), 1);
    assert_true(audit_order(&f->e, &f->t, o.order_id, "after the answer over the limit"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(long_answers_settle_in_fixed_memory, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(answer_over_the_limit_is_reversed_once, it_setup,
                                        it_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
