/* evt_order: the compact order's rules — what a line may hold, the text area and the line
 * count as hard limits that leave the order unchanged, amounts and the total kept exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "evt/order.h"

static evt_order order;

static int reset(void **state)
{
    (void)state;
    memset(&order, 0xA5, sizeof order); /* nothing may rely on a zeroed struct */
    evt_order_clear_items(&order);
    return 0;
}

/* A string of n copies of c (n < sizeof buf). */
static const char *repeat(char *buf, char c, size_t n)
{
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

static void test_lines_read_back_exactly(void **state)
{
    (void)state;
    assert_int_equal(
        evt_order_add_item(&order, "XJ01CAA040A001010100001", "YP0001", "阿莫西林胶囊", 2, 1250),
        EVT_OK);
    assert_int_equal(evt_order_add_item(&order, "X02", "", "维生素C片", 1, 680), EVT_OK);
    assert_int_equal(order.item_count, 2);
    assert_int_equal(order.total, 3180);
    evt_order_item a = evt_order_item_at(&order, 0), b = evt_order_item_at(&order, 1);
    assert_string_equal(a.med_list_codg, "XJ01CAA040A001010100001");
    assert_string_equal(a.medins_list_codg, "YP0001");
    assert_string_equal(a.name, "阿莫西林胶囊");
    assert_int_equal(a.quantity, 2);
    assert_int_equal(a.price, 1250);
    assert_int_equal(a.amount, 2500);
    assert_string_equal(b.medins_list_codg, ""); /* the pharmacy's code may be empty */
    assert_int_equal(b.amount, 680);
    /* Out of range: an empty view, never a read past the lines. */
    evt_order_item none = evt_order_item_at(&order, 2);
    assert_string_equal(none.name, "");
    assert_int_equal(none.amount, 0);
    /* A copy is a whole order (no pointers inside). */
    static evt_order copy;
    copy = order;
    memset(&order, 0, sizeof order);
    assert_string_equal(evt_order_item_at(&copy, 1).name, "维生素C片");
}

static void test_field_limits(void **state)
{
    (void)state;
    char code[64], medins[64], name[128];
    assert_int_equal(evt_order_add_item(&order, repeat(code, 'C', EVT_ORDER_CODE_MAX),
                                        repeat(medins, 'M', EVT_ORDER_MEDINS_CODE_MAX),
                                        repeat(name, 'N', EVT_ORDER_NAME_MAX), 1, 1),
                     EVT_OK);
    assert_int_equal(order.text_used,
                     EVT_ORDER_CODE_MAX + EVT_ORDER_MEDINS_CODE_MAX + EVT_ORDER_NAME_MAX + 3);
    const evt_order before = order;
    const struct {
        const char *code, *medins, *name;
        uint32_t qty;
        evt_fen price;
    } bad[] = {
        {repeat(code, 'C', EVT_ORDER_CODE_MAX + 1), "M", "N", 1, 1},
        {"C", repeat(medins, 'M', EVT_ORDER_MEDINS_CODE_MAX + 1), "N", 1, 1},
        {"C", "M", repeat(name, 'N', EVT_ORDER_NAME_MAX + 1), 1, 1},
        {"", "M", "N", 1, 1},
        {"C", "M", "", 1, 1},
        {"C", "M", "N", 0, 1},
        {"C", "M", "N", 1, 0},
        {"C", "M", "N", 1, -5},
        {NULL, "M", "N", 1, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(evt_order_add_item(&order, bad[i].code, bad[i].medins, bad[i].name,
                                            bad[i].qty, bad[i].price),
                         EVT_ERR_ARG);
        assert_memory_equal(&order, &before, sizeof order);
    }
}

static void test_amounts_stay_within_16_2(void **state)
{
    (void)state;
    /* 3 x EVT_FEN_MAX / 3 is exactly EVT_FEN_MAX: accepted, exactly. */
    assert_int_equal(evt_order_add_item(&order, "C1", "M", "N", 3, EVT_FEN_MAX / 3), EVT_OK);
    assert_int_equal(order.total, EVT_FEN_MAX);
    const evt_order before = order;
    /* Any more would pass the 16,2 field: the total is refused, the order unchanged. */
    assert_int_equal(evt_order_add_item(&order, "C2", "M", "N", 1, 1), EVT_ERR_ORDER_INVALID);
    assert_memory_equal(&order, &before, sizeof order);
    evt_order_clear_items(&order);
    /* A line whose own amount passes it. */
    assert_int_equal(evt_order_add_item(&order, "C3", "M", "N", 99999, EVT_FEN_MAX / 99999 + 1),
                     EVT_ERR_ORDER_INVALID);
    assert_int_equal(order.item_count, 0);
    assert_int_equal(order.text_used, 0);
}

static void test_line_count_is_a_hard_limit(void **state)
{
    (void)state;
    for (unsigned i = 0; i < EVT_ORDER_MAX_ITEMS; i++) {
        char code[16];
        snprintf(code, sizeof code, "C%03u", i);
        assert_int_equal(evt_order_add_item(&order, code, "M", "N", 1, 1), EVT_OK);
    }
    const evt_order before = order;
    assert_int_equal(evt_order_add_item(&order, "C", "M", "N", 1, 1), EVT_ERR_ORDER_TOO_LARGE);
    assert_memory_equal(&order, &before, sizeof order);
    assert_string_equal(evt_order_item_at(&order, EVT_ORDER_MAX_ITEMS - 1).med_list_codg, "C099");
    assert_int_equal(order.total, EVT_ORDER_MAX_ITEMS);
}

/* The text area is full before the lines run out when every string is at its longest: the
 * line that does not fit is refused whole, the order stays as it was, nothing is written past
 * the area (ASan and the byte comparison would see it). */
static void test_text_area_is_a_hard_limit(void **state)
{
    (void)state;
    char code[64], medins[64], name[128];
    repeat(code, 'C', EVT_ORDER_CODE_MAX);
    repeat(medins, 'M', EVT_ORDER_MEDINS_CODE_MAX);
    repeat(name, 'N', EVT_ORDER_NAME_MAX);
    const size_t per_line = EVT_ORDER_CODE_MAX + EVT_ORDER_MEDINS_CODE_MAX + EVT_ORDER_NAME_MAX + 3;
    const size_t fit = EVT_ORDER_TEXT_BYTES / per_line;
    assert_true(fit < EVT_ORDER_MAX_ITEMS);
    for (size_t i = 0; i < fit; i++) {
        assert_int_equal(evt_order_add_item(&order, code, medins, name, 1, 1), EVT_OK);
    }
    const evt_order before = order;
    assert_int_equal(evt_order_add_item(&order, code, medins, name, 1, 1), EVT_ERR_ORDER_TOO_LARGE);
    assert_memory_equal(&order, &before, sizeof order);
    /* A shorter line still fits in what is left. */
    size_t left = EVT_ORDER_TEXT_BYTES - order.text_used;
    assert_true(left >= 4);
    assert_int_equal(evt_order_add_item(&order, "C", "", repeat(name, 'n', left - 3 - 1), 1, 1),
                     EVT_OK);
    assert_int_equal(order.text_used, EVT_ORDER_TEXT_BYTES);
    assert_int_equal(evt_order_add_item(&order, "C", "", "n", 1, 1), EVT_ERR_ORDER_TOO_LARGE);
    assert_string_equal(evt_order_item_at(&order, fit).name, name);
}

/* An order that was not built by evt_order_add_item (plain data from elsewhere) is read
 * without running off the text area. */
static void test_foreign_order_read_safely(void **state)
{
    (void)state;
    assert_int_equal(evt_order_add_item(&order, "C", "M", "N", 1, 1), EVT_OK);
    memset(order.text, 'x', sizeof order.text); /* no terminator anywhere */
    order.lines[0].text = EVT_ORDER_TEXT_BYTES - 2;
    evt_order_item it = evt_order_item_at(&order, 0);
    assert_string_equal(it.med_list_codg, "");
    assert_string_equal(it.name, "");
    order.lines[0].quantity = 0; /* no amount for a line outside the invariants */
    assert_int_equal(evt_order_item_at(&order, 0).amount, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_lines_read_back_exactly, reset),
        cmocka_unit_test_setup(test_field_limits, reset),
        cmocka_unit_test_setup(test_amounts_stay_within_16_2, reset),
        cmocka_unit_test_setup(test_line_count_is_a_hard_limit, reset),
        cmocka_unit_test_setup(test_text_area_is_a_hard_limit, reset),
        cmocka_unit_test_setup(test_foreign_order_read_safely, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
