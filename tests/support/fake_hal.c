/* Fake HAL drivers for unit tests; see fake_hal.h. */
#include "fake_hal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "evt/log.h"
#include "evt_sim/net_posix.h"
#include "evt_sim/sys_posix.h"

/* ---- sys ---------------------------------------------------------------------------------- */

static uint64_t sys_monotonic_ms(void *ctx)
{
    fake_sys *s = ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + (uint64_t)s->skew_ms;
}

static int64_t sys_unix_seconds(void *ctx)
{
    fake_sys *s = ctx;
    return (int64_t)time(NULL) + s->wall_offset_s;
}

static evt_err sys_local_time(void *ctx, evt_datetime *out)
{
    fake_sys *s = ctx;
    if (s->rtc_unset) {
        return EVT_ERR_UNSUPPORTED;
    }
    return evt_sim_cst_from_unix(sys_unix_seconds(ctx), out);
}

static evt_err sys_entropy(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    while (len > 0) {
        ssize_t n = getrandom(buf, len, 0);
        if (n <= 0) {
            return EVT_ERR_INTERNAL;
        }
        buf += n;
        len -= (size_t)n;
    }
    return EVT_OK;
}

static void sys_sleep_ms(void *ctx, uint32_t ms)
{
    fake_sys_advance(ctx, ms);
}

static void sys_log_write(void *ctx, evt_log_level level, const char *module, const char *line)
{
    fake_sys *s = ctx;
    char text[400];
    int n = snprintf(text, sizeof text, "%s %s: %s\n", evt_log_level_name(level), module, line);
    if (n <= 0) {
        return;
    }
    size_t len = (size_t)n < sizeof text ? (size_t)n : sizeof text - 1;
    if (s->echo) {
        fputs(text, stderr);
    }
    if (s->log_len + len + 1 > sizeof s->log) {
        size_t drop = s->log_len / 2;
        memmove(s->log, s->log + drop, s->log_len - drop);
        s->log_len -= drop;
    }
    memcpy(s->log + s->log_len, text, len);
    s->log_len += len;
    s->log[s->log_len] = '\0';
}

void fake_sys_init(fake_sys *s)
{
    memset(s, 0, sizeof *s);
    s->hal = (evt_hal_sys){
        .ctx = s,
        .monotonic_ms = sys_monotonic_ms,
        .unix_seconds = sys_unix_seconds,
        .local_time = sys_local_time,
        .entropy = sys_entropy,
        .sleep_ms = sys_sleep_ms,
        .log_write = sys_log_write,
    };
    const char *echo = getenv("EVT_TEST_LOG");
    s->echo = echo != NULL && strcmp(echo, "1") == 0;
}

void fake_sys_advance(fake_sys *s, uint32_t ms)
{
    s->skew_ms += ms;
}

bool fake_sys_logged(const fake_sys *s, const char *text)
{
    return fake_sys_log_pos(s, text) >= 0;
}

long fake_sys_log_pos(const fake_sys *s, const char *text)
{
    const char *at = strstr(s->log, text);
    return at != NULL ? (long)(at - s->log) : -1;
}

void fake_sys_log_clear(fake_sys *s)
{
    s->log_len = 0;
    s->log[0] = '\0';
}

/* ---- ui ----------------------------------------------------------------------------------- */

static evt_err ui_show(void *ctx, const evt_ui_screen *screen)
{
    fake_ui *u = ctx;
    u->history[u->shown % FAKE_UI_HISTORY] = *screen;
    u->shown++;
    if (u->on_show != NULL) {
        u->on_show(u->on_show_arg, screen);
    }
    return EVT_OK;
}

/* The fake cashier reads the screen before pressing: the key comes this long after it was
 * drawn, on the terminal's clock (past the split's 500 ms dwell, docs/cashier-ui.md). */
#define FAKE_UI_REACTION_MS 1000u

static evt_err press(fake_ui *u, evt_key key, char ch, evt_key_event *out)
{
    fake_sys_advance(u->clock, FAKE_UI_REACTION_MS);
    out->key = key;
    out->ch = ch;
    out->pressed_ms = u->clock->hal.monotonic_ms(u->clock);
    return EVT_OK;
}

