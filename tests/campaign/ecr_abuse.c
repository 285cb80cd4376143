/*
 * ECR link abuse against a running terminal: the whole app (harness terminal with the ECR link
 * on a loopback port, the journal-backed order store, the platform emulator behind it) and a
 * paired POS (tests/support/ecr_pos) that keeps selling while others misbehave:
 *   a 1 MB line (paired and stranger), binary garbage (unsigned, and signed with the key),
 *   hundreds of connections opened while the link is polled, a client sending one byte per
 *   second of the terminal's clock, one order sent on two authenticated connections at once,
 *   absurd amounts (10^15 fen, negative, many decimals, overflowing products).
 * After every abuse the paired POS settles a sale; at the end every order is audited against
 * the emulator's ledger: none settled twice, none lost, none in doubt.
 *
 * The terminal runs in this thread (evt_app_step); the abusers write between its passes, and
 * deadlines come due by moving the terminal's clock (term_advance_ms), never by sleeping.
 *
 *   ecr_abuse [--connections N] [--line-bytes N]     (defaults 300 and 1 MiB)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ecr_pos.h"
#include "harness.h"

#define AMOXICILLIN "XJ01CAA040A001010100001"
#define MAX_ORDERS  64
#define SALES_MAX   40
#define STEP_MS     20
#define WAIT_STEPS  600 /* passes a reply may take: a whole sale runs inside one */
/* The link's EVT_ECR_AUTH_TIMEOUT_MS (5 s), and a margin. */
#define AUTH_DEADLINE_MS 6000u

static const char sale_keys[] = "请核对患者身份 => OK\n请确认结算金额 => OK\n结算成功 => OK\n";

static struct abuse {
    emu e;
    term t;
    ecr_pos pos; /* the paired POS */
    uint16_t port;
    uint8_t key[32];
    char order_ids[MAX_ORDERS][40];
    unsigned orders;
    unsigned settled;
    unsigned connections;
    size_t line_bytes;
} ab;

static void step(int passes)
{
    for (int i = 0; i < passes; i++) {
        bool quit = false;
        evt_app_step(ab.t.app, STEP_MS, &quit);
    }
}

/* Waits for p's next line, driving the terminal. */
static const char *wait_line(ecr_pos *p, char *out, size_t cap, void *arg)
{
    (void)arg;
    for (int i = 0; i < WAIT_STEPS; i++) {
        const char *line = ecr_pos_take_line(p, out, cap);
        if (line != NULL) {
            return line;
        }
        step(1);
    }
    fail_msg("no line from the terminal's ECR link");
    return NULL;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL) {
        fail_msg("expected %s in %s", needle, haystack);
    }
}

/* The terminal closed p: EOF (or a reset) while its link is polled; lines before it skipped. */
static bool closed_by_terminal(int fd, int passes)
{
    for (int i = 0; i < passes; i++) {
        char sink[4096];
        ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            return true;
        }
        if (n < 0) {
            step(1);
        }
    }
    return false;
}

static void pair_pos(ecr_pos *p)
{
    char line[1024];
    ecr_pos_connect(p, ab.port, ab.key);
    ecr_pos_pair(p, wait_line, NULL, line, sizeof line);
    assert_contains(line, "\"type\":\"auth_ok\"");
}

static const char *remember(const char *order_id)
{
    assert_true(ab.orders < MAX_ORDERS);
    snprintf(ab.order_ids[ab.orders], sizeof ab.order_ids[0], "%s", order_id);
    return ab.order_ids[ab.orders++];
}

static void sale_line(char *out, size_t cap, const char *order_id, const char *qty,
                      const char *price)
{
    snprintf(out, cap,
             "{\"v\":2,\"type\":\"sale\",\"order_id\":\"%s\",\"use_personal_account\":true,"
             "\"items\":[{\"med_list_codg\":\"" AMOXICILLIN "\",\"medins_list_codg\":\"YP0002\","
             "\"name\":\"阿莫西林胶囊\",\"qty\":%s,\"price\":%s}]}\n",
             order_id, qty, price);
}

static void show_code(void)
{
    char code[128];
    assert_int_equal(emu_code(&ab.e, "employee", NULL, 120, code, sizeof code), 0);
    term_scan(&ab.t, code);
}

