/* ecr-send against the firmware's ECR link on loopback: exit codes and printed replies.
 * argv[1] is the ecr-send binary. The link runs in this process; ecr-send is a child. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evt/arena.h"
#include "evt/ecr.h"
#include "evt_sim/net_posix.h"
#include "evt_sim/sys_posix.h"

/* The pairing key both sides are provisioned with (a test key, published here). */
#define TEST_KEY  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define WRONG_KEY "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static const char *tool;
static uint8_t arena[256 * 1024];
static evt_hal_net net;
static evt_ecr ecr;
static evt_ecr_ram_store rs;
static evt_ecr_store store;
static char port_text[8];

typedef struct child {
    pid_t pid;
    int out_fd;
    char out[8192];
    size_t out_len;
} child;

static const char *key_arg = TEST_KEY;

static void start(child *c, const char *const *args)
{
    const char *argv[16] = {tool, "--port", port_text, "--key", key_arg};
    size_t n = 5;
    for (size_t i = 0; args[i] != NULL && n < 15; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(tool, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    c->out_fd = fds[0];
    fcntl(c->out_fd, F_SETFL, O_NONBLOCK);
    c->out_len = 0;
}

static void drain(child *c)
{
    ssize_t n;
    while ((n = read(c->out_fd, c->out + c->out_len, sizeof c->out - 1 - c->out_len)) > 0) {
        c->out_len += (size_t)n;
    }
    c->out[c->out_len] = '\0';
}

/* While set, the terminal is busy (external_busy) until the POS has been told so once. */
static bool busy_once;

/* Runs the link until the child exits (bounded); returns its exit status. With a reply
 * given, a sale or refund handed out is answered with it. */
static int run(child *c, const evt_ecr_result *reply, bool *got_order)
{
    if (got_order != NULL) {
        *got_order = false;
    }
    for (int round = 0; round < 300; round++) {
        evt_order order;
        bool got = false;
        assert_int_equal(evt_ecr_poll(&ecr, 20, &order, &got), EVT_OK);
        if (got) {
            if (got_order != NULL) {
                *got_order = true;
            }
            if (reply != NULL) {
                evt_ecr_result r = *reply;
                const char *refund = evt_ecr_refund(&ecr);
                snprintf(r.order_id, sizeof r.order_id, "%s",
                         refund != NULL ? refund : order.order_id);
                r.refund = refund != NULL;
                evt_ecr_reply(&ecr, &r);
            }
        }
        drain(c);
        if (busy_once && strstr(c->out, "\"status\":\"busy\"") != NULL) {
            busy_once = false;
            evt_ecr_set_external_busy(&ecr, false);
        }
        int status;
        if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
            drain(c);
            close(c->out_fd);
            assert_true(WIFEXITED(status));
            return WEXITSTATUS(status);
        }
    }
    kill(c->pid, SIGKILL);
    waitpid(c->pid, NULL, 0);
    fail_msg("ecr-send did not finish");
    return -1;
}

#define SALE                                                                                            \
    "{\"v\":1,\"type\":\"sale\",\"order_id\":\"%s\",\"use_personal_account\":true,"                     \
    "\"items\":[{\"med_list_codg\":\"XA01\",\"medins_list_codg\":\"YP1\",\"name\":\"板蓝根颗粒\"," \
    "\"qty\":2,\"price\":\"15.00\"}]}"

static void test_settled_exits_0(void **state)
{
    (void)state;
    char json[512];
    snprintf(json, sizeof json, SALE, "CLI-1");
    child c;
    start(&c, (const char *[]){"--json", json, NULL});
    evt_ecr_result r = {.status = EVT_ECR_SETTLED,
                        .error = EVT_OK,
                        .total = 3000,
                        .fund = 1500,
                        .account = 1500,
                        .balance_present = true,
                        .balance = 100};
    snprintf(r.setl_id, sizeof r.setl_id, "S1");
    bool got = false;
    assert_int_equal(run(&c, &r, &got), 0);
    assert_true(got);
    assert_non_null(strstr(c.out, "\"type\":\"hello\",\"terminal\":\"EVT-TEST\""));
    assert_non_null(
        strstr(c.out, "{\"v\":2,\"type\":\"auth_ok\",\"terminal\":\"EVT-TEST\",\"seq\":1,"));
    assert_non_null(strstr(c.out, "{\"v\":2,\"type\":\"ack\",\"order_id\":\"CLI-1\",\"seq\":2,"));
    assert_non_null(strstr(c.out, "\"status\":\"settled\""));
    assert_non_null(strstr(c.out, "\"total\":\"30.00\""));
}

static void test_pretty_file_refused_exits_1(void **state)
{
    (void)state;
    char path[] = "/tmp/ecr-send-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *pretty =
        "{\n  \"v\": 1,\n  \"type\": \"sale\",\n  \"order_id\": \"CLI-2\",\n"
        "  \"use_personal_account\": false,\n  \"items\": [\n    {\n"
        "      \"med_list_codg\": \"XA01\", \"medins_list_codg\": \"YP1\",\n"
        "      \"name\": \"板蓝根颗粒\", \"qty\": 1, \"price\": 15.00\n    }\n  ]\n}\n";
    assert_int_equal(write(fd, pretty, strlen(pretty)), (ssize_t)strlen(pretty));
    close(fd);
    child c;
    start(&c, (const char *[]){"--order", path, NULL});
    evt_ecr_result r = {.status = EVT_ECR_REFUSED, .error = EVT_ERR_VOUCHER_ALIPAY};
    bool got = false;
    assert_int_equal(run(&c, &r, &got), 1);
    unlink(path);
    assert_true(got);
    assert_non_null(strstr(c.out, "\"status\":\"refused\""));
}

static void test_error_reply_and_status_exit_1(void **state)
{
    (void)state;
    child c;
    start(&c, (const char *[]){"--json", "{\"type\":\"status\",\"order_id\":\"NOPE\"}", NULL});
    assert_int_equal(run(&c, NULL, NULL), 1);
    assert_non_null(strstr(c.out, "EVT_ERR_NOT_FOUND"));
    /* The settled order of the first test is answered from the store. */
    start(&c, (const char *[]){"--json", "{\"type\":\"status\",\"order_id\":\"CLI-1\"}", NULL});
    assert_int_equal(run(&c, NULL, NULL), 0);
}

static void test_timeout_exits_1(void **state)
{
    (void)state;
    char json[512];
    snprintf(json, sizeof json, SALE, "CLI-3");
    child c;
    start(&c, (const char *[]){"--timeout", "1", "--json", json, NULL});
    bool got = false;
    assert_int_equal(run(&c, NULL, &got), 1); /* acked, but never a result */
    assert_true(got);
    evt_ecr_result r = {.status = EVT_ECR_FAILED, .error = EVT_ERR_CANCELLED};
    snprintf(r.order_id, sizeof r.order_id, "CLI-3");
    evt_ecr_reply(&ecr, &r);
}

/* A POS with another key is not let in: no order reaches the terminal, exit 1. */
static void test_wrong_key_refused(void **state)
{
    (void)state;
    char json[512];
    snprintf(json, sizeof json, SALE, "CLI-4");
    key_arg = WRONG_KEY;
    child c;
    start(&c, (const char *[]){"--json", json, "--timeout", "5", NULL});
    evt_ecr_result r = {.status = EVT_ECR_SETTLED};
    bool got = true;
    assert_int_equal(run(&c, &r, &got), 1);
    key_arg = TEST_KEY;
    assert_false(got);
    assert_non_null(strstr(c.out, "EVT_ERR_ECR_UNAUTHENTICATED"));
}

/* The refund of an order: the request the terminal takes ("type":"refund"), exit 0 when
 * refunded. */
static void test_refund_exits_0(void **state)
{
    (void)state;
    child c;
    start(&c, (const char *[]){"--refund", "CLI-R-1", NULL});
    evt_ecr_result r = {.status = EVT_ECR_REFUNDED, .error = EVT_OK, .total = 3000, .fund = 3000};
    snprintf(r.setl_id, sizeof r.setl_id, "C1");
    snprintf(r.refunded_at, sizeof r.refunded_at, "2026-05-01 10:15");
    bool got = false;
    assert_int_equal(run(&c, &r, &got), 0);
    assert_true(got);
    assert_non_null(strstr(c.out, "{\"v\":2,\"type\":\"ack\",\"order_id\":\"CLI-R-1\","
                                  "\"request\":\"refund\",\"seq\":2,"));
    assert_non_null(strstr(c.out, "\"request\":\"refund\",\"status\":\"refunded\""));
    assert_non_null(strstr(c.out, "\"refunded_at\":\"2026-05-01 10:15\""));
    /* A refund the terminal refuses (here: no such sale) exits 1. */
    start(&c, (const char *[]){"--refund", "NOT-SOLD", NULL});
    assert_int_equal(run(&c, &r, &got), 1);
    assert_false(got);
    assert_non_null(strstr(c.out, "EVT_ERR_REFUND_UNKNOWN_SALE"));
}

/* "busy" is sent again after the pause, on a new connection, as a POS would; the terminal free
 * again takes it. */
static void test_busy_retried(void **state)
{
    (void)state;
    char json[512];
    snprintf(json, sizeof json, SALE, "CLI-B-1");
    evt_ecr_set_external_busy(&ecr, true);
    busy_once = true;
    child c;
    start(&c,
          (const char *[]){"--json", json, "--busy-retries", "3", "--busy-pause-ms", "50", NULL});
    evt_ecr_result r = {.status = EVT_ECR_SETTLED, .error = EVT_OK, .total = 3000};
    bool got = false;
    assert_int_equal(run(&c, &r, &got), 0);
    assert_true(got);
    const char *busy = strstr(c.out, "\"order_id\":\"CLI-B-1\",\"status\":\"busy\"");
    assert_non_null(busy);
    assert_non_null(strstr(busy, "\"type\":\"hello\"")); /* a new connection */
    assert_non_null(strstr(busy, "\"status\":\"settled\""));
}

/* Busy every time: the tries are bounded, exit 1. */
static void test_busy_retries_bounded(void **state)
{
    (void)state;
    evt_ecr_set_external_busy(&ecr, true);
    child c;
    start(&c, (const char *[]){"--refund", "CLI-R-2", "--busy-retries", "2", "--busy-pause-ms",
                               "20", NULL});
    bool got = true;
    assert_int_equal(run(&c, NULL, &got), 1);
    evt_ecr_set_external_busy(&ecr, false);
    assert_false(got);
    unsigned answers = 0;
    for (const char *p = c.out; (p = strstr(p, "\"status\":\"busy\"")) != NULL; p++) {
        answers++;
    }
    assert_int_equal(answers, 3);
}

static void test_usage_errors_exit_2(void **state)
{
    (void)state;
    child c;
    start(&c, (const char *[]){"--json", "{not json", NULL});
    assert_int_equal(run(&c, NULL, NULL), 2);
    start(&c, (const char *[]){NULL});
    assert_int_equal(run(&c, NULL, NULL), 2);
    start(&c, (const char *[]){"--json", "{}", "--order", "x.json", NULL});
    assert_int_equal(run(&c, NULL, NULL), 2);
    start(&c, (const char *[]){"--refund", "R1", "--json", "{}", NULL});
    assert_int_equal(run(&c, NULL, NULL), 2);
    start(&c, (const char *[]){"--refund", "R1", "--busy-retries", "101", NULL});
    assert_int_equal(run(&c, NULL, NULL), 2);
    start(&c, (const char *[]){"--refund", "R1", "--busy-pause-ms", "0", NULL});
    assert_int_equal(run(&c, NULL, NULL), 2);
    key_arg = "0011"; /* not 64 hex digits */
    start(&c, (const char *[]){"--json", "{}", NULL});
    assert_int_equal(run(&c, NULL, NULL), 2);
    key_arg = TEST_KEY;
}

/* Orders CLI-R-* may be refunded; any other is not a sale of the terminal. */
static evt_err refund_lookup(void *ctx, const char *order_id, evt_ecr_result *out)
{
    (void)ctx;
    if (strncmp(order_id, "CLI-R-", 6) == 0) {
        return EVT_ERR_NOT_FOUND;
    }
    memset(out, 0, sizeof *out);
    out->status = EVT_ECR_REFUSED;
    out->error = EVT_ERR_REFUND_UNKNOWN_SALE;
    return EVT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_ecr_send PATH-TO-ecr-send\n");
        return 2;
    }
    tool = argv[1];
    evt_arena_init(arena, sizeof arena);
    evt_sim_net_posix_init(&net);
    evt_ecr_ram_store_init(&rs, &store);
    store.refund_lookup = refund_lookup;
    evt_sim_sys *sys = NULL;
    evt_sim_sys_options sopt = {0};
    if (evt_sim_sys_open(&sys, &sopt) != EVT_OK) {
        return 1;
    }
    evt_ecr_config cfg = {.net = &net,
                          .sys = evt_sim_sys_hal(sys),
                          .bind_addr = "127.0.0.1",
                          .store = store,
                          .terminal_id = "EVT-TEST"};
    for (size_t i = 0; i < sizeof cfg.key; i++) {
        cfg.key[i] = (uint8_t)i; /* TEST_KEY */
    }
    if (evt_ecr_open(&ecr, &cfg) != EVT_OK) {
        return 1;
    }
    snprintf(port_text, sizeof port_text, "%u", evt_sim_net_posix_local_port(ecr.listener));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settled_exits_0),
        cmocka_unit_test(test_pretty_file_refused_exits_1),
        cmocka_unit_test(test_error_reply_and_status_exit_1),
        cmocka_unit_test(test_timeout_exits_1),
        cmocka_unit_test(test_wrong_key_refused),
        cmocka_unit_test(test_refund_exits_0),
        cmocka_unit_test(test_busy_retried),
        cmocka_unit_test(test_busy_retries_bounded),
        cmocka_unit_test(test_usage_errors_exit_2),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    evt_ecr_close(&ecr);
    evt_sim_sys_close(sys);
    return rc;
}
