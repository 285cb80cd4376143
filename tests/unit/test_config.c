/* evt_config: the provisioning file format, defaults, and every kind of error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "evt/config.h"

/* The demo provisioning file of docs/provisioning.md. */
static const char demo[] =
    "# 和平区康宁大药房, counter 1\n"
    "platform_url = https://127.0.0.1:8443/fsi/api/rsfComIfsService/callService\n"
    "tls_server_name = platform.evt.test\n"
    "ca_file = /etc/evt/platform-ca.pem\n"
    "\n"
    "fixmedins_code  = H12010400001\n"
    "fixmedins_name  = 和平区康宁大药房\n"
    "mdtrtarea_admvs = 120104\n"
    "recer_sys_code  = TJYB\n"
    "dev_no          = H12010400001-T01\n"
    "msgid_slot      = 1\n"
    "opter           = T01\n"
    "opter_name      = 收银台1\n"
    "opter_type      = 2\n"
    "paas_id         = evt-paas-demo\n"
    "paas_token      = evt-demo-token-1234\n"
    "office_id       = YF01\n"
    "office_name     = 药房收银\n"
    "\t# optional keys\n"
    "ecr_port = 9100\n"
    "ecr_key = 5ec2e7a04b1d9c3f86a2e0d47b9f13c58e6a0d2b7f4c1e9a3d5b8f0c2e6a4d71\n"
    "paper_width_mm = 80\n"
    "receipt_qr = native\n";

/* Required keys only, for building error cases. */
static const char minimal[] = "platform_url = https://platform.example.cn/fsi/api\n"
                              "ca_file = ca.pem\n"
                              "fixmedins_code = H12010400001\n"
                              "fixmedins_name = 药房\n"
                              "mdtrtarea_admvs = 120104\n"
                              "recer_sys_code = TJYB\n"
                              "dev_no = T01\n"
                              "msgid_slot = 0\n"
                              "opter = T01\n"
                              "opter_name = 收银\n"
                              "opter_type = 1\n"
                              "paas_id = p\n"
                              "paas_token = evt-demo-token-1234\n"
                              "office_id = YF\n"
                              "office_name = 药房\n";

/* A fixed pairing key for tests (never a real one). */
#define TEST_ECR_KEY "00112233445566778899aabbccddeeffF0E1D2C3B4A5968778695A4B3C2D1E0F"

static evt_config cfg;
static char msg[160];

static evt_err parse(const char *text)
{
    memset(msg, 0, sizeof msg);
    return evt_config_parse(text, strlen(text), &cfg, msg, sizeof msg);
}

/* minimal + one extra line appended (the extra is line 16). */
static evt_err parse_with(const char *extra)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s%s\n", minimal, extra);
    return parse(buf);
}

static void expect_invalid(const char *extra, const char *want_msg)
{
    evt_err err = parse_with(extra);
    if (err != EVT_ERR_CONFIG_INVALID || strcmp(msg, want_msg) != 0) {
        fail_msg("for [%s]: got %s \"%s\", want \"%s\"", extra, evt_err_name(err), msg, want_msg);
    }
    assert_null(strstr(msg, "evt-demo-token-1234"));
}

static void test_demo_file(void **state)
{
    (void)state;
    assert_int_equal(parse(demo), EVT_OK);
    assert_string_equal(msg, "");
    assert_string_equal(cfg.host, "127.0.0.1");
    assert_int_equal(cfg.port, 8443);
    assert_string_equal(cfg.path, "/fsi/api/rsfComIfsService/callService");
    assert_false(cfg.host_is_ipv6);
    assert_string_equal(cfg.tls_server_name, "platform.evt.test");
    assert_string_equal(cfg.ca_file, "/etc/evt/platform-ca.pem");
    assert_string_equal(cfg.fixmedins_code, "H12010400001");
    assert_string_equal(cfg.fixmedins_name, "和平区康宁大药房");
    assert_string_equal(cfg.mdtrtarea_admvs, "120104");
    assert_string_equal(cfg.recer_sys_code, "TJYB");
    assert_string_equal(cfg.dev_no, "H12010400001-T01");
    assert_int_equal(cfg.msgid_slot, 1);
    assert_string_equal(cfg.opter, "T01");
    assert_string_equal(cfg.opter_name, "收银台1");
    assert_int_equal(cfg.opter_type, 2);
    assert_string_equal(cfg.paas_id, "evt-paas-demo");
    assert_string_equal(cfg.paas_token, "evt-demo-token-1234");
    assert_string_equal(cfg.office_id, "YF01");
    assert_string_equal(cfg.office_name, "药房收银");
    assert_int_equal(cfg.ecr_port, 9100);
    assert_true(cfg.ecr_key_set);
    static const uint8_t demo_key[32] = {0x5e, 0xc2, 0xe7, 0xa0, 0x4b, 0x1d, 0x9c, 0x3f,
                                         0x86, 0xa2, 0xe0, 0xd4, 0x7b, 0x9f, 0x13, 0xc5,
                                         0x8e, 0x6a, 0x0d, 0x2b, 0x7f, 0x4c, 0x1e, 0x9a,
                                         0x3d, 0x5b, 0x8f, 0x0c, 0x2e, 0x6a, 0x4d, 0x71};
    assert_memory_equal(cfg.ecr_key, demo_key, sizeof demo_key);
    assert_int_equal(cfg.paper_width_mm, 80);
    assert_int_equal(cfg.receipt_qr, EVT_RECEIPT_QR_NATIVE);
    /* defaults */
    assert_string_equal(cfg.infver, "V1.0");
    assert_string_equal(cfg.ecr_bind, "127.0.0.1");
    assert_int_equal(cfg.http_timeout_ms, 15000);
    assert_int_equal(cfg.connect_timeout_ms, 5000);
    assert_int_equal(cfg.keep_connection_s, 0); /* closed at the end of every sale */
    assert_string_equal(cfg.business_type, "02121");
    assert_int_equal(cfg.order_max_total, 2000000); /* 20000.00 yuan */
}

