/*
 * evt_auth: a supervisor PIN hashed by tools/pin-hash (GnuTLS) is accepted by the firmware
 * (mbedTLS), wrong PINs are counted across a reboot, five lock the role for the lock period
 * of the board's clock, and a locked role refuses even the right PIN.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "evt/auth.h"
#include "evt/config.h"
#include "ram_nor.h"

#define PIN_HASH_TOOL EVT_BINARY_DIR "/tools/pin-hash/pin-hash"

static int64_t fake_now = 1795000000; /* late 2026 */
static int64_t fake_unix(void *ctx)
{
    (void)ctx;
    return fake_now;
}
static const evt_hal_sys sys = {.unix_seconds = fake_unix};

static uint32_t work[EVT_JOURNAL_WORK_SIZE(4, 64) / 4];
static evt_ram_nor nor;
static evt_journal journal;
static evt_pin_hash supervisor;

static void reboot(void)
{
    assert_int_equal(evt_journal_open(&journal, &nor.hal, work, sizeof work, NULL), EVT_OK);
}

/* The provisioning line pin-hash prints for pin, parsed as the terminal parses it. */
static void provision(const char *pin, evt_pin_hash *out)
{
    char cmd[512], line[256];
    snprintf(cmd, sizeof cmd, "printf '%%s\\n' %s | %s --iterations 2000", pin, PIN_HASH_TOOL);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof line, p));
    assert_int_equal(pclose(p), 0);
    char text[1024];
    snprintf(text, sizeof text,
             "platform_url = https://localhost/x\nca_file = ca.pem\nfixmedins_code = H12010400001\n"
             "fixmedins_name = 药房\nmdtrtarea_admvs = 120104\nrecer_sys_code = T\ndev_no = T1\n"
             "msgid_slot = 1\nopter = 1\nopter_name = 甲\nopter_type = 1\npaas_id = p\n"
             "paas_token = t\noffice_id = o\noffice_name = 收费处\n%s",
             line);
    static evt_config cfg;
    char msg[160];
    if (evt_config_parse(text, strlen(text), &cfg, msg, sizeof msg) != EVT_OK) {
        fail_msg("provisioning refused: %s", msg);
    }
    *out = cfg.supervisor_pin;
    assert_true(out->set);
    assert_int_equal(out->iterations, 2000);
    assert_int_equal(out->salt_len, 16);
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(evt_ram_nor_init(&nor, 4 * 2048, 2048), EVT_OK);
    reboot();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    evt_ram_nor_free(&nor);
    return 0;
}

static evt_err check(const char *pin, uint32_t *retry)
{
    return evt_auth_check_pin(&journal, &sys, "supervisor", &supervisor, pin, retry);
}

static void right_pin_accepted_wrong_refused(void **state)
{
    (void)state;
    assert_int_equal(check("246810", NULL), EVT_OK);
    assert_int_equal(check("246811", NULL), EVT_ERR_AUTH_FAILED);
    assert_int_equal(check("24681", NULL), EVT_ERR_AUTH_FAILED);
    assert_int_equal(check("2468100", NULL), EVT_ERR_AUTH_FAILED);
    assert_int_equal(check("24681a", NULL), EVT_ERR_AUTH_FAILED);
    /* four wrong so far and the right one resets the count */
    assert_int_equal(check("246810", NULL), EVT_OK);
    assert_int_equal(check("", NULL), EVT_ERR_AUTH_FAILED);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(check("000000", NULL), EVT_ERR_AUTH_FAILED);
    }
    assert_int_equal(check("246810", NULL), EVT_OK);
}

static void five_wrong_lock_across_a_reboot(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(check("111111", NULL), EVT_ERR_AUTH_FAILED);
    }
    reboot(); /* switching the terminal off and on does not reset the count */
    assert_int_equal(check("111111", NULL), EVT_ERR_AUTH_FAILED);
    uint32_t retry = 0;
    assert_int_equal(check("111111", &retry), EVT_ERR_AUTH_LOCKED);
    assert_int_equal(retry, EVT_AUTH_LOCK_SECONDS);
    /* locked: even the right PIN is refused, and not counted */
    fake_now += 60;
    assert_int_equal(check("246810", &retry), EVT_ERR_AUTH_LOCKED);
    assert_int_equal(retry, EVT_AUTH_LOCK_SECONDS - 60);
    reboot();
    assert_int_equal(check("246810", NULL), EVT_ERR_AUTH_LOCKED);
    fake_now += EVT_AUTH_LOCK_SECONDS;
    assert_int_equal(check("246810", NULL), EVT_OK);
}

static void no_pin_provisioned(void **state)
{
    (void)state;
    evt_pin_hash none = {0};
    assert_int_equal(evt_auth_check_pin(&journal, &sys, "supervisor", &none, "1234", NULL),
                     EVT_ERR_CONFIG_MISSING);
    assert_int_equal(evt_auth_check_pin(&journal, &sys, "supervisor", NULL, "1234", NULL),
                     EVT_ERR_ARG);
}

static void provisioning_line_forms(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "pbkdf2-sha256$999$00112233445566778899aabbccddeeff$" /* too few iterations */
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        "pbkdf2-sha1$20000$00112233445566778899aabbccddeeff$"
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        "pbkdf2-sha256$20000$0011$" /* salt too short */
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        "pbkdf2-sha256$20000$00112233445566778899aabbccddeeff$0011",
        "pbkdf2-sha256$20000$00112233445566778899aabbccddeeff$"
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff$",
        "246810",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text,
                 "platform_url = https://localhost/x\nca_file = ca.pem\n"
                 "fixmedins_code = H12010400001\nfixmedins_name = 药房\nmdtrtarea_admvs = 120104\n"
                 "recer_sys_code = T\ndev_no = T1\nmsgid_slot = 1\nopter = 1\nopter_name = 甲\n"
                 "opter_type = 1\npaas_id = p\npaas_token = t\noffice_id = o\n"
                 "office_name = 收费处\nsupervisor_pin = %s\n",
                 bad[i]);
        static evt_config cfg;
        char msg[200];
        assert_int_equal(evt_config_parse(text, strlen(text), &cfg, msg, sizeof msg),
                         EVT_ERR_CONFIG_INVALID);
        assert_non_null(strstr(msg, "supervisor_pin"));
        assert_null(strstr(msg, "246810")); /* the value is never quoted */
    }
}

int main(void)
{
    provision("246810", &supervisor);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(right_pin_accepted_wrong_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(five_wrong_lock_across_a_reboot, setup, teardown),
        cmocka_unit_test_setup_teardown(no_pin_provisioned, setup, teardown),
        cmocka_unit_test(provisioning_line_forms),
    };
    return cmocka_run_group_tests_name("unit.auth", tests, NULL, NULL);
}
