/* Sim board UI: screen formatting and transcript, the key script (matching, DIGITS/TYPE,
 * comments, end of script, stall limit, malformed scripts), interactive key mapping, and the
 * time stamped on each key (typed-ahead keys stamped no later than the screen they preceded,
 * scripted keys pressed after the cashier read the screen). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evt_sim/ui_tty.h"
#include "manual_clock.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static evt_ui_screen make_screen(evt_ui_tone tone, const char *title, const char *line0,
                                 const char *line1, const char *hint)
{
    evt_ui_screen s;
    memset(&s, 0, sizeof s);
    s.tone = tone;
    snprintf(s.title, sizeof s.title, "%s", title);
    if (line0 != NULL) {
        snprintf(s.lines[s.line_count++], EVT_UI_LINE_BYTES, "%s", line0);
    }
    if (line1 != NULL) {
        snprintf(s.lines[s.line_count++], EVT_UI_LINE_BYTES, "%s", line1);
    }
    snprintf(s.hint, sizeof s.hint, "%s", hint != NULL ? hint : "");
    return s;
}

static evt_sim_ui *open_script(const char *script, uint32_t stall_limit)
{
    evt_sim_ui_options opt = {
        .key_fd = -1,
        .script_text = script,
        .script_no_wait = true,
        .script_stall_limit = stall_limit,
    };
    evt_sim_ui *ui = NULL;
    assert_int_equal(evt_sim_ui_open(&ui, &opt), EVT_OK);
    return ui;
}

static evt_key_event key(evt_sim_ui *ui, evt_err expect)
{
    const evt_hal_ui *hal = evt_sim_ui_hal(ui);
    evt_key_event ev;
    assert_int_equal(hal->read_key(hal->ctx, 1000, &ev), expect);
    return ev;
}

static void show(evt_sim_ui *ui, evt_ui_screen s)
{
    const evt_hal_ui *hal = evt_sim_ui_hal(ui);
    assert_int_equal(hal->show(hal->ctx, &s), EVT_OK);
}

static void test_format_frames_screen(void **state)
{
    (void)state;
    evt_ui_screen s = make_screen(EVT_UI_CONFIRM, "确认身份", "姓名: 张*国", "年龄: 45",
                                  "[确认] 结算  [取消] 返回");
    char block[4096];
    assert_int_equal(evt_sim_ui_format(&s, block, sizeof block), EVT_OK);
    assert_non_null(strstr(block, "| [确认] 确认身份"));
    assert_non_null(strstr(block, "| 姓名: 张*国"));
    assert_non_null(strstr(block, "| [确认] 结算  [取消] 返回"));
    /* CJK text counts two columns: every framed row has the same display width, so the right
     * border lines up. "| " + 44 columns + " |" -> the ASCII rows are 48 bytes. */
    assert_non_null(strstr(block, "| 年龄: 45                                     |\n"));
    const char *row = strstr(block, "| 姓名: 张*国");
    const char *end = strchr(row, '\n');
    /* 姓, 名, 张, 国: four CJK characters, 3 bytes for 2 columns each -> 48 + 4 bytes. */
    assert_int_equal(end - row, 48 + 4);

    evt_ui_screen e = make_screen(EVT_UI_ERROR, "扫码失败", NULL, NULL, NULL);
    assert_int_equal(evt_sim_ui_format(&e, block, sizeof block), EVT_OK);
    assert_non_null(strstr(block, "[错误] 扫码失败"));
    evt_ui_screen ok = make_screen(EVT_UI_SUCCESS, "结算成功", NULL, NULL, NULL);
    assert_int_equal(evt_sim_ui_format(&ok, block, sizeof block), EVT_OK);
    assert_non_null(strstr(block, "[成功] 结算成功"));
    evt_ui_screen n = make_screen(EVT_UI_NORMAL, "请扫码", NULL, NULL, NULL);
    assert_int_equal(evt_sim_ui_format(&n, block, sizeof block), EVT_OK);
    assert_non_null(strstr(block, "| 请扫码"));
    assert_int_equal(evt_sim_ui_format(&n, block, 20), EVT_ERR_OVERFLOW);
}