static evt_err ui_read_key(void *ctx, uint32_t timeout_ms, evt_key_event *out)
{
    fake_ui *u = ctx;
    u->key_reads++;
    const evt_ui_screen *cur = fake_ui_screen(u, 0);
    if (u->key_count > 0 && cur != NULL) {
        const fake_ui_press *k = &u->keys[u->key_head];
        if (strstr(cur->title, k->title) != NULL) {
            u->key_head = (u->key_head + 1) % FAKE_UI_KEYS;
            u->key_count--;
            return press(u, k->key, k->ch, out);
        }
    }
    if (u->auto_ack && cur != NULL && cur->tone != EVT_UI_NORMAL && timeout_ms > 0) {
        return press(u, EVT_KEY_OK, 0, out);
    }
    fake_sys_advance(u->clock, timeout_ms);
    return EVT_ERR_TIMEOUT;
}

void fake_ui_init(fake_ui *u, fake_sys *clock)
{
    memset(u, 0, sizeof *u);
    u->hal = (evt_hal_ui){.ctx = u, .show = ui_show, .read_key = ui_read_key};
    u->clock = clock;
    u->history = calloc(FAKE_UI_HISTORY, sizeof *u->history);
    u->auto_ack = true;
}

void fake_ui_free(fake_ui *u)
{
    free(u->history);
    u->history = NULL;
}

void fake_ui_clear(fake_ui *u)
{
    u->shown = 0;
}

void fake_ui_key(fake_ui *u, const char *title, evt_key key)
{
    if (u->key_count == FAKE_UI_KEYS) {
        fprintf(stderr, "fake_ui: key queue full\n");
        abort();
    }
    fake_ui_press *k = &u->keys[(u->key_head + u->key_count) % FAKE_UI_KEYS];
    snprintf(k->title, sizeof k->title, "%s", title);
    k->key = key;
    k->ch = 0;
    u->key_count++;
}

void fake_ui_char(fake_ui *u, const char *title, char ch)
{
    fake_ui_key(u, title, EVT_KEY_DIGIT);
    u->keys[(u->key_head + u->key_count - 1) % FAKE_UI_KEYS].ch = ch;
}

void fake_ui_digits(fake_ui *u, const char *title, const char *digits)
{
    for (const char *d = digits; *d != '\0'; d++) {
        fake_ui_char(u, title, *d);
    }
    fake_ui_key(u, title, EVT_KEY_OK);
}

size_t fake_ui_keys_left(const fake_ui *u)
{
    return u->key_count;
}

const evt_ui_screen *fake_ui_screen(const fake_ui *u, size_t back)
{
    if (back >= u->shown || back >= FAKE_UI_HISTORY) {
        return NULL;
    }
    return &u->history[(u->shown - 1 - back) % FAKE_UI_HISTORY];
}

bool fake_ui_screen_has(const evt_ui_screen *screen, const char *text)
{
    if (strstr(screen->title, text) != NULL || strstr(screen->hint, text) != NULL) {
        return true;
    }
    for (unsigned i = 0; i < screen->line_count && i < EVT_UI_MAX_LINES; i++) {
        if (strstr(screen->lines[i], text) != NULL) {
            return true;
        }
    }
    return false;
}

size_t fake_ui_seen(const fake_ui *u, const char *text)
{
    size_t n = 0;
    for (size_t back = 0; back < u->shown && back < FAKE_UI_HISTORY; back++) {
        n += fake_ui_screen_has(fake_ui_screen(u, back), text);
    }
    return n;
}

const evt_ui_screen *fake_ui_last_titled(const fake_ui *u, const char *title)
{
    for (size_t back = 0; back < u->shown && back < FAKE_UI_HISTORY; back++) {
        const evt_ui_screen *s = fake_ui_screen(u, back);
        if (strstr(s->title, title) != NULL) {
            return s;
        }
    }
    return NULL;
}

/* ---- scanner ------------------------------------------------------------------------------ */

