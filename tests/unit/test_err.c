/* evt_err: every code has a name, a log text and a Chinese cashier text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "evt/err.h"

static bool has_non_ascii(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s >= 0x80) {
            return true;
        }
    }
    return false;
}

static void every_code_has_three_texts(void **state)
{
    (void)state;
    for (int i = 0; i < EVT_ERR_COUNT_; i++) {
        evt_err e = (evt_err)i;
        assert_non_null(evt_err_name(e));
        assert_true(strncmp(evt_err_name(e), "EVT_", 4) == 0);
        assert_true(strlen(evt_err_log_text(e)) > 0);
        /* the cashier reads Chinese: every message must be more than an English echo */
        assert_true(has_non_ascii(evt_err_cashier_text(e)));
    }
}

static void names_are_unique(void **state)
{
    (void)state;
    for (int i = 0; i < EVT_ERR_COUNT_; i++) {
        for (int j = i + 1; j < EVT_ERR_COUNT_; j++) {
            assert_true(strcmp(evt_err_name((evt_err)i), evt_err_name((evt_err)j)) != 0);
        }
    }
}

static void out_of_range_is_safe(void **state)
{
    (void)state;
    assert_string_equal(evt_err_name(EVT_ERR_COUNT_), "EVT_ERR_UNKNOWN");
    assert_string_equal(evt_err_name((evt_err)-1), "EVT_ERR_UNKNOWN");
    assert_non_null(evt_err_cashier_text((evt_err)12345));
    assert_non_null(evt_err_log_text((evt_err)12345));
}

static void known_texts(void **state)
{
    (void)state;
    assert_string_equal(evt_err_name(EVT_OK), "EVT_OK");
    assert_string_equal(evt_err_name(EVT_ERR_VOUCHER_WECHAT_PAY), "EVT_ERR_VOUCHER_WECHAT_PAY");
    assert_non_null(strstr(evt_err_cashier_text(EVT_ERR_VOUCHER_WECHAT_PAY), "微信付款码"));
    assert_non_null(strstr(evt_err_cashier_text(EVT_ERR_TLS_CERT_UNTRUSTED), "不受信任"));
}

/* Which failures are the connection's (the sale's first call titles them so). */
static void connection_errors(void **state)
{
    (void)state;
    assert_true(evt_err_is_connection(EVT_ERR_NET_CONNECT));
    assert_true(evt_err_is_connection(EVT_ERR_NET_TIMEOUT));
    assert_true(evt_err_is_connection(EVT_ERR_TLS_CERT_UNTRUSTED));
    assert_true(evt_err_is_connection(EVT_ERR_TLS_ALERT));
    assert_true(evt_err_is_connection(EVT_ERR_HTTP_STATUS));
    assert_false(evt_err_is_connection(EVT_ERR_PLATFORM_REJECTED));
    assert_false(evt_err_is_connection(EVT_ERR_VOUCHER_EXPIRED));
    assert_false(evt_err_is_connection(EVT_ERR_JSON_MALFORMED));
    assert_false(evt_err_is_connection(EVT_OK));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_code_has_three_texts), cmocka_unit_test(names_are_unique),
        cmocka_unit_test(out_of_range_is_safe),       cmocka_unit_test(known_texts),
        cmocka_unit_test(connection_errors),
    };
    return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