static void test_show_writes_out_and_transcript(void **state)
{
    (void)state;
    char tpath[] = "/tmp/evt_ui_transcript_XXXXXX";
    int fd = mkstemp(tpath);
    assert_true(fd >= 0);
    close(fd);
    char *outbuf = NULL;
    size_t outlen = 0;
    FILE *out = open_memstream(&outbuf, &outlen);
    assert_non_null(out);
    evt_sim_ui_options opt = {.out = out, .transcript_path = tpath, .key_fd = -1, .history = 2};
    evt_sim_ui *ui;
    assert_int_equal(evt_sim_ui_open(&ui, &opt), EVT_OK);
    show(ui, make_screen(EVT_UI_NORMAL, "请扫码", "请出示医保电子凭证", NULL, NULL));
    show(ui, make_screen(EVT_UI_CONFIRM, "确认身份", "张*国", NULL, NULL));
    show(ui, make_screen(EVT_UI_SUCCESS, "结算成功", "合计 12.30 元", NULL, NULL));
    assert_int_equal(evt_sim_ui_screen_count(ui), 3);
    assert_string_equal(evt_sim_ui_screen(ui, 0)->title, "结算成功");
    assert_string_equal(evt_sim_ui_screen(ui, 1)->title, "确认身份");
    assert_null(evt_sim_ui_screen(ui, 2)); /* history of 2 */
    /* No key source: read_key only times out. */
    const evt_hal_ui *hal = evt_sim_ui_hal(ui);
    evt_key_event ev;
    assert_int_equal(hal->read_key(hal->ctx, 0, &ev), EVT_ERR_TIMEOUT);
    evt_sim_ui_close(ui);
    fclose(out);
    assert_non_null(strstr(outbuf, "[成功] 结算成功"));
    free(outbuf);

    FILE *t = fopen(tpath, "r");
    assert_non_null(t);
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, t);
    text[n] = 0;
    fclose(t);
    unlink(tpath);
    const char *s1 = strstr(text, "--- screen 1 ---");
    const char *s3 = strstr(text, "--- screen 3 ---");
    assert_non_null(s1);
    assert_non_null(s3);
    assert_true(s1 < strstr(text, "请出示医保电子凭证"));
    assert_true(s3 < strstr(text, "合计 12.30 元"));
}

static void test_script_waits_for_matching_screen(void **state)
{
    (void)state;
    evt_sim_ui *ui = open_script("# a pharmacy sale\n"
                                 "\n"
                                 "请输入金额 => DIGITS:12.3\n"
                                 "   确认身份   =>   OK   \n"
                                 "张*国 => CANCEL\n"
                                 "=> MENU\n"
                                 "功能 => TYPE:7\n"
                                 "功能 => BACKSPACE\n",
                                 0);
    assert_int_equal(evt_sim_ui_script_remaining(ui), 6);
    /* Nothing shown yet: even the match-anything line would wait; this one certainly does. */
    key(ui, EVT_ERR_TIMEOUT);
    show(ui, make_screen(EVT_UI_NORMAL, "请扫码", NULL, NULL, NULL));
    key(ui, EVT_ERR_TIMEOUT);
    show(ui, make_screen(EVT_UI_NORMAL, "收款", "请输入金额:", NULL, NULL));
    const char expect[] = "12.3";
    for (size_t i = 0; i < 4; i++) {
        evt_key_event ev = key(ui, EVT_OK);
        assert_int_equal(ev.key, EVT_KEY_DIGIT);
        assert_int_equal(ev.ch, expect[i]);
        /* The firmware echoes each digit: the rest of the line still flows. */
        show(ui, make_screen(EVT_UI_NORMAL, "收款", "金额: 12", NULL, NULL));
    }
    assert_int_equal(key(ui, EVT_OK).key, EVT_KEY_OK);
    key(ui, EVT_ERR_TIMEOUT);
    show(ui, make_screen(EVT_UI_CONFIRM, "确认身份", "张*国", NULL, NULL));
    assert_int_equal(key(ui, EVT_OK).key, EVT_KEY_OK);
    /* The same screen is still shown and contains 张*国: the next line fires. */
    assert_int_equal(key(ui, EVT_OK).key, EVT_KEY_CANCEL);
    assert_int_equal(key(ui, EVT_OK).key, EVT_KEY_MENU); /* empty text: any screen */
    show(ui, make_screen(EVT_UI_NORMAL, "功能菜单", "7 重打小票", NULL, NULL));
    evt_key_event ev = key(ui, EVT_OK);
    assert_int_equal(ev.key, EVT_KEY_DIGIT);
    assert_int_equal(ev.ch, '7');
    assert_int_equal(key(ui, EVT_OK).key, EVT_KEY_BACKSPACE);
    assert_int_equal(evt_sim_ui_script_remaining(ui), 0);
    /* Exhausted: QUIT once, then nothing. */
    assert_int_equal(key(ui, EVT_OK).key, EVT_KEY_QUIT);
    key(ui, EVT_ERR_TIMEOUT);
    assert_false(evt_sim_ui_script_stalled(ui));
    evt_sim_ui_close(ui);
}