/* The paired POS sells one order and gets it settled: the terminal is still serving. */
static void pos_sells(const char *tag)
{
    char id[40], line[2048], reply[4096];
    snprintf(id, sizeof id, "AB-%s-%u", tag, ab.orders);
    remember(id);
    show_code();
    sale_line(line, sizeof line, id, "2", "\"12.50\"");
    ecr_pos_send(&ab.pos, line);
    wait_line(&ab.pos, reply, sizeof reply, NULL);
    assert_contains(reply, "\"type\":\"ack\"");
    wait_line(&ab.pos, reply, sizeof reply, NULL);
    assert_contains(reply, "\"type\":\"result\"");
    assert_contains(reply, "\"status\":\"settled\"");
    ab.settled++;
    int live = 0, reversed = 0, cancelled = 0;
    assert_int_equal(emu_order_money(&ab.e, id, &live, &reversed, &cancelled), 0);
    assert_int_equal(live, 1);
}

/* Writes len bytes on fd without blocking the terminal: whenever the socket is full, the
 * terminal gets a pass to read. Returns the bytes taken before the terminal hung up. */
static size_t send_while_polling(int fd, const uint8_t *data, size_t len)
{
    size_t off = 0;
    for (int spins = 0; off < len && spins < 200000; spins++) {
        ssize_t n = send(fd, data + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            step(1);
        } else {
            break; /* the terminal closed the connection */
        }
    }
    return off;
}

/* ---- a 1 MB line -------------------------------------------------------------------------- */

static void one_megabyte_line(void **state)
{
    (void)state;
    uint8_t *big = malloc(ab.line_bytes + 1);
    assert_non_null(big);
    memset(big, 'x', ab.line_bytes);
    big[ab.line_bytes] = '\n';
    /* From the paired POS: answered once "too long", skipped to its newline, link usable. */
    assert_int_equal(send_while_polling(ab.pos.fd, big, ab.line_bytes + 1), ab.line_bytes + 1);
    char line[4096];
    wait_line(&ab.pos, line, sizeof line, NULL);
    assert_contains(line, "\"error\":\"EVT_ERR_ECR_TOO_LONG\"");
    assert_contains(line, "\"message\":\"收银系统消息过长\"");
    ecr_pos_send(&ab.pos, "{\"type\":\"status\",\"order_id\":\"AB-NONE\"}\n");
    wait_line(&ab.pos, line, sizeof line, NULL);
    assert_contains(line, "\"order_id\":\"AB-NONE\""); /* the very next reply: only one error */
    assert_contains(line, "EVT_ERR_NOT_FOUND");

    /* From a stranger: not an auth line, refused after its first few hundred bytes. */
    ecr_pos stranger;
    ecr_pos_connect(&stranger, ab.port, ab.key);
    int fl = fcntl(stranger.fd, F_GETFL);
    fcntl(stranger.fd, F_SETFL, fl | O_NONBLOCK);
    send_while_polling(stranger.fd, big, ab.line_bytes + 1); /* much fits in kernel buffers */
    char all[4096] = "";
    size_t used = 0;
    bool closed = false;
    for (int i = 0; i < WAIT_STEPS && !closed; i++) {
        ssize_t n = recv(stranger.fd, all + used, sizeof all - 1 - used, MSG_DONTWAIT);
        if (n > 0) {
            used += (size_t)n;
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            closed = true;
        } else {
            step(1);
        }
    }
    all[used] = '\0';
    assert_true(closed);
    assert_contains(all, "\"error\":\"EVT_ERR_ECR_UNAUTHENTICATED\"");
    ecr_pos_close(&stranger);
    free(big);
    pos_sells("big");
}

/* ---- binary garbage --------------------------------------------------------------------- */

static void garbage(uint8_t *out, size_t len, uint32_t seed, bool newlines)
{
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1664525u + 1013904223u;
        out[i] = (uint8_t)(seed >> 24);
        if (!newlines && out[i] == '\n') {
            out[i] = 0xFF;
        }
    }
}