static void test_the_docs_example_parses(void **state)
{
    (void)state;
    /* docs/provisioning.md carries the full example between ```ini fences; it must stay
     * valid. */
    FILE *f = fopen(EVT_SOURCE_DIR "/docs/provisioning.md", "rb");
    assert_non_null(f);
    static char doc[32768];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = '\0';
    char *start = strstr(doc, "```ini\n");
    assert_non_null(start);
    start += 7;
    char *end = strstr(start, "```");
    assert_non_null(end);
    assert_int_equal(evt_config_parse(start, (size_t)(end - start), &cfg, msg, sizeof msg), EVT_OK);
    assert_string_equal(cfg.fixmedins_code, "H12010400001");
    assert_string_equal(cfg.fixmedins_name, "和平区康宁大药房");
    assert_string_equal(cfg.mdtrtarea_admvs, "120104");
    assert_string_equal(cfg.paas_id, "evt-paas-demo");
    assert_string_equal(cfg.paas_token, "evt-demo-token-1234");
    assert_int_equal(cfg.ecr_port, 9100);
    assert_true(cfg.ecr_key_set);
    assert_int_equal(cfg.order_max_total, 2000000);
}

static void test_minimal_defaults(void **state)
{
    (void)state;
    assert_int_equal(parse(minimal), EVT_OK);
    assert_string_equal(cfg.host, "platform.example.cn");
    assert_int_equal(cfg.port, 443);
    assert_string_equal(cfg.path, "/fsi/api");
    assert_string_equal(cfg.tls_server_name, "platform.example.cn");
    assert_int_equal(cfg.ecr_port, 0);
    assert_int_equal(cfg.paper_width_mm, 58);
    assert_int_equal(cfg.receipt_qr, EVT_RECEIPT_QR_RASTER);
    assert_int_equal(cfg.msgid_slot, 0);
    assert_false(cfg.ecr_key_set);
    assert_int_equal(cfg.order_max_total, EVT_CONFIG_DEFAULT_ORDER_MAX_TOTAL);
}

static void test_crlf_bom_whitespace_comments(void **state)
{
    (void)state;
    char buf[4096];
    size_t o = 0;
    o += (size_t)snprintf(buf + o, sizeof buf - o, "\xEF\xBB\xBF# comment first\r\n");
    /* Convert minimal's LF to CR LF and indent with tabs and spaces. */
    for (const char *p = minimal; *p; p++) {
        if (p == minimal || p[-1] == '\n') {
            buf[o++] = '\t';
            buf[o++] = ' ';
        }
        if (*p == '\n') {
            buf[o++] = ' ';
            buf[o++] = '\r';
        }
        buf[o++] = *p;
    }
    o += (size_t)snprintf(buf + o, sizeof buf - o,
                          "   \r\n  # indented comment = with equals\r\nbusiness_type=01101");
    assert_int_equal(evt_config_parse(buf, o, &cfg, msg, sizeof msg), EVT_OK);
    assert_string_equal(cfg.opter_name, "收银");
    assert_string_equal(cfg.business_type, "01101"); /* last line without newline */
}

static void test_hash_in_value_is_kept(void **state)
{
    (void)state;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", minimal);
    char *tok = strstr(buf, "evt-demo-token-1234");
    assert_non_null(tok);
    memcpy(tok, "evt#demo#token#1234", 19);
    assert_int_equal(parse(buf), EVT_OK);
    assert_string_equal(cfg.paas_token, "evt#demo#token#1234");
}