static evt_err scanner_read(void *ctx, uint32_t timeout_ms, uint8_t *buf, size_t cap, size_t *len,
                            evt_scan_source *source)
{
    fake_scanner *s = ctx;
    s->reads++;
    if (s->count == 0) {
        fake_sys_advance(s->clock, timeout_ms);
        return EVT_ERR_TIMEOUT;
    }
    size_t i = s->head;
    s->head = (s->head + 1) % FAKE_SCANS;
    s->count--;
    s->delivered++;
    evt_err err = s->err[i];
    char *p = s->payload[i];
    s->payload[i] = NULL;
    *source = EVT_SCAN_SERIAL;
    if (err == EVT_OK) {
        size_t n = strlen(p);
        *len = n;
        if (n > cap) {
            err = EVT_ERR_OVERFLOW;
        } else {
            memcpy(buf, p, n);
        }
    }
    free(p);
    return err;
}

void fake_scanner_init(fake_scanner *s, fake_sys *clock)
{
    memset(s, 0, sizeof *s);
    s->hal = (evt_hal_scanner){.ctx = s, .read = scanner_read};
    s->clock = clock;
}

void fake_scanner_free(fake_scanner *s)
{
    for (size_t i = 0; i < FAKE_SCANS; i++) {
        free(s->payload[i]);
        s->payload[i] = NULL;
    }
    s->count = 0;
}

static void scanner_push(fake_scanner *s, const char *payload, evt_err err)
{
    if (s->count == FAKE_SCANS) {
        fprintf(stderr, "fake_scanner: queue full\n");
        abort();
    }
    size_t i = (s->head + s->count) % FAKE_SCANS;
    s->payload[i] = payload != NULL ? strdup(payload) : NULL;
    s->err[i] = err;
    s->count++;
}

void fake_scanner_push(fake_scanner *s, const char *payload)
{
    scanner_push(s, payload, EVT_OK);
}

void fake_scanner_push_err(fake_scanner *s, evt_err err)
{
    scanner_push(s, NULL, err);
}

/* ---- printer ------------------------------------------------------------------------------ */

static evt_err printer_begin(void *ctx, const char *job_name)
{
    fake_printer *p = ctx;
    if (p->refuse_next > 0) {
        p->refuse_next--;
        return p->refuse_err;
    }
    p->begun++;
    snprintf(p->job_name, sizeof p->job_name, "%s", job_name);
    p->open_len = 0;
    return EVT_OK;
}

static evt_err printer_write(void *ctx, const uint8_t *data, size_t len)
{
    fake_printer *p = ctx;
    p->writes++;
    if (len > p->largest_write) {
        p->largest_write = len;
    }
    if (p->writes == p->fail_write_at) {
        return p->write_err;
    }
    uint8_t *grown = realloc(p->open_job, p->open_len + len);
    if (grown == NULL) {
        return EVT_ERR_PRINTER_IO;
    }
    p->open_job = grown;
    memcpy(p->open_job + p->open_len, data, len);
    p->open_len += len;
    return EVT_OK;
}

static evt_err printer_end(void *ctx)
{
    fake_printer *p = ctx;
    free(p->job);
    p->job = p->open_job;
    p->job_len = p->open_len;
    p->open_job = NULL;
    p->open_len = 0;
    p->ended++;
    return EVT_OK;
}

void fake_printer_init(fake_printer *p)
{
    memset(p, 0, sizeof *p);
    p->hal = (evt_hal_printer){
        .ctx = p, .begin = printer_begin, .write = printer_write, .end = printer_end};
    p->refuse_err = EVT_ERR_PRINTER_PAPER_OUT;
    p->write_err = EVT_ERR_PRINTER_PAPER_OUT;
}

void fake_printer_free(fake_printer *p)
{
    free(p->job);
    free(p->open_job);
    p->job = p->open_job = NULL;
}

bool fake_printer_job_has(const fake_printer *p, const void *bytes, size_t len)
{
    return p->job != NULL && memmem(p->job, p->job_len, bytes, len) != NULL;
}

/* ---- storage ------------------------------------------------------------------------------ */

/* Takes one failure from *budget: true when this call must fail. */
static bool take_failure(atomic_int *budget)
{
    int left = atomic_load(budget);
    while (left != 0) {
        if (left < 0) {
            return true;
        }
        if (atomic_compare_exchange_weak(budget, &left, left - 1)) {
            return true;
        }
    }
    return false;
}