static void binary_garbage(void **state)
{
    (void)state;
    static uint8_t junk[64 * 1024];
    char line[4096];
    /* A stranger's garbage: one unsigned refusal, then the terminal hangs up. */
    garbage(junk, sizeof junk, 1, true);
    ecr_pos stranger;
    ecr_pos_connect(&stranger, ab.port, ab.key);
    int fl = fcntl(stranger.fd, F_GETFL);
    fcntl(stranger.fd, F_SETFL, fl | O_NONBLOCK);
    send_while_polling(stranger.fd, junk, sizeof junk);
    assert_true(closed_by_terminal(stranger.fd, WAIT_STEPS));
    ecr_pos_close(&stranger);

    /* Garbage signed with the pairing key (the POS software itself sends rubbish): a clear
     * "malformed" answer each time, and the connection stays. */
    for (uint32_t seed = 10; seed < 14; seed++) {
        garbage(junk, 600, seed, false);
        char wire[2048];
        size_t n = ecr_pos_seal(&ab.pos, (const char *)junk, 600, wire, sizeof wire - 1);
        wire[n++] = '\n';
        ecr_pos_send_raw(&ab.pos, wire, n);
        wait_line(&ab.pos, line, sizeof line, NULL);
        assert_contains(line, "\"error\":\"EVT_ERR_ECR_MALFORMED\"");
        assert_contains(line, "\"message\":\"收银系统消息格式错误\"");
    }

    /* Unsigned garbage on the paired connection: lines that fail their MAC end that
     * connection (they were altered or are not from the POS); the POS pairs again. */
    garbage(junk, 4096, 99, true);
    junk[4095] = '\n';
    ecr_pos_send_raw(&ab.pos, junk, 4096);
    assert_true(closed_by_terminal(ab.pos.fd, WAIT_STEPS));
    ecr_pos_close(&ab.pos);
    pair_pos(&ab.pos);
    pos_sells("junk");
}

/* ---- hundreds of connections -------------------------------------------------------------- */