static void test_urls(void **state)
{
    (void)state;
    const char *head = strchr(minimal, '\n') + 1; /* minimal without its platform_url line */
    char buf[4096];

    snprintf(buf, sizeof buf, "platform_url = https://[::1]:9443/fsi/x?a=1\n%s", head);
    assert_int_equal(parse(buf), EVT_OK);
    assert_string_equal(cfg.host, "::1");
    assert_true(cfg.host_is_ipv6);
    assert_int_equal(cfg.port, 9443);
    assert_string_equal(cfg.path, "/fsi/x?a=1");
    assert_string_equal(cfg.tls_server_name, "::1");

    snprintf(buf, sizeof buf, "platform_url = HTTPS://[2001:db8::10]\n%s", head);
    assert_int_equal(parse(buf), EVT_OK);
    assert_string_equal(cfg.host, "2001:db8::10");
    assert_int_equal(cfg.port, 443);
    assert_string_equal(cfg.path, "/");

    snprintf(buf, sizeof buf, "platform_url = https://hsa.tj.gov.cn:65535\n%s", head);
    assert_int_equal(parse(buf), EVT_OK);
    assert_int_equal(cfg.port, 65535);
    assert_string_equal(cfg.path, "/");

    static const struct {
        const char *url;
        const char *why;
    } bad[] = {
        {"http://h/x", "must start with https://"},
        {"ftp://h/x", "must start with https://"},
        {"https://", "invalid host (expected https://host[:port]/path)"},
        {"https:///x", "invalid host (expected https://host[:port]/path)"},
        {"https://user@h/x", "invalid host (expected https://host[:port]/path)"},
        {"https://-h/x", "invalid host (expected https://host[:port]/path)"},
        {"https://h..cn/x", "invalid host (expected https://host[:port]/path)"},
        {"https://h:0/x", "invalid port (1-65535)"},
        {"https://h:65536/x", "invalid port (1-65535)"},
        {"https://h:/x", "invalid port (1-65535)"},
        {"https://h:8a/x", "invalid port (1-65535)"},
        {"https://[::1/x", "IPv6 literal without closing ]"},
        {"https://[zz::1]/x", "invalid IPv6 literal"},
        {"https://[::1]x/x", "invalid port (1-65535)"},
        {"https://h/x#frag", "must not contain a fragment (#)"},
        {"https://h/a b", "must be printable ASCII without spaces"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(buf, sizeof buf, "platform_url = %s\n%s", bad[i].url, head);
        char want[128];
        snprintf(want, sizeof want, "line 1: platform_url: %s", bad[i].why);
        evt_err err = parse(buf);
        if (err != EVT_ERR_CONFIG_INVALID || strcmp(msg, want) != 0) {
            fail_msg("%s: got %s \"%s\", want \"%s\"", bad[i].url, evt_err_name(err), msg, want);
        }
    }
}

static void test_value_errors(void **state)
{
    (void)state;
    expect_invalid("tls_server_name = bad_host!",
                   "line 16: tls_server_name: must be a host name or IP literal");
    expect_invalid("time_server = ntp server",
                   "line 16: time_server: must be a host name or IPv4 literal");
    expect_invalid("time_server = ::1",
                   "line 16: time_server: must be a host name or IPv4 literal");
    expect_invalid("ecr_port = 65536", "line 16: ecr_port: must be 0 (off) or a port 1-65535");
    expect_invalid("ecr_port = -1", "line 16: ecr_port: must be 0 (off) or a port 1-65535");
    expect_invalid("ecr_port = 0100", "line 16: ecr_port: must be 0 (off) or a port 1-65535");
    expect_invalid("ecr_bind = 256.0.0.1",
                   "line 16: ecr_bind: must be an IPv4 or IPv6 address literal");
    expect_invalid("ecr_bind = localhost",
                   "line 16: ecr_bind: must be an IPv4 or IPv6 address literal");
    expect_invalid("paper_width_mm = 57", "line 16: paper_width_mm: must be 58 or 80");
    expect_invalid("receipt_qr = RASTER", "line 16: receipt_qr: must be raster or native");
    expect_invalid("http_timeout_ms = 999",
                   "line 16: http_timeout_ms: must be milliseconds 1000-600000");
    expect_invalid("connect_timeout_ms = 5s",
                   "line 16: connect_timeout_ms: must be milliseconds 100-600000");
    expect_invalid("keep_connection_s = 3601",
                   "line 16: keep_connection_s: must be seconds 0-3600");
    expect_invalid("keep_connection_s = -1", "line 16: keep_connection_s: must be seconds 0-3600");
    expect_invalid("business_type = 2121", "line 16: business_type: must be 5 digits (e.g. 02121)");
    expect_invalid("infver = V1.0.0.0", "line 16: infver: too long");
    expect_invalid("infver = ",
                   "line 16: infver: empty value (remove the line to use the default)");
    expect_invalid("no equals sign here", "line 16: expected key = value");
    expect_invalid("= value", "line 16: invalid key name (expected lowercase key = value)");
    expect_invalid("Paas_Token = x", "line 16: invalid key name (expected lowercase key = value)");
    expect_invalid("platform url = x",
                   "line 16: invalid key name (expected lowercase key = value)");
    expect_invalid("colour = blue", "line 16: unknown key: colour");
    expect_invalid("paas_token = other", "line 16: paas_token: already set on line 13");
    expect_invalid("fixmedins_code = H1201040000",
                   "line 16: fixmedins_code: already set on line 3");
}

/* Replaces the value of `key` in minimal and parses. */
static evt_err parse_replacing(const char *key, const char *value)
{
    static char buf[4096];
    const char *line = strstr(minimal, key);
    assert_non_null(line);
    const char *eol = strchr(line, '\n');
    snprintf(buf, sizeof buf, "%.*s%s = %s%s", (int)(line - minimal), minimal, key, value, eol);
    return parse(buf);
}

static void expect_replace_invalid(const char *key, const char *value, const char *want)
{
    evt_err err = parse_replacing(key, value);
    if (err != EVT_ERR_CONFIG_INVALID || strcmp(msg, want) != 0) {
        fail_msg("%s: got %s \"%s\", want \"%s\"", key, evt_err_name(err), msg, want);
    }
    assert_null(strstr(msg, value[0] ? value : "\x01"));
}

static void test_required_value_rules(void **state)
{
    (void)state;
    expect_replace_invalid("fixmedins_code", "H1201040000",
                           "line 3: fixmedins_code: must be 12 letters or digits");
    expect_replace_invalid("fixmedins_code", "H12010400001X",
                           "line 3: fixmedins_code: must be 12 letters or digits");
    expect_replace_invalid("fixmedins_code", "H1201040000-",
                           "line 3: fixmedins_code: must be 12 letters or digits");
    expect_replace_invalid("mdtrtarea_admvs", "12010", "line 5: mdtrtarea_admvs: must be 6 digits");
    expect_replace_invalid("mdtrtarea_admvs", "12010A",
                           "line 5: mdtrtarea_admvs: must be 6 digits");
    expect_replace_invalid("recer_sys_code", "ABCDEFGHIJK", "line 6: recer_sys_code: too long");
    expect_replace_invalid("dev_no", "T 01",
                           "line 7: dev_no: must be printable ASCII without spaces");
    expect_replace_invalid("msgid_slot", "10", "line 8: msgid_slot: must be one digit 0-9");
    expect_replace_invalid("opter_type", "4", "line 11: opter_type: must be 1, 2 or 3");
    expect_replace_invalid("opter_type", "0", "line 11: opter_type: must be 1, 2 or 3");
    /* The secret's checker fails without echoing it. */
    expect_replace_invalid("paas_token", "secret token",
                           "line 13: paas_token: must be printable ASCII without spaces");
    /* 50 bytes fit opter_name (16 CJK characters = 48 bytes), 51 do not. */
    assert_int_equal(parse_replacing("opter_name", "一二三四五六七八九十一二三四五六ab"), EVT_OK);
    expect_replace_invalid("opter_name", "一二三四五六七八九十一二三四五六abc",
                           "line 10: opter_name: too long");
    expect_replace_invalid("fixmedins_name", "药\x01房",
                           "line 4: fixmedins_name: contains control characters");
    assert_int_equal(parse_replacing("office_id", "YF-01"), EVT_OK);
    assert_string_equal(cfg.office_id, "YF-01");
}

static void test_optional_accepted_values(void **state)
{
    (void)state;
    assert_int_equal(parse_with("ecr_bind = ::"), EVT_OK);
    assert_string_equal(cfg.ecr_bind, "::");
    assert_int_equal(parse_with("ecr_bind = 0.0.0.0"), EVT_OK);
    assert_int_equal(parse_with("ecr_bind = fe80::1:2"), EVT_OK);
    assert_int_equal(parse_with("ecr_port = 0"), EVT_OK);
    assert_int_equal(cfg.ecr_port, 0);
    assert_int_equal(parse_with("ecr_port = 65535\necr_key = " TEST_ECR_KEY), EVT_OK);
    assert_int_equal(cfg.ecr_port, 65535);
    assert_int_equal(parse_with("http_timeout_ms = 600000"), EVT_OK);
    assert_int_equal(cfg.http_timeout_ms, 600000);
    assert_int_equal(parse_with("time_server = ntp.evt.test"), EVT_OK);
    assert_string_equal(cfg.time_server, "ntp.evt.test");
    assert_int_equal(parse_with("time_server = 10.0.2.2"), EVT_OK);
    assert_string_equal(cfg.time_server, "10.0.2.2");
    assert_int_equal(parse_with("tls_server_name = ::1"), EVT_OK);
    assert_int_equal(parse_with("receipt_qr = raster"), EVT_OK);
    assert_int_equal(parse_with("infver = V1.1"), EVT_OK);
    assert_string_equal(cfg.infver, "V1.1");
}

/* The parser gets a length, not a C string: nothing may read past text + len. The buffer is
 * exactly the file (heap, no NUL after it), so ASan reports any byte read beyond it. */
static evt_err parse_exact_heap(const char *text, size_t len)
{
    char *exact = malloc(len);
    assert_non_null(exact);
    memcpy(exact, text, len);
    memset(msg, 0, sizeof msg);
    evt_err err = evt_config_parse(exact, len, &cfg, msg, sizeof msg);
    free(exact);
    return err;
}

static void test_value_at_end_of_unterminated_buffer(void **state)
{
    (void)state;
    /* The 11-byte file of the ASan report: valid syntax, then the buffer ends. */
    assert_int_equal(parse_exact_heap("ecr_bind=::", 11), EVT_ERR_CONFIG_MISSING);
    assert_string_equal(msg, "missing key: platform_url");
    /* Every kind of value last in a file without a newline (each checker at the very end). */
    static const char *const last_lines[] = {
        "ecr_bind = ::",           "ecr_bind = ::1",
        "ecr_bind = 10.0.0.1",     "tls_server_name = ::1",
        "tls_server_name = h.cn",  "ecr_key = " TEST_ECR_KEY "\necr_port = 9100",
        "ecr_key = " TEST_ECR_KEY, "order_max_total = 20000.00",
        "business_type = 01101",   "item_1 = X01|Y|药|12.50",
        "receipt_qr = native",     "paper_width_mm = 80",
        "http_timeout_ms = 1000",  "infver = V2",
    };
    char buf[4096];
    for (size_t i = 0; i < sizeof last_lines / sizeof last_lines[0]; i++) {
        int n = snprintf(buf, sizeof buf, "%s%s", minimal, last_lines[i]);
        if (parse_exact_heap(buf, (size_t)n) != EVT_OK) {
            fail_msg("[%s] last: %s", last_lines[i], msg);
        }
    }
}

/* Text after a value (the next lines) is not part of it. */
static void test_later_lines_do_not_leak_into_a_value(void **state)
{
    (void)state;
    assert_int_equal(parse_with("ecr_bind = ::1\n# :::"), EVT_OK);
    assert_string_equal(cfg.ecr_bind, "::1");
    assert_int_equal(parse_with("tls_server_name = ::1\n# 2001:db8:::1 is not an address"), EVT_OK);
    assert_string_equal(cfg.tls_server_name, "::1");
    assert_int_equal(parse_with("ecr_bind = 2001:db8::1\ninfver = V1:::"), EVT_OK);
    assert_string_equal(cfg.ecr_bind, "2001:db8::1");
    /* There are no inline comments: '#' after a value is part of it, and an address with a
     * comment behind it is not an address (the message names the key, not the text). */
    expect_invalid("ecr_bind = ::1   # :::",
                   "line 16: ecr_bind: must be an IPv4 or IPv6 address literal");
}

static void test_ipv6_shapes(void **state)
{
    (void)state;
    static const char *const good[] = {
        "::",
        "::1",
        "1::",
        "fe80::1:2",
        "2001:db8::10",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6::8",
        "1::3:4:5:6:7:8",
        "::ffff:192.0.2.1",
        "64:ff9b::192.0.2.33",
        "1:2:3:4:5:6:1.2.3.4",
        "ABCD:ef01::",
        "1:2:3:4:5:6:7::", /* "::" for one group is valid text (RFC 5952 only advises against it) */
    };
    static const char *const bad[] = {
        ":",
        ":::",
        "1:::2",
        "1::2::3",
        ":1::2",
        "1::2:",
        "1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7:8::",
        "::1:2:3:4:5:6:7:8",
        "12345::1",
        "::g",
        "::1.2.3",
        "::1.2.3.4.5",
        "::256.1.1.1",
        "::1.2.3.4:1",
        "1.2.3.4::",
        "::01.2.3.4",
        "1:2:3:4:5:6:7:1.2.3.4",
    };
    char line[128];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(line, sizeof line, "ecr_bind = %s", good[i]);
        if (parse_with(line) != EVT_OK || strcmp(cfg.ecr_bind, good[i]) != 0) {
            fail_msg("[%s] refused: %s", good[i], msg);
        }
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(line, sizeof line, "ecr_bind = %s", bad[i]);
        expect_invalid(line, "line 16: ecr_bind: must be an IPv4 or IPv6 address literal");
        snprintf(line, sizeof line, "platform_url = https://[%s]/x", bad[i]);
        char buf[4096];
        snprintf(buf, sizeof buf, "%s\n%s", line, strchr(minimal, '\n') + 1);
        if (parse(buf) != EVT_ERR_CONFIG_INVALID) {
            fail_msg("[%s] accepted in platform_url", bad[i]);
        }
    }
}