static evt_err flaky_read(void *ctx, uint32_t addr, void *buf, size_t len)
{
    flaky_storage *f = ctx;
    atomic_fetch_add(&f->reads, 1);
    if (take_failure(&f->fail_reads)) {
        atomic_fetch_add(&f->failed, 1);
        return EVT_ERR_STORAGE_IO;
    }
    return f->below->read(f->below->ctx, addr, buf, len);
}

static evt_err flaky_program(void *ctx, uint32_t addr, const void *data, size_t len)
{
    flaky_storage *f = ctx;
    atomic_fetch_add(&f->programs, 1);
    if (take_failure(&f->fail_programs)) {
        atomic_fetch_add(&f->failed, 1);
        return EVT_ERR_STORAGE_IO;
    }
    return f->below->program(f->below->ctx, addr, data, len);
}

static evt_err flaky_erase(void *ctx, uint32_t addr)
{
    flaky_storage *f = ctx;
    if (take_failure(&f->fail_programs)) {
        atomic_fetch_add(&f->failed, 1);
        return EVT_ERR_STORAGE_IO;
    }
    return f->below->erase(f->below->ctx, addr);
}

void flaky_storage_init(flaky_storage *f, const evt_hal_storage *below)
{
    memset(f, 0, sizeof *f);
    f->below = below;
    f->hal = (evt_hal_storage){
        .ctx = f,
        .size = below->size,
        .sector_size = below->sector_size,
        .read = flaky_read,
        .program = flaky_program,
        .erase = flaky_erase,
    };
}

/* ---- net ---------------------------------------------------------------------------------- */

static evt_err gate_connect(void *ctx, const char *host, uint16_t port, uint32_t timeout_ms,
                            evt_net_sock **out)
{
    gate_net *g = ctx;
    atomic_fetch_add(&g->connects, 1);
    if (atomic_load(&g->refuse_connects)) {
        return EVT_ERR_NET_CONNECT;
    }
    return g->below.connect(g->below.ctx, host, port, timeout_ms, out);
}

static evt_err gate_send(void *ctx, evt_net_sock *sock, const uint8_t *data, size_t len,
                         uint32_t timeout_ms, size_t *sent)
{
    gate_net *g = ctx;
    return g->below.send(g->below.ctx, sock, data, len, timeout_ms, sent);
}

static evt_err gate_recv(void *ctx, evt_net_sock *sock, uint8_t *buf, size_t cap,
                         uint32_t timeout_ms, size_t *got)
{
    gate_net *g = ctx;
    return g->below.recv(g->below.ctx, sock, buf, cap, timeout_ms, got);
}

static void gate_close(void *ctx, evt_net_sock *sock)
{
    gate_net *g = ctx;
    g->below.close(g->below.ctx, sock);
}

static evt_err gate_listen(void *ctx, const char *bind_addr, uint16_t port, evt_net_sock **out)
{
    gate_net *g = ctx;
    return g->below.listen(g->below.ctx, bind_addr, port, out);
}

static evt_err gate_accept(void *ctx, evt_net_sock *listener, uint32_t timeout_ms,
                           evt_net_sock **out)
{
    gate_net *g = ctx;
    return g->below.accept(g->below.ctx, listener, timeout_ms, out);
}

static evt_err gate_identity(void *ctx, char *ip, size_t ip_cap, char *mac, size_t mac_cap)
{
    (void)ctx;
    snprintf(ip, ip_cap, "192.0.2.7");
    snprintf(mac, mac_cap, "02-00-00-00-00-07");
    return EVT_OK;
}

void gate_net_init(gate_net *g)
{
    memset(g, 0, sizeof *g);
    evt_sim_net_posix_init(&g->below);
    g->hal = (evt_hal_net){
        .ctx = g,
        .connect = gate_connect,
        .send = gate_send,
        .recv = gate_recv,
        .close = gate_close,
        .listen = gate_listen,
        .accept = gate_accept,
        .local_identity = gate_identity,
    };
}
