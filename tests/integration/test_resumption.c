/*
 * TLS 1.3 session resumption between the whole terminal and the platform emulator, which
 * issues tickets like a production gateway (docs/platform-emulator.md): the next sale's
 * connection resumes (no certificate verified), a refused or expired ticket means a full
 * handshake and the sale still settles, the ticket never reaches the flash or the log, and a
 * 2102 whose answer was lost is still never sent again on the new (resumed) connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evt/https.h"
#include "harness.h"
#include "net_tap.h"

#define AMOXICILLIN "XJ01CAA040A001010100001"

typedef it_fixture fixture;

static const char confirm_all[] = "请核对患者身份 => OK\n请确认结算金额 => OK\n结算 => OK\n"
                                  "请核对患者身份 => OK\n请确认结算金额 => OK\n结算 => OK\n"
                                  "请核对患者身份 => OK\n请确认结算金额 => OK\n结算 => OK\n";

static void sell(fixture *f, evt_ecr_result *r)
{
    char code[128], id[40];
    assert_int_equal(emu_code(&f->e, "employee", NULL, 120, code, sizeof code), 0);
    term_scan(&f->t, code);
    evt_order o;
    order_make(&o, order_id_next(id, sizeof id), AMOXICILLIN, "阿莫西林胶囊", 1, 150);
    evt_app_sale(f->t.app, &o, r);
}

/* One settled sale; the handshakes it made. */
static evt_https_totals settled_sale(fixture *f)
{
    evt_https_totals before, after;
    evt_https_get_totals(&before);
    evt_ecr_result r;
    sell(f, &r);
    assert_int_equal(r.status, EVT_ECR_SETTLED);
    evt_https_get_totals(&after);
    return (evt_https_totals){
        .connections_opened = after.connections_opened - before.connections_opened,
        .full_handshakes = after.full_handshakes - before.full_handshakes,
        .resumed_handshakes = after.resumed_handshakes - before.resumed_handshakes,
        .cert_verifications = after.cert_verifications - before.cert_verifications,
    };
}

static void expect(evt_https_totals got, uint32_t full, uint32_t resumed)
{
    assert_int_equal(got.connections_opened, full + resumed);
    assert_int_equal(got.full_handshakes, full);
    assert_int_equal(got.resumed_handshakes, resumed);
    assert_int_equal(got.cert_verifications, full);
}

static void next_sale_resumes(void **state)
{
    fixture *f = *state;
    term_options opt = {.keys = confirm_all, .no_receipt_preview = true};
    assert_int_equal(term_start(&f->t, &f->e, "resume", &opt), 0);
    /* The sign-in's connection brought a ticket: every sale resumes, none verifies a
     * certificate. */
    expect(settled_sale(f), 0, 1);
    expect(settled_sale(f), 0, 1);
}

static void refused_ticket_sale_still_settles(void **state)
{
    fixture *f = *state;
    term_options opt = {.keys = confirm_all, .no_receipt_preview = true};
    assert_int_equal(term_start(&f->t, &f->e, "refused", &opt), 0);
    /* The gateway rotated its ticket key: the ticket is refused, the handshake is a full one
     * on the same connection, the sale goes on. */
    assert_int_equal(emu_fault(&f->e, "tls", "refuse_ticket", NULL, 1), 0);
    expect(settled_sale(f), 1, 0);
    /* The ticket of that full handshake is good. */
    expect(settled_sale(f), 0, 1);
}

static void expired_ticket_full_handshake(void **state)
{
    fixture *f = *state;
    emu_stop(&f->e);
    const char *short_tickets[] = {"--ticket-lifetime", "5", NULL};
    assert_int_equal(emu_start_args(&f->e, "expired", short_tickets), 0);
    term_options opt = {.keys = confirm_all, .no_receipt_preview = true};
    assert_int_equal(term_start(&f->t, &f->e, "expired", &opt), 0);
    expect(settled_sale(f), 0, 1);
    /* The terminal's clock passes the ticket's lifetime: it is not offered (the emulator's
     * clock did not move, it would still have taken it). */
    term_advance_ms(&f->t, 6000);
    expect(settled_sale(f), 1, 0);
}

/* ---- the ticket stays in RAM ---------------------------------------------------------------- */

/* The identity of the ticket, as the ClientHello of a resumed handshake carries it in the
 * clear (RFC 8446 4.2.11, pre_shared_key): the terminal's network HAL is wrapped to read it. */
typedef struct ticket_spy {
    net_tap tap;
    uint8_t identity[1024];
    size_t identity_len;
} ticket_spy;

static size_t be16(const uint8_t *p)
{
    return (size_t)p[0] << 8 | p[1];
}