static void test_ecr_key(void **state)
{
    (void)state;
    assert_int_equal(parse_with("ecr_port = 9100\necr_key = " TEST_ECR_KEY), EVT_OK);
    assert_true(cfg.ecr_key_set);
    static const uint8_t want[32] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                     0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
                                     0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
                                     0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f};
    assert_memory_equal(cfg.ecr_key, want, sizeof want);
    /* A key without the link is harmless; the link without a key is not. */
    assert_int_equal(parse_with("ecr_key = " TEST_ECR_KEY), EVT_OK);
    assert_int_equal(parse_with("ecr_port = 0"), EVT_OK);
    assert_false(cfg.ecr_key_set);
    assert_int_equal(parse_with("ecr_port = 9100"), EVT_ERR_CONFIG_MISSING);
    assert_string_equal(msg, "missing key: ecr_key (required when ecr_port is not 0)");
    static const evt_config zero;
    assert_memory_equal(&cfg, &zero, sizeof cfg);

    /* Wrong values: one message, never the value (not even its good-looking parts). */
    static const char *const bad[] = {
        "00112233445566778899aabbccddeeffF0E1D2C3B4A5968778695A4B3C2D1E0",   /* 63 */
        "00112233445566778899aabbccddeeffF0E1D2C3B4A5968778695A4B3C2D1E0F0", /* 65 */
        "00112233445566778899aabbccddeeffF0E1D2C3B4A5968778695A4B3C2D1E0g",  /* not hex */
        "0x112233445566778899aabbccddeeffF0E1D2C3B4A5968778695A4B3C2D1E0F",  /* prefix */
        "00112233445566778899aabbccddeeff F0E1D2C3B4A5968778695A4B3C2D1E0",  /* space */
        "ABCD",
    };
    char line[160];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(line, sizeof line, "ecr_port = 9100\necr_key = %s", bad[i]);
        expect_invalid(line, "line 17: ecr_key: must be 64 hex digits (32 bytes)");
        assert_null(strstr(msg, "00112233"));
        assert_null(strstr(msg, "ABCD"));
        assert_memory_equal(&cfg, &zero, sizeof cfg);
    }
    expect_invalid("ecr_key = 0000000000000000000000000000000000000000000000000000000000000000",
                   "line 16: ecr_key: must not be all zeros (a template placeholder, not a key)");
    expect_invalid("ecr_key = " TEST_ECR_KEY "\necr_key = " TEST_ECR_KEY,
                   "line 17: ecr_key: already set on line 16");
}