static void test_script_match_is_title_or_lines_not_hint(void **state)
{
    (void)state;
    evt_sim_ui *ui = open_script("结算 => OK\n", 0);
    show(ui, make_screen(EVT_UI_NORMAL, "请扫码", NULL, NULL, "[确认] 结算"));
    key(ui, EVT_ERR_TIMEOUT);
    show(ui, make_screen(EVT_UI_NORMAL, "请扫码", "按确认键结算", NULL, NULL));
    assert_int_equal(key(ui, EVT_OK).key, EVT_KEY_OK);
    evt_sim_ui_close(ui);
}

static void test_script_timeout_really_waits_by_default(void **state)
{
    (void)state;
    evt_sim_ui_options opt = {.key_fd = -1, .script_text = "never shown => OK\n"};
    evt_sim_ui *ui;
    assert_int_equal(evt_sim_ui_open(&ui, &opt), EVT_OK);
    show(ui, make_screen(EVT_UI_NORMAL, "请扫码", NULL, NULL, NULL));
    const evt_hal_ui *hal = evt_sim_ui_hal(ui);
    evt_key_event ev;
    uint64_t t0 = now_ms();
    assert_int_equal(hal->read_key(hal->ctx, 40, &ev), EVT_ERR_TIMEOUT);
    assert_true(now_ms() - t0 >= 40);
    evt_sim_ui_close(ui);
}

static void test_script_stall_limit_quits(void **state)
{
    (void)state;
    evt_sim_ui *ui = open_script("结算成功 => OK\n", 3);
    show(ui, make_screen(EVT_UI_ERROR, "网络错误", NULL, NULL, NULL));
    key(ui, EVT_ERR_TIMEOUT);
    key(ui, EVT_ERR_TIMEOUT);
    /* Redrawing the same screen does not reset the count. */
    show(ui, make_screen(EVT_UI_ERROR, "网络错误", NULL, NULL, NULL));
    assert_int_equal(key(ui, EVT_OK).key, EVT_KEY_QUIT);
    assert_true(evt_sim_ui_script_stalled(ui));
    key(ui, EVT_ERR_TIMEOUT);
    evt_sim_ui_close(ui);
}