static int connect_nonblocking(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(ab.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    assert_true(rc == 0 || errno == EINPROGRESS);
    return fd;
}

static void hundreds_of_connections(void **state)
{
    (void)state;
    unsigned n = ab.connections;
    int *crowd = calloc(n, sizeof *crowd);
    assert_non_null(crowd);
    /* Opened while the link is polled, a few per pass (the listener's backlog is short: more
     * would only wait in the kernel), and kept open on this side. */
    for (unsigned i = 0; i < n; i++) {
        crowd[i] = connect_nonblocking();
        if (i % 4 == 3) {
            step(1);
        }
    }
    /* In the middle of the crowd, the paired POS sells. */
    pos_sells("crowd");
    /* Those still waiting to authenticate are closed when their time is up. */
    term_advance_ms(&ab.t, AUTH_DEADLINE_MS);
    unsigned closed = 0;
    for (unsigned i = 0; i < n; i++) {
        closed += closed_by_terminal(crowd[i], 50);
        close(crowd[i]);
    }
    free(crowd);
    assert_int_equal(closed, n);
    /* Nothing is left holding the authentication slots: a POS reconnects and pairs. */
    ecr_pos_close(&ab.pos);
    pair_pos(&ab.pos);
    pos_sells("after-crowd");
}

/* ---- a client sending one byte per second ---------------------------------------------- */

static void one_byte_per_second(void **state)
{
    (void)state;
    /* A client holding the right key, but slow: its auth line would be valid. */
    ecr_pos slow;
    ecr_pos_connect(&slow, ab.port, ab.key);
    char hello[1024];
    wait_line(&slow, hello, sizeof hello, NULL);
    const char *ch = strstr(hello, "\"challenge\":\"");
    assert_non_null(ch);
    memcpy(slow.session, ch + 13, 32);
    slow.session[32] = '\0';
    static const char auth[] = "{\"v\":2,\"type\":\"auth\",\"pos\":\"slow\",\"nonce\":"
                               "\"0123456789abcdef0123456789abcdef\"}";
    char wire[512];
    size_t len = ecr_pos_seal(&slow, auth, strlen(auth), wire, sizeof wire - 1);
    wire[len++] = '\n';
    size_t sent = 0;
    bool closed = false;
    for (; sent < len && !closed; sent++) {
        ssize_t n = send(slow.fd, wire + sent, 1, MSG_NOSIGNAL);
        if (n != 1) {
            closed = true;
            break;
        }
        term_advance_ms(&ab.t, 1000); /* one second of the terminal's time per byte */
        step(1);
        if (sent == 1) {
            pos_sells("slow"); /* the paired POS is served meanwhile */
        }
        closed = closed_by_terminal(slow.fd, 1);
    }
    /* Closed at its deadline, long before its line was complete. */
    assert_true(closed);
    assert_true(sent <= AUTH_DEADLINE_MS / 1000);
    ecr_pos_close(&slow);
    pos_sells("after-slow");
}

/* ---- one order on two authenticated connections at once ---------------------------------- */

/* Connects, takes the hello and prepares the auth line; after it, p signs as paired. */
static size_t pos_prepare(ecr_pos *p, char *wire, size_t cap)
{
    char hello[1024];
    ecr_pos_connect(p, ab.port, ab.key);
    wait_line(p, hello, sizeof hello, NULL);
    const char *ch = strstr(hello, "\"challenge\":\"");
    assert_non_null(ch);
    memcpy(p->session, ch + 13, 32);
    p->session[32] = '\0';
    static const char nonce[] = "fedcba9876543210fedcba9876543210";
    char auth[256];
    snprintf(auth, sizeof auth, "{\"v\":2,\"type\":\"auth\",\"pos\":\"second\",\"nonce\":\"%s\"}",
             nonce);
    size_t n = ecr_pos_seal(p, auth, strlen(auth), wire, cap - 1);
    wire[n++] = '\n';
    strcat(p->session, nonce);
    p->paired = true;
    return n;
}

/* Collects what p says about order_id until it has a final word or is closed. */
static void final_word(ecr_pos *p, const char *order_id, char *setl_id, bool *settled)
{
    char line[4096];
    for (int i = 0; i < WAIT_STEPS; i++) {
        const char *got = ecr_pos_take_line(p, line, sizeof line);
        if (got == NULL) {
            char c;
            ssize_t n = recv(p->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n == 0) {
                return; /* replaced by the other connection: no word */
            }
            step(1);
            continue;
        }
        if (strstr(got, "\"type\":\"result\"") == NULL) {
            continue; /* auth_ok, ack */
        }
        assert_contains(got, order_id);
        assert_contains(got, "\"status\":\"settled\"");
        const char *s = strstr(got, "\"setl_id\":\"");
        assert_non_null(s);
        char id[40];
        sscanf(s + 11, "%39[^\"]", id);
        if (setl_id[0] != '\0') {
            assert_string_equal(id, setl_id); /* the same settlement, never a second one */
        }
        snprintf(setl_id, 40, "%s", id);
        *settled = true;
        return;
    }
}

/* Writes data on fd once the watched socket has something to read (the terminal answered
 * there): bytes that arrive while the terminal is busy with what it answered. */
typedef struct late_writer {
    int watch_fd, fd;
    const char *data;
    size_t len;
    pthread_t thread;
} late_writer;

static void *write_when_answered(void *arg)
{
    late_writer *w = arg;
    struct pollfd pfd = {.fd = w->watch_fd, .events = POLLIN};
    poll(&pfd, 1, 10000);
    size_t off = 0;
    while (off < w->len) {
        ssize_t n = send(w->fd, w->data + off, w->len - off, MSG_NOSIGNAL);
        if (n <= 0) {
            break;
        }
        off += (size_t)n;
    }
    return NULL;
}

/* The paired POS and a second connection holding the key send the same order "at once":
 * both before the terminal looks, or the second while the first one's sale is running. */
static void same_order_twice(bool during_sale)
{
    char id[40], sale[2048];
    snprintf(id, sizeof id, "AB-TWICE-%d", during_sale);
    remember(id);
    /* Two codes at the counter: a terminal that started the order twice would find one for
     * the second run and settle again (the ledger would show it). The code left over is used by
     * the next sale. */
    show_code();
    show_code();
    sale_line(sale, sizeof sale, id, "2", "\"12.50\"");
    ecr_pos second;
    static char wire[8192];
    size_t n = pos_prepare(&second, wire, sizeof wire);
    /* its auth line and its sale in one write */
    n += ecr_pos_seal(&second, sale, strlen(sale) - 1, wire + n, sizeof wire - n - 1);
    wire[n++] = '\n';
    late_writer w = {.watch_fd = ab.pos.fd, .fd = second.fd, .data = wire, .len = n};
    if (during_sale) {
        assert_int_equal(pthread_create(&w.thread, NULL, write_when_answered, &w), 0);
        ecr_pos_send(&ab.pos, sale);
    } else {
        ecr_pos_send_raw(&second, wire, n);
        ecr_pos_send(&ab.pos, sale);
    }
    char setl_id[40] = "";
    bool first_settled = false, second_settled = false;
    final_word(&ab.pos, id, setl_id, &first_settled);
    if (during_sale) {
        pthread_join(w.thread, NULL);
    }
    final_word(&second, id, setl_id, &second_settled);
    assert_true(first_settled || second_settled);
    /* the second connection is the POS's now; asking there gives the one settlement */
    char line[4096];
    snprintf(sale, sizeof sale, "{\"type\":\"status\",\"order_id\":\"%s\"}\n", id);
    ecr_pos_send(&second, sale);
    wait_line(&second, line, sizeof line, NULL);
    assert_contains(line, "\"status\":\"settled\"");
    assert_contains(line, setl_id);
    int live = 0, reversed = 0, cancelled = 0;
    assert_int_equal(emu_order_money(&ab.e, id, &live, &reversed, &cancelled), 0);
    assert_int_equal(live, 1);
    ab.settled++;
    ecr_pos_close(&ab.pos);
    ab.pos = second;
}

static void one_order_on_two_connections(void **state)
{
    (void)state;
    same_order_twice(false);
    same_order_twice(true);
    pos_sells("after-twice");
}

/* ---- absurd amounts ------------------------------------------------------------------------ */

typedef struct absurd {
    const char *qty, *price, *total; /* total NULL: not sent */
    const char *error;
} absurd;

static const absurd absurd_orders[] = {
    {"1", "\"10000000000000.00\"", NULL, "EVT_ERR_ORDER_TOO_LARGE"}, /* 10^15 fen */
    {"1", "10000000000000.00", NULL, "EVT_ERR_ORDER_TOO_LARGE"},
    {"1", "\"99999999999999.99\"", NULL, "EVT_ERR_ORDER_TOO_LARGE"},
    {"99999", "\"99999999999999.99\"", NULL, "EVT_ERR_ORDER_INVALID"}, /* beyond 16,2 */
    {"1", "\"999999999999999999999999.99\"", NULL, "EVT_ERR_ECR_MALFORMED"},
    {"1", "\"20000.01\"", NULL, "EVT_ERR_ORDER_TOO_LARGE"}, /* one fen over the maximum */
    {"1", "\"-12.50\"", NULL, "EVT_ERR_ECR_MALFORMED"},
    {"1", "-0.01", NULL, "EVT_ERR_ECR_MALFORMED"},
    {"1", "\"0.00\"", NULL, "EVT_ERR_ECR_MALFORMED"},
    {"1", "\"12.500000001\"", NULL, "EVT_ERR_ECR_MALFORMED"},
    {"1", "12.345", NULL, "EVT_ERR_ECR_MALFORMED"},
    {"1", "1.25e1", NULL, "EVT_ERR_ECR_MALFORMED"},
    {"1", "\"+12.50\"", NULL, "EVT_ERR_ECR_MALFORMED"},
    {"1", "\" 12.50\"", NULL, "EVT_ERR_ECR_MALFORMED"},
    {"1", "\"12,50\"", NULL, "EVT_ERR_ECR_MALFORMED"},
    {"1", "\"NaN\"", NULL, "EVT_ERR_ECR_MALFORMED"},
    {"1", "null", NULL, "EVT_ERR_ECR_MALFORMED"},
    {"0", "\"12.50\"", NULL, "EVT_ERR_ECR_MALFORMED"},
    {"-1", "\"12.50\"", NULL, "EVT_ERR_ECR_MALFORMED"},
    {"100000", "\"12.50\"", NULL, "EVT_ERR_ECR_MALFORMED"},
    {"2.5", "\"12.50\"", NULL, "EVT_ERR_ECR_MALFORMED"},
    {"1e15", "\"12.50\"", NULL, "EVT_ERR_ECR_MALFORMED"},
    {"1", "\"12.50\"", "\"-12.50\"", "EVT_ERR_ECR_MALFORMED"},
    {"1", "\"12.50\"", "\"12.49\"", "EVT_ERR_ORDER_INVALID"},
    {"1", "\"12.50\"", "\"1000000000000000000.00\"", "EVT_ERR_ECR_MALFORMED"},
};

static void absurd_amounts(void **state)
{
    (void)state;
    int settlements = emu_count(&ab.e, "settlements");
    int decodes = emu_handled_count(&ab.e, "ec.query");
    /* a price of a thousand digits */
    static char long_price[1100];
    long_price[0] = '"';
    memset(long_price + 1, '9', 1000);
    memcpy(long_price + 1001, ".00\"", 5);
    for (size_t i = 0; i <= sizeof absurd_orders / sizeof absurd_orders[0]; i++) {
        const absurd *a = i < sizeof absurd_orders / sizeof absurd_orders[0]
                              ? &absurd_orders[i]
                              : &(absurd){"1", long_price, NULL, "EVT_ERR_ECR_MALFORMED"};
        char id[40], line[4096], reply[4096];
        snprintf(id, sizeof id, "AB-ABSURD-%zu", i);
        remember(id);
        sale_line(line, sizeof line, id, a->qty, a->price);
        if (a->total != NULL) {
            char *end = line + strlen(line) - 2; /* before "}\n" */
            snprintf(end, sizeof line - (size_t)(end - line), ",\"total\":%s}\n", a->total);
        }
        ecr_pos_send(&ab.pos, line);
        wait_line(&ab.pos, reply, sizeof reply, NULL);
        if (strstr(reply, "\"type\":\"error\"") == NULL || strstr(reply, a->error) == NULL) {
            fail_msg("qty %s price %.40s total %s: expected %s, got %s", a->qty, a->price,
                     a->total ? a->total : "-", a->error, reply);
        }
        assert_contains(reply, "\"detail\":\"");
    }
    /* nothing was started: no code decoded, no money moved */
    assert_int_equal(emu_handled_count(&ab.e, "ec.query"), decodes);
    assert_int_equal(emu_count(&ab.e, "settlements"), settlements);
    pos_sells("after-absurd");
}

/* ---- the audit ---------------------------------------------------------------------------- */

static void no_order_settled_twice(void **state)
{
    (void)state;
    bool ok = audit_no_reversal_owed(&ab.t, "ecr abuse");
    for (unsigned i = 0; i < ab.orders; i++) {
        ok = audit_order(&ab.e, &ab.t, ab.order_ids[i], "ecr abuse") && ok;
    }
    assert_true(ok);
    /* every settlement the platform holds is one of the sales the POS was told settled */
    assert_int_equal(emu_count(&ab.e, "settlements"), (int)ab.settled);
    print_message("ecr abuse: %u orders audited, %u settled once each, none twice\n", ab.orders,
                  ab.settled);
}

/* ---- the running terminal ----------------------------------------------------------------- */

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        return 0;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

static int start(void **state)
{
    (void)state;
    if (emu_start(&ab.e, "ecr-abuse") != 0) {
        return -1;
    }
    for (int i = 0; i < 32; i++) {
        ab.key[i] = (uint8_t)(0x5A ^ (i * 7));
    }
    char cfg[256], *p = cfg;
    ab.port = free_port();
    p += sprintf(p, "ecr_port = %u\necr_key = ", ab.port);
    for (int i = 0; i < 32; i++) {
        p += sprintf(p, "%02x", ab.key[i]);
    }
    sprintf(p, "\n");
    static char keys[sizeof sale_keys * SALES_MAX];
    for (int i = 0; i < SALES_MAX; i++) {
        strcat(keys, sale_keys);
    }
    term_options opt = {
        .keys = keys,
        .extra_config = cfg,
        .no_receipt_preview = true,
        .ui_stall_limit = 100000, /* the counter idles through many passes of the link */
    };
    if (ab.port == 0 || term_start(&ab.t, &ab.e, "abuse", &opt) != 0) {
        fprintf(stderr, "ecr_abuse: terminal did not start: %s\n", ab.t.start_msg);
        emu_stop(&ab.e);
        return -1;
    }
    pair_pos(&ab.pos);
    return 0;
}

static int stop(void **state)
{
    (void)state;
    ecr_pos_close(&ab.pos);
    term_stop(&ab.t);
    emu_stop(&ab.e);
    return 0;
}

int main(int argc, char **argv)
{
    ab.connections = 300;
    ab.line_bytes = 1024 * 1024;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--connections") == 0) {
            ab.connections = (unsigned)atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--line-bytes") == 0) {
            ab.line_bytes = (size_t)atol(argv[i + 1]);
        } else {
            fprintf(stderr, "usage: ecr_abuse [--connections N] [--line-bytes N]\n");
            return 2;
        }
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_megabyte_line),
        cmocka_unit_test(binary_garbage),
        cmocka_unit_test(hundreds_of_connections),
        cmocka_unit_test(one_byte_per_second),
        cmocka_unit_test(one_order_on_two_connections),
        cmocka_unit_test(absurd_amounts),
        cmocka_unit_test(no_order_settled_twice),
    };
    return cmocka_run_group_tests_name("campaign.ecr_abuse", tests, start, stop);
}