static void test_order_max_total(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        evt_fen fen;
    } good[] = {
        {"20000.00", 2000000},
        {"0.01", 1},
        {"5000", 500000},
        {"12.5", 1250},
        {"99999999999999.99", INT64_C(9999999999999999)},
    };
    char line[96];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(line, sizeof line, "order_max_total = %s", good[i].text);
        if (parse_with(line) != EVT_OK || cfg.order_max_total != good[i].fen) {
            fail_msg("[%s]: %s", good[i].text, msg);
        }
    }
    static const char *const bad[] = {
        "0",  "0.00", "-1", "-0.01", "12.345", "12.500", "1e3",  "12,50",           "+5",
        "1.", ".5",   "01", "１２",  "12 元",  "NaN",    "5..0", "100000000000000", "12.5.0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(line, sizeof line, "order_max_total = %s", bad[i]);
        expect_invalid(line, "line 16: order_max_total: must be a positive amount in yuan with at "
                             "most 2 decimals, like 20000.00");
    }
}

static void test_item_prices(void **state)
{
    (void)state;
    assert_int_equal(parse_with("item_9 = X01||阿莫西林胶囊|12.5"), EVT_OK);
    assert_string_equal(cfg.items[8].med_list_codg, "X01");
    assert_string_equal(cfg.items[8].medins_list_codg, "");
    assert_string_equal(cfg.items[8].name, "阿莫西林胶囊");
    assert_int_equal(cfg.items[8].price, 1250);
    static const char *const bad_prices[] = {"0", "0.00", "-1.00", "12.500", "12.345", "", "1e2"};
    char line[96];
    for (size_t i = 0; i < sizeof bad_prices / sizeof bad_prices[0]; i++) {
        snprintf(line, sizeof line, "item_1 = X01|Y|药|%s", bad_prices[i]);
        expect_invalid(line, "line 16: item_1: price must be a positive amount like 12.50");
    }
    expect_invalid("item_1 = X01|Y|12.50",
                   "line 16: item_1: expected med_list_codg|medins_list_codg|name|price");
    expect_invalid("item_1 = |Y|药|12.50", "line 16: item_1: catalogue code and name are required");
}