static void test_script_from_file_and_errors(void **state)
{
    (void)state;
    char spath[] = "/tmp/evt_ui_script_XXXXXX";
    int fd = mkstemp(spath);
    assert_true(fd >= 0);
    const char *text = "请扫码 => QUIT\r\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    evt_sim_ui_options opt = {.key_fd = -1, .script_path = spath, .script_no_wait = true};
    evt_sim_ui *ui = NULL;
    assert_int_equal(evt_sim_ui_open(&ui, &opt), EVT_OK);
    show(ui, make_screen(EVT_UI_NORMAL, "请扫码", NULL, NULL, NULL));
    assert_int_equal(key(ui, EVT_OK).key, EVT_KEY_QUIT);
    evt_sim_ui_close(ui);
    unlink(spath);

    ui = NULL;
    opt.script_path = "/tmp/evt-no-such-script";
    assert_int_equal(evt_sim_ui_open(&ui, &opt), EVT_ERR_NOT_FOUND);
    static const char *const bad[] = {
        "no arrow here\n",   "x => PRESS\n",   "x => DIGITS:\n",
        "x => DIGITS:12a\n", "x => TYPE:-1\n", "ok => OK\nx => ok\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        evt_sim_ui_options b = {.key_fd = -1, .script_text = bad[i]};
        assert_int_equal(evt_sim_ui_open(&ui, &b), EVT_ERR_ARG);
        assert_null(ui);
    }
    evt_sim_ui_options both = {.key_fd = 0, .script_text = "x => OK\n"};
    assert_int_equal(evt_sim_ui_open(&ui, &both), EVT_ERR_ARG);
}