/* Finds the pre_shared_key extension's first identity in a ClientHello record. */
static void spy_client_hello(ticket_spy *s, const uint8_t *d, size_t len)
{
    if (len < 5 + 4 + 2 + 32 + 1 || d[0] != 22 || d[5] != 1) {
        return; /* not a handshake record with a ClientHello */
    }
    const uint8_t *end = d + len;
    const uint8_t *p = d + 5 + 4 + 2 + 32;
    p += 1 + p[0]; /* session id */
    if (p + 2 > end) {
        return;
    }
    p += 2 + be16(p); /* cipher suites */
    if (p + 1 > end) {
        return;
    }
    p += 1 + p[0]; /* compression */
    if (p + 2 > end) {
        return;
    }
    p += 2;
    while (p + 4 <= end) {
        size_t type = be16(p), elen = be16(p + 2);
        const uint8_t *e = p + 4;
        if (e + elen > end) {
            return;
        }
        if (type == 41 && elen >= 4) { /* pre_shared_key: identities<7..>, identity<1..> */
            size_t ilen = be16(e + 2);
            if (ilen <= sizeof s->identity && e + 4 + ilen <= end) {
                memcpy(s->identity, e + 4, ilen);
                s->identity_len = ilen;
            }
            return;
        }
        p = e + elen;
    }
}

/* net_tap's on_send: every buffer the terminal sends is looked at. */
static void spy_send(void *arg, const uint8_t *d, size_t len)
{
    spy_client_hello(arg, d, len);
}

static void wrap_spy(void *arg, evt_hal_net *net)
{
    ticket_spy *s = arg;
    s->tap.on_send = spy_send;
    s->tap.on_send_arg = s;
    net_tap_wrap(&s->tap, net);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char *buf = malloc(1 << 22);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 22) - 1, fp);
    buf[*len] = '\0';
    fclose(fp);
    return buf;
}

static bool contains(const char *hay, size_t hay_len, const void *needle, size_t n)
{
    for (size_t i = 0; n > 0 && i + n <= hay_len; i++) {
        if (memcmp(hay + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

static void ticket_never_on_flash_or_in_log(void **state)
{
    fixture *f = *state;
    static ticket_spy spy;
    memset(&spy, 0, sizeof spy);
    term_options opt = {.keys = confirm_all,
                        .no_receipt_preview = true,
                        .wrap_net = wrap_spy,
                        .wrap_net_arg = &spy};
    assert_int_equal(term_start(&f->t, &f->e, "secret", &opt), 0);
    expect(settled_sale(f), 0, 1);
    assert_true(spy.identity_len >= 16); /* the resumed handshake offered a ticket */

    /* Neither the ticket nor a hex spelling of a piece of it is anywhere on flash or in the
     * log (16 bytes are enough to be sure it is the ticket and not chance). */
    char hex_lo[33], hex_up[33];
    for (int i = 0; i < 16; i++) {
        snprintf(hex_lo + 2 * i, 3, "%02x", spy.identity[i]);
        snprintf(hex_up + 2 * i, 3, "%02X", spy.identity[i]);
    }
    const char *files[] = {f->t.flash_path, NULL};
    char log_path[PATH_MAX + 16];
    snprintf(log_path, sizeof log_path, "%s/terminal.log", f->t.dir);
    files[1] = log_path;
    for (int i = 0; i < 2; i++) {
        size_t len = 0;
        char *text = read_all(files[i], &len);
        for (size_t at = 0; at + 16 <= spy.identity_len; at += 16) {
            assert_false(contains(text, len, spy.identity + at, 16));
        }
        assert_false(contains(text, len, hex_lo, 32));
        assert_false(contains(text, len, hex_up, 32));
        free(text);
    }
}

/* ---- the 2102 rule with resumption and a kept connection ------------------------------------ */

static void lost_2102_answer_never_resent(void **state)
{
    fixture *f = *state;
    term_options opt = {.keys = confirm_all,
                        .no_receipt_preview = true,
                        .http_timeout_ms = 2000,
                        .extra_config = "keep_connection_s = 30\n"};
    assert_int_equal(term_start(&f->t, &f->e, "lost2102", &opt), 0);
    int64_t before = emu_balance_fen(&f->e, "employee");
    /* The connection kept from the sign-in dies with the 2102's answer; the reversal goes
     * over a new, resumed connection. */
    assert_int_equal(emu_fault(&f->e, "2102", "close_before", NULL, 1), 0);
    evt_ecr_result r;
    sell(f, &r);
    assert_int_equal(r.status, EVT_ECR_FAILED);
    char record[512];
    assert_int_equal(emu_handled(&f->e, r.msgid, 10000, record, sizeof record), 0);
    /* One line per request with this msgid: the 2102 was sent exactly once. */
    char *nl = strchr(record, '\n');
    assert_true(nl == NULL || nl[1] == '\0');
    assert_non_null(strstr(record, "fault=close_before"));
    assert_int_equal(emu_handled_count(&f->e, "2102"), 1);
    assert_int_equal(emu_balance_fen(&f->e, "employee"), before);
    /* The next sale settles, with no certificate verified. */
    evt_https_totals h = settled_sale(f);
    assert_int_equal(h.full_handshakes, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(next_sale_resumes, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(refused_ticket_sale_still_settles, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(expired_ticket_full_handshake, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(ticket_never_on_flash_or_in_log, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(lost_2102_answer_never_resent, it_setup, it_teardown),
    };
    if (getenv("EVT_TEST_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("EVT_TEST_FILTER"));
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