static void test_missing_keys(void **state)
{
    (void)state;
    assert_int_equal(parse(""), EVT_ERR_CONFIG_MISSING);
    assert_string_equal(msg, "missing key: platform_url");
    /* Drop each required line in turn. */
    const char *line = minimal;
    while (*line) {
        const char *eol = strchr(line, '\n');
        char buf[4096];
        snprintf(buf, sizeof buf, "%.*s%s", (int)(line - minimal), minimal, eol + 1);
        char key[64];
        size_t klen = (size_t)(strchr(line, ' ') - line);
        /* The legacy single operator may be replaced by operator_N lines: the message says so. */
        bool legacy = strncmp(line, "opter ", 6) == 0 || strncmp(line, "opter_name ", 11) == 0;
        snprintf(key, sizeof key, "missing key: %.*s%s", (int)klen, line,
                 legacy ? " (or operator_1 lines)" : "");
        assert_int_equal(parse(buf), EVT_ERR_CONFIG_MISSING);
        assert_string_equal(msg, key);
        line = eol + 1;
    }
}

#define OP_HASH                                                                                    \
    "pbkdf2-sha256$20000$00112233445566778899aabbccddeeff$"                                        \
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* minimal without the legacy opter lines, + extra. */
static evt_err parse_operators(const char *extra)
{
    static char buf[4096];
    const char *a = strstr(minimal, "opter = ");
    const char *b = strstr(minimal, "opter_type");
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(a - minimal), minimal, b, extra);
    return parse(buf);
}