static void test_interactive_line_keys(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    evt_sim_ui_options opt = {.key_fd = p[0]};
    evt_sim_ui *ui;
    assert_int_equal(evt_sim_ui_open(&ui, &opt), EVT_OK);
    const char *typed = "12.5\n" /* digits then OK */
                        "\n"     /* OK */
                        "c\n"    /* CANCEL only: Enter after a command adds nothing */
                        "m\n"    /* MENU */
                        "\x1b\n" /* Esc = CANCEL */
                        "b\n"    /* BACKSPACE */
                        "xyz\n"  /* unknown keys do nothing; the line counts as empty: OK */
                        "q\n";   /* QUIT */
    assert_int_equal(write(p[1], typed, strlen(typed)), (ssize_t)strlen(typed));
    const struct {
        evt_key key;
        char ch;
    } want[] = {
        {EVT_KEY_DIGIT, '1'}, {EVT_KEY_DIGIT, '2'},   {EVT_KEY_DIGIT, '.'}, {EVT_KEY_DIGIT, '5'},
        {EVT_KEY_OK, 0},      {EVT_KEY_OK, 0},        {EVT_KEY_CANCEL, 0},  {EVT_KEY_MENU, 0},
        {EVT_KEY_CANCEL, 0},  {EVT_KEY_BACKSPACE, 0}, {EVT_KEY_OK, 0},      {EVT_KEY_QUIT, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        evt_key_event ev = key(ui, EVT_OK);
        assert_int_equal(ev.key, want[i].key);
        if (want[i].key == EVT_KEY_DIGIT) {
            assert_int_equal(ev.ch, want[i].ch);
        }
    }
    const evt_hal_ui *hal = evt_sim_ui_hal(ui);
    evt_key_event ev;
    uint64_t t0 = now_ms();
    assert_int_equal(hal->read_key(hal->ctx, 30, &ev), EVT_ERR_TIMEOUT);
    assert_true(now_ms() - t0 >= 30);
    /* The keyboard goes away (stdin closed): QUIT, so the sim ends. */
    close(p[1]);
    assert_int_equal(key(ui, EVT_OK).key, EVT_KEY_QUIT);
    evt_sim_ui_close(ui);
    close(p[0]);
}

/* Keys typed while no one reads (a progress screen) are taken in when the next screen is
 * drawn and stamped with that moment, so the firmware sees they came before it; keys typed
 * after the screen are stamped when read. Clock: manual, so the stamps are exact. */
static void test_interactive_keys_typed_ahead_are_stamped_at_the_screen(void **state)
{
    (void)state;
    manual_clock clock;
    manual_clock_init(&clock, 1000);
    int p[2];
    assert_int_equal(pipe(p), 0);
    evt_sim_ui_options opt = {.key_fd = p[0], .clock = &clock.hal};
    evt_sim_ui *ui;
    assert_int_equal(evt_sim_ui_open(&ui, &opt), EVT_OK);
    show(ui, make_screen(EVT_UI_CONFIRM, "请核对患者身份", NULL, NULL, NULL));
    clock.now_ms = 1300;
    assert_int_equal(write(p[1], "\n", 1), 1);
    evt_key_event ev = key(ui, EVT_OK);
    assert_int_equal(ev.key, EVT_KEY_OK);
    assert_int_equal(ev.pressed_ms, 1300);

    show(ui, make_screen(EVT_UI_NORMAL, "正在预结算", NULL, NULL, NULL));
    clock.now_ms = 1400;
    assert_int_equal(write(p[1], "\n\n", 2), 2); /* the double press lands here */
    clock.now_ms = 1500;
    show(ui, make_screen(EVT_UI_CONFIRM, "请确认结算金额", NULL, NULL, NULL));
    clock.now_ms = 3500;
    assert_int_equal(write(p[1], "c\n", 2), 2);
    ev = key(ui, EVT_OK);
    assert_int_equal(ev.key, EVT_KEY_OK);
    assert_int_equal(ev.pressed_ms, 1500);
    ev = key(ui, EVT_OK);
    assert_int_equal(ev.key, EVT_KEY_OK);
    assert_int_equal(ev.pressed_ms, 1500);
    ev = key(ui, EVT_OK);
    assert_int_equal(ev.key, EVT_KEY_CANCEL);
    assert_int_equal(ev.pressed_ms, 3500);

    /* End of input while a screen is drawn is still reported, as QUIT, by the next read. */
    close(p[1]);
    show(ui, make_screen(EVT_UI_NORMAL, "就绪", NULL, NULL, NULL));
    assert_int_equal(key(ui, EVT_OK).key, EVT_KEY_QUIT);
    evt_sim_ui_close(ui);
    close(p[0]);
}

/* A scripted key is pressed by a cashier who reads the screen first: stamped reaction_ms
 * after the screen appeared (default 1000 ms), or when read if that is later. No sleeping. */
static void test_script_keys_are_pressed_after_reading_the_screen(void **state)
{
    (void)state;
    manual_clock clock;
    manual_clock_init(&clock, 5000);
    evt_sim_ui_options opt = {.key_fd = -1,
                              .script_text = "金额 => OK\n金额 => OK\n",
                              .script_no_wait = true,
                              .clock = &clock.hal};
    evt_sim_ui *ui;
    assert_int_equal(evt_sim_ui_open(&ui, &opt), EVT_OK);
    show(ui, make_screen(EVT_UI_CONFIRM, "请确认结算金额", NULL, NULL, NULL));
    clock.now_ms = 5010;
    uint64_t t0 = now_ms();
    assert_int_equal(key(ui, EVT_OK).pressed_ms, 6000);
    assert_true(now_ms() - t0 < 1000); /* the reaction is a stamp, not a sleep */
    clock.now_ms = 7000;
    assert_int_equal(key(ui, EVT_OK).pressed_ms, 7000);
    evt_sim_ui_close(ui);

    opt.script_reaction_ms = 50;
    assert_int_equal(evt_sim_ui_open(&ui, &opt), EVT_OK);
    clock.now_ms = 8000;
    show(ui, make_screen(EVT_UI_CONFIRM, "请确认结算金额", NULL, NULL, NULL));
    assert_int_equal(key(ui, EVT_OK).pressed_ms, 8050);
    evt_sim_ui_close(ui);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_frames_screen),
        cmocka_unit_test(test_show_writes_out_and_transcript),
        cmocka_unit_test(test_script_waits_for_matching_screen),
        cmocka_unit_test(test_script_match_is_title_or_lines_not_hint),
        cmocka_unit_test(test_script_timeout_really_waits_by_default),
        cmocka_unit_test(test_script_stall_limit_quits),
        cmocka_unit_test(test_script_from_file_and_errors),
        cmocka_unit_test(test_interactive_line_keys),
        cmocka_unit_test(test_interactive_keys_typed_ahead_are_stamped_at_the_screen),
        cmocka_unit_test(test_script_keys_are_pressed_after_reading_the_screen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