static void test_operators(void **state)
{
    (void)state;
    /* Legacy: the one operator, no operator lines. */
    assert_int_equal(parse(minimal), EVT_OK);
    assert_int_equal(cfg.operator_count, 0);
    assert_int_equal(parse_operators("operator_1 = 0001|刘晓梅|cashier|" OP_HASH "\n"
                                     "operator_2 = 0002|王主管|supervisor|" OP_HASH "\n"),
                     EVT_OK);
    assert_int_equal(cfg.operator_count, 2);
    /* Read from the text when needed, not held in the struct. */
    evt_config_operator op;
    assert_int_equal(evt_config_operator_get(&cfg, 0, &op), EVT_OK);
    assert_string_equal(op.id, "0001");
    assert_string_equal(op.name, "刘晓梅");
    assert_int_equal(op.role, EVT_OPERATOR_CASHIER);
    assert_int_equal(evt_config_operator_get(&cfg, 1, &op), EVT_OK);
    assert_int_equal(op.role, EVT_OPERATOR_SUPERVISOR);
    assert_true(op.pin.set);
    assert_int_equal(op.pin.iterations, 20000);
    assert_int_equal(op.pin.salt_len, 16);
    assert_int_equal(evt_config_operator_get(&cfg, 2, &op), EVT_ERR_NOT_FOUND);
    assert_int_equal(evt_config_operator_find(&cfg, "0002", &op), EVT_OK);
    assert_string_equal(op.name, "王主管");
    assert_int_equal(evt_config_operator_find(&cfg, "0003", &op), EVT_ERR_NOT_FOUND);
    assert_int_equal(cfg.supervisor_count, 1);
    /* Neither the legacy operator nor any operator line: who signs in? */
    assert_int_equal(parse_operators(""), EVT_ERR_CONFIG_MISSING);
    assert_string_equal(msg, "missing key: opter (or operator_1 lines)");
    /* Both at once: ambiguous. */
    assert_int_equal(parse_with("operator_1 = 0001|刘晓梅|cashier|" OP_HASH),
                     EVT_ERR_CONFIG_INVALID);
    assert_string_equal(msg,
                        "opter/opter_name: not with operator_N lines (each operator signs in)");
    assert_int_equal(parse_operators("operator_2 = 0001|刘晓梅|cashier|" OP_HASH "\n"),
                     EVT_ERR_CONFIG_INVALID);
    assert_string_equal(msg, "operator_N: numbered without gaps from operator_1");
    assert_int_equal(parse_operators("operator_1 = 0001|刘晓梅|cashier|" OP_HASH "\n"
                                     "operator_2 = 0001|王主管|supervisor|" OP_HASH "\n"),
                     EVT_ERR_CONFIG_INVALID);
    assert_string_equal(msg, "operator_N: two operators with one id");
    assert_int_equal(parse_operators("operator_1 = 0001|刘晓梅|boss|" OP_HASH "\n"),
                     EVT_ERR_CONFIG_INVALID);
    assert_string_equal(msg, "line 14: operator_1: role must be cashier or supervisor");
    assert_int_equal(parse_operators("operator_1 = 0001|刘晓梅|cashier|123456\n"),
                     EVT_ERR_CONFIG_INVALID);
    assert_non_null(strstr(msg, "line 14: operator_1: must be pbkdf2-sha256$"));
    assert_int_equal(parse_operators("operator_1 = 0001|cashier|" OP_HASH "\n"),
                     EVT_ERR_CONFIG_INVALID);
    assert_string_equal(msg,
                        "line 14: operator_1: expected id|name|cashier or supervisor|PIN hash");
}

/* Who authorises refunds and releases: the supervisor operators when there are any, else the
 * shared supervisor_pin — never both, so a refund always says which supervisor it was. */
static void test_supervisor_role_and_supervisor_pin(void **state)
{
    (void)state;
    assert_int_equal(parse_operators("operator_1 = 0001|刘晓梅|cashier|" OP_HASH "\n"
                                     "operator_2 = 0002|王主管|supervisor|" OP_HASH "\n"
                                     "operator_3 = 0003|李主管|supervisor|" OP_HASH "\n"),
                     EVT_OK);
    assert_int_equal(cfg.operator_count, 3);
    assert_int_equal(cfg.supervisor_count, 2);
    assert_false(cfg.supervisor_pin.set);
    /* Cashiers only: the shared supervisor PIN still authorises. */
    assert_int_equal(parse_operators("operator_1 = 0001|刘晓梅|cashier|" OP_HASH "\n"
                                     "supervisor_pin = " OP_HASH "\n"),
                     EVT_OK);
    assert_int_equal(cfg.supervisor_count, 0);
    assert_true(cfg.supervisor_pin.set);
    /* The legacy operator with the shared PIN: as before. */
    assert_int_equal(parse_with("supervisor_pin = " OP_HASH), EVT_OK);
    assert_int_equal(cfg.supervisor_count, 0);
    assert_true(cfg.supervisor_pin.set);
    /* A supervisor operator and the shared PIN: refused, the struct left zeroed. */
    assert_int_equal(parse_operators("operator_1 = 0001|刘晓梅|cashier|" OP_HASH "\n"
                                     "operator_2 = 0002|王主管|supervisor|" OP_HASH "\n"
                                     "supervisor_pin = " OP_HASH "\n"),
                     EVT_ERR_CONFIG_INVALID);
    assert_string_equal(
        msg, "supervisor_pin: not with supervisor operators (each supervisor has their own PIN)");
    assert_int_equal(cfg.operator_count, 0);
    assert_int_equal(cfg.supervisor_count, 0);
    assert_false(cfg.supervisor_pin.set);
}

static void test_invalid_utf8_and_nul(void **state)
{
    (void)state;
    expect_invalid("fixmedins_name_x = \xE5\xBC", "line 16: not valid UTF-8 text");
    char buf[4096];
    size_t n = (size_t)snprintf(buf, sizeof buf, "%sinfver = V1", minimal);
    buf[n - 1] = '\0'; /* NUL inside the text */
    assert_int_equal(evt_config_parse(buf, n, &cfg, msg, sizeof msg), EVT_ERR_CONFIG_INVALID);
    assert_string_equal(msg, "line 16: not valid UTF-8 text");
}

static void test_error_leaves_struct_zeroed_and_small_msg(void **state)
{
    (void)state;
    assert_int_equal(parse_with("colour = blue"), EVT_ERR_CONFIG_INVALID);
    static const evt_config zero;
    assert_memory_equal(&cfg, &zero, sizeof cfg);
    char tiny[8];
    assert_int_equal(evt_config_parse(minimal, 10, &cfg, tiny, sizeof tiny),
                     EVT_ERR_CONFIG_INVALID);
    assert_string_equal(tiny, "line 1:");
    assert_int_equal(evt_config_parse(minimal, strlen(minimal), &cfg, NULL, 0), EVT_OK);
    assert_int_equal(evt_config_parse(NULL, 0, &cfg, msg, sizeof msg), EVT_ERR_ARG);
    assert_int_equal(evt_config_parse(minimal, 1, NULL, msg, sizeof msg), EVT_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_file),
        cmocka_unit_test(test_the_docs_example_parses),
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_crlf_bom_whitespace_comments),
        cmocka_unit_test(test_hash_in_value_is_kept),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_value_errors),
        cmocka_unit_test(test_required_value_rules),
        cmocka_unit_test(test_optional_accepted_values),
        cmocka_unit_test(test_value_at_end_of_unterminated_buffer),
        cmocka_unit_test(test_later_lines_do_not_leak_into_a_value),
        cmocka_unit_test(test_ipv6_shapes),
        cmocka_unit_test(test_ecr_key),
        cmocka_unit_test(test_order_max_total),
        cmocka_unit_test(test_item_prices),
        cmocka_unit_test(test_missing_keys),
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_supervisor_role_and_supervisor_pin),
        cmocka_unit_test(test_invalid_utf8_and_nul),
        cmocka_unit_test(test_error_leaves_struct_zeroed_and_small_msg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
