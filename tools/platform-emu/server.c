/*
 * HTTPS front: libmicrohttpd with GnuTLS, one thread per connection (a delayed answer on one
 * terminal's connection must not hold up another), HTTP/1.1 keep-alive. The gateway layer
 * (x-tif-* headers) and the fault knobs live here; the transactions are in txn.c.
 */
#include "emu.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define EMU_PATH         "/fsi/api/rsfComIfsService/callService"
#define EMU_MAX_BODY     (1024 * 1024)
#define EMU_TS_WINDOW_S  300
#define EMU_NONCE_KEEP_S (15 * 60)
#define EMU_MAX_DELAY_MS 600000

typedef struct {
    char *buf;
    size_t len, cap;
    bool too_big;
} req_body;

typedef struct {
    char infno[16];
    char kind[20];
    char value[256];
    bool active;
} fault;

static const emu_server_opts *g_opts;

static void log_line(const char *infno, const char *msgid, int http, const char *infcode,
                     const char *note)
{
    char t[20];
    emu_time_text(time(NULL), t);
    /* identifiers only: no names, ID numbers, tokens or code text ever reach this line */
    fprintf(stderr, "%s infno=%s msgid=%s http=%d infcode=%s%s%s\n", t, infno, msgid, http, infcode,
            note[0] ? " " : "", note);
}

static enum MHD_Result send_body(struct MHD_Connection *conn, unsigned status, const char *body,
                                 const char *content_type)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, const char *body)
{
    return send_body(conn, status, body, "application/json;charset=utf-8");
}

static enum MHD_Result gateway_reject(struct MHD_Connection *conn, const char *why)
{
    char msg[256];
    snprintf(msg, sizeof msg, "网关鉴权失败：%s", why);
    char *body = emu_error_envelope(msg);
    enum MHD_Result r = send_json(conn, MHD_HTTP_UNAUTHORIZED, body);
    log_line("-", "-", 401, "-1", why);
    free(body);
    return r;
}

/* The fault kinds that wait (delay, hold_answer): at most EMU_MAX_DELAY_MS. */
static void sleep_ms(long ms)
{
    if (ms > EMU_MAX_DELAY_MS)
        ms = EMU_MAX_DELAY_MS;
    if (ms > 0) {
        struct timespec d = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        while (nanosleep(&d, &d) != 0 && errno == EINTR)
            ;
    }
}

/* ---- close_mid: a response that stops half way ---- */
typedef struct {
    char *body;
    size_t cut;
} partial;

static ssize_t partial_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    partial *p = cls;
    if (pos >= p->cut)
        return MHD_CONTENT_READER_END_WITH_ERROR; /* MHD closes the connection here */
    size_t n = p->cut - (size_t)pos;
    if (n > max)
        n = max;
    memcpy(buf, p->body + pos, n);
    return (ssize_t)n;
}

static void partial_free(void *cls)
{
    partial *p = cls;
    free(p->body);
    free(p);
}

static enum MHD_Result send_partial(struct MHD_Connection *conn, char *body)
{
    partial *p = malloc(sizeof *p);
    if (p == NULL) {
        free(body);
        return MHD_NO;
    }
    p->body = body;
    p->cut = strlen(body) / 2;
    /* Content-Length announces the whole body, so the client sees a truncated message */
    struct MHD_Response *r =
        MHD_create_response_from_callback(strlen(body), 4096, partial_reader, p, partial_free);
    if (r == NULL) {
        partial_free(p);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json;charset=utf-8");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- gateway checks and fault pick-up, one IMMEDIATE transaction ---- */

static const char *check_gateway(struct MHD_Connection *conn, sqlite3 *db, bool *db_error)
{
    const char *paas = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-tif-paasid");
    const char *ts = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-tif-timestamp");
    const char *nonce = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-tif-nonce");
    const char *sig = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-tif-signature");
    if (paas == NULL)
        return "缺少请求头x-tif-paasid";
    if (ts == NULL)
        return "缺少请求头x-tif-timestamp";
    if (nonce == NULL)
        return "缺少请求头x-tif-nonce";
    if (sig == NULL)
        return "缺少请求头x-tif-signature";
    if (strcmp(paas, g_opts->paas_id) != 0)
        return "未知的x-tif-paasid";
    size_t tl = strlen(ts);
    if (tl == 0 || tl > 12 || !emu_digits(ts, tl))
        return "x-tif-timestamp应为十进制Unix秒";
    if (strlen(nonce) != 32 || strspn(nonce, "0123456789abcdef") != 32)
        return "x-tif-nonce应为32位小写十六进制";
    size_t n = 2 * tl + strlen(g_opts->paas_token) + 32;
    char *src = malloc(n + 1);
    if (src == NULL) {
        *db_error = true;
        return "内部错误";
    }
    snprintf(src, n + 1, "%s%s%s%s", ts, g_opts->paas_token, nonce, ts);
    char want[65];
    emu_sha256_hex(src, n, want);
    free(src);
    if (strcmp(sig, want) != 0)
        return "签名x-tif-signature错误";
    long long t = atoll(ts);
    long long now = (long long)time(NULL);
    if (t < now - EMU_TS_WINDOW_S || t > now + EMU_TS_WINDOW_S)
        return "x-tif-timestamp与平台时间相差超过300秒";

    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "DELETE FROM nonces WHERE seen < ?", -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_int64(st, 1, now - EMU_NONCE_KEEP_S);
    sqlite3_step(st);
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO nonces(nonce, seen) VALUES (?, ?)", -1, &st,
                           NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_text(st, 1, nonce, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        goto dberr;
    if (sqlite3_changes(db) == 0)
        return "x-tif-nonce已使用（15分钟内不得重复）";
    return NULL;
dberr:
    *db_error = true;
    return "内部错误";
}

/* Takes one count of the first fault for this infno (exact match before "*"). */
static int take_fault(sqlite3 *db, const char *infno, fault *f)
{
    memset(f, 0, sizeof *f);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, infno, kind, value FROM faults WHERE infno=? OR infno='*' "
                           "ORDER BY (infno='*'), id LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, infno, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : -1;
    }
    int64_t id = sqlite3_column_int64(st, 0);
    snprintf(f->infno, sizeof f->infno, "%s", sqlite3_column_text(st, 1));
    snprintf(f->kind, sizeof f->kind, "%s", sqlite3_column_text(st, 2));
    snprintf(f->value, sizeof f->value, "%s", sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
    f->active = true;
    char sql[128];
    snprintf(sql, sizeof sql,
             "UPDATE faults SET remaining = remaining - 1 WHERE id=%lld AND remaining > 1",
             (long long)id);
    if (emu_db_exec(db, sql) != 0)
        return -1;
    if (sqlite3_changes(db) == 0) {
        snprintf(sql, sizeof sql, "DELETE FROM faults WHERE id=%lld", (long long)id);
        if (emu_db_exec(db, sql) != 0)
            return -1;
    }
    return 0;
}

static void body_field(json_object *o, const char *key, char *out, size_t cap)
{
    json_object *v;
    snprintf(out, cap, "-");
    if (o && json_object_object_get_ex(o, key, &v) && json_object_get_type(v) == json_type_string &&
        (size_t)json_object_get_string_len(v) < cap)
        snprintf(out, cap, "%s", json_object_get_string(v));
}

static void body_ids(const char *body, char infno[16], char msgid[40])
{
    json_object *o = json_tokener_parse(body);
    body_field(o, "infno", infno, 16);
    body_field(o, "msgid", msgid, 40);
    json_object_put(o);
}

/* Records how a request was finally handled (table `handled`); failures only cost the record. */
static void note_handled(sqlite3 *db, const char *msgid, const char *infno, const char *outcome)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO handled(msgid, infno, outcome, time) "
                           "VALUES(?, ?, ?, strftime('%s','now'))",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(st, 1, msgid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, infno, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, outcome, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        fprintf(stderr, "platform-emu: handled record not written: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(st);
}

static enum MHD_Result handle(struct MHD_Connection *conn, req_body *rb)
{
    const char *ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    if (ctype == NULL || strncasecmp(ctype, "application/json", 16) != 0) {
        log_line("-", "-", 415, "-", "content-type");
        return send_body(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "Unsupported Media Type\n",
                         "text/plain");
    }
    if (rb->too_big) {
        log_line("-", "-", 413, "-", "body too large");
        return send_body(conn, 413, "Payload Too Large\n", "text/plain");
    }
    const char *body = rb->buf ? rb->buf : "";

    sqlite3 *db;
    if (emu_db_open(g_opts->cfg.db_path, &db) != 0) {
        log_line("-", "-", 500, "-", "db open");
        return send_body(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "ledger unavailable\n",
                         "text/plain");
    }
    char infno[16], msgid[40];
    body_ids(body, infno, msgid);
    fault f = {0};
    bool db_error = false;
    const char *reject = NULL;
    if (emu_db_begin_immediate(db) != 0) {
        db_error = true;
    } else {
        reject = check_gateway(conn, db, &db_error);
        if (reject == NULL && !db_error && take_fault(db, infno, &f) != 0)
            db_error = true;
        emu_db_exec(db, db_error || reject ? "ROLLBACK" : "COMMIT");
    }
    if (db_error) {
        sqlite3_close(db);
        log_line(infno, "-", 500, "-", "db error");
        return send_body(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "ledger error\n", "text/plain");
    }
    if (reject) {
        sqlite3_close(db);
        return gateway_reject(conn, reject);
    }

    char note[300] = "";
    if (f.active)
        snprintf(note, sizeof note, "fault=%s%s%s", f.kind, f.value[0] ? ":" : "", f.value);
    if (f.active && strcmp(f.kind, "delay") == 0) {
        sleep_ms(atol(f.value));
    } else if (f.active && strcmp(f.kind, "close_before") == 0) {
        note_handled(db, msgid, infno, "fault=close_before");
        sqlite3_close(db);
        log_line(infno, "-", 0, "-", note);
        return MHD_NO; /* closes the connection: nothing processed, nothing answered */
    } else if (f.active && strcmp(f.kind, "http_status") == 0) {
        note_handled(db, msgid, infno, "fault=http_status");
        sqlite3_close(db);
        unsigned status = (unsigned)atoi(f.value);
        if (status < 400 || status > 599)
            status = 502;
        char text[64];
        snprintf(text, sizeof text, "<html><body>%u gateway error</body></html>\n", status);
        log_line(infno, "-", (int)status, "-", note);
        return send_body(conn, status, text, "text/html");
    } else if (f.active && strcmp(f.kind, "business_error") == 0) {
        note_handled(db, msgid, infno, "fault=business_error");
        sqlite3_close(db);
        char *env = emu_error_envelope(f.value[0] ? f.value : "医保平台系统繁忙，请稍后重试");
        log_line(infno, "-", 200, "-1", note);
        enum MHD_Result r = send_json(conn, MHD_HTTP_OK, env);
        free(env);
        return r;
    }

    emu_txn_result res;
    emu_txn_handle(&g_opts->cfg, db, body, &res);
    {
        char outcome[64];
        snprintf(outcome, sizeof outcome, "%s%s%s%s",
                 res.replayed ? "replayed"
                 : res.body   ? "infcode="
                              : "error",
                 res.replayed || !res.body ? "" : res.infcode, f.active ? " fault=" : "",
                 f.active ? f.kind : "");
        note_handled(db, msgid, infno, outcome);
    }
    sqlite3_close(db);
    if (res.replayed)
        snprintf(note + strlen(note), sizeof note - strlen(note), "%sreplayed", note[0] ? " " : "");
    if (res.body == NULL) {
        log_line(res.infno, res.msgid, 500, "-", "no response");
        return send_body(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n", "text/plain");
    }
    if (f.active && strcmp(f.kind, "status_body") == 0) {
        /* processed (money moved), and the real answer sent under another status code: a
         * gateway that says 202 Accepted over a success body, or 500 over one */
        unsigned status = (unsigned)atoi(f.value);
        log_line(res.infno, res.msgid, (int)status, res.infcode, note);
        enum MHD_Result r = send_json(conn, status, res.body);
        free(res.body);
        return r;
    }
    if (f.active && strcmp(f.kind, "other_person") == 0) {
        /* the answer describes another person than the one asked about (a platform mix-up) */
        char *swapped = emu_swap_person(g_opts->cfg.db_path, res.body, f.value);
        if (swapped != NULL) {
            free(res.body);
            res.body = swapped;
        }
    }
    if (f.active && strcmp(f.kind, "pad_answer") == 0) {
        /* processed normally; the answer grows to at least the given size with a list the
         * terminal does not use (as a long detail list would), still valid JSON */
        char *padded = emu_pad_answer(res.body, (size_t)atol(f.value));
        if (padded != NULL) {
            free(res.body);
            res.body = padded;
        }
    }
    if (f.active && strcmp(f.kind, "close_mid") == 0) {
        /* processed (money moved, response stored for an idempotent retry), answer lost */
        log_line(res.infno, res.msgid, 200, res.infcode, note);
        return send_partial(conn, res.body);
    }
    if (f.active && strcmp(f.kind, "malformed_json") == 0) {
        /* processed too; the terminal gets a complete HTTP message whose JSON is broken */
        size_t len = strlen(res.body);
        res.body[len / 2] = '\0';
        char *broken = malloc(len / 2 + 32);
        if (broken)
            snprintf(broken, len / 2 + 32, "%s<!--upstream-->", res.body);
        log_line(res.infno, res.msgid, 200, res.infcode, note);
        enum MHD_Result r = send_json(conn, MHD_HTTP_OK, broken ? broken : "{");
        free(broken);
        free(res.body);
        return r;
    }
    if (f.active && strcmp(f.kind, "hold_answer") == 0) {
        /* processed and recorded (money moved), the answer held back: the terminal is waiting
         * for it, which is the moment a test cuts the terminal's power */
        sleep_ms(atol(f.value));
    }
    log_line(res.infno, res.msgid, 200, res.infcode, note);
    enum MHD_Result r = send_json(conn, MHD_HTTP_OK, res.body);
    free(res.body);
    return r;
}

char *emu_pad_answer(const char *body, size_t at_least)
{
    static const char head[] = ",\"pad_detail\":[";
    static const char entry[] = "{\"memo\":\"%0960d\",\"seq\":%zu}";
    size_t len = strlen(body);
    const char *end = strrchr(body, '}');
    if (end == NULL)
        return NULL;
    size_t entries = at_least > len ? (at_least - len) / 980 + 1 : 1;
    size_t cap = len + sizeof head + entries * 1000 + 16;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    size_t w = (size_t)(end - body);
    memcpy(out, body, w);
    w += (size_t)snprintf(out + w, cap - w, "%s", head);
    for (size_t i = 0; i < entries; i++) {
        if (i > 0)
            out[w++] = ',';
        w += (size_t)snprintf(out + w, cap - w, entry, 0, i);
    }
    snprintf(out + w, cap - w, "]%s", end);
    return out;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    req_body *rb = *con_cls;
    if (rb == NULL) {
        rb = calloc(1, sizeof *rb);
        if (rb == NULL)
            return MHD_NO;
        *con_cls = rb;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rb->too_big || rb->len + n > EMU_MAX_BODY) {
            rb->too_big = true;
            return MHD_YES;
        }
        if (rb->len + n + 1 > rb->cap) {
            size_t cap = (rb->len + n + 1) * 2;
            char *nb = realloc(rb->buf, cap);
            if (nb == NULL)
                return MHD_NO;
            rb->buf = nb;
            rb->cap = cap;
        }
        memcpy(rb->buf + rb->len, upload_data, n);
        rb->len += n;
        rb->buf[rb->len] = '\0';
        return MHD_YES;
    }
    if (strcmp(method, "POST") != 0) {
        log_line("-", "-", 405, "-", method);
        return send_body(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed\n", "text/plain");
    }
    if (strcmp(url, EMU_PATH) != 0) {
        log_line("-", "-", 404, "-", "unknown path");
        return send_body(conn, MHD_HTTP_NOT_FOUND, "Not Found\n", "text/plain");
    }
    if (rb->buf && strlen(rb->buf) != rb->len) {
        log_line("-", "-", 400, "-", "NUL in body");
        return send_body(conn, MHD_HTTP_BAD_REQUEST, "Bad Request\n", "text/plain");
    }
    return handle(conn, rb);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    req_body *rb = *con_cls;
    if (rb) {
        free(rb->buf);
        free(rb);
        *con_cls = NULL;
    }
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = (len + 4096 + 1) * 2;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, 4096, f);
        len += n;
        if (n < 4096)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* ---- TLS 1.3 session tickets ----
 * libmicrohttpd has no option for them, but it announces every new connection
 * (MHD_OPTION_NOTIFY_CONNECTION, STARTED) after gnutls_init and before the handshake, on the
 * thread that accepts: the GnuTLS session is then enabled for tickets with the server's one
 * ticket key (GnuTLS rotates what it derives from it), like a production gateway. */

static gnutls_datum_t g_ticket_key;
static pthread_mutex_t g_ticket_lock = PTHREAD_MUTEX_INITIALIZER;

static int new_ticket_key(void)
{
    gnutls_datum_t k = {NULL, 0};
    if (gnutls_session_ticket_key_generate(&k) != GNUTLS_E_SUCCESS)
        return -1;
    pthread_mutex_lock(&g_ticket_lock);
    gnutls_datum_t old = g_ticket_key;
    g_ticket_key = k;
    pthread_mutex_unlock(&g_ticket_lock);
    if (old.data != NULL) {
        gnutls_memset(old.data, 0, old.size);
        gnutls_free(old.data);
    }
    return 0;
}

/* Fault refuse_ticket (infno "tls"): the server's ticket key is replaced before this
 * connection's handshake, as when a gateway restarts or rotates its key: every ticket issued
 * so far is refused (full handshake), the new ones work. Only exact "tls" faults count, so a
 * "*" fault meant for requests is never spent here. */
static bool take_ticket_fault(void)
{
    sqlite3 *db = NULL;
    if (emu_db_open(g_opts->cfg.db_path, &db) != 0)
        return false;
    bool taken = false;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT id FROM faults WHERE infno='tls' AND kind='refuse_ticket' "
                           "ORDER BY id LIMIT 1",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        long long id = sqlite3_column_int64(st, 0);
        char sql[160];
        snprintf(sql, sizeof sql,
                 "UPDATE faults SET remaining = remaining - 1 WHERE id=%lld AND remaining > 1", id);
        emu_db_exec(db, sql);
        if (sqlite3_changes(db) == 0) {
            snprintf(sql, sizeof sql, "DELETE FROM faults WHERE id=%lld", id);
            emu_db_exec(db, sql);
        }
        taken = true;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return taken;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)socket_context;
    if (toe != MHD_CONNECTION_NOTIFY_STARTED || g_opts->ticket_lifetime_s <= 0)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci == NULL || ci->tls_session == NULL)
        return;
    gnutls_session_t session = (gnutls_session_t)ci->tls_session;
    if (take_ticket_fault()) {
        fprintf(stderr, "platform-emu: fault=refuse_ticket: ticket key replaced\n");
        if (new_ticket_key() != 0)
            return;
    }
    pthread_mutex_lock(&g_ticket_lock);
    int rc = gnutls_session_ticket_enable_server(session, &g_ticket_key);
    pthread_mutex_unlock(&g_ticket_lock);
    if (rc != GNUTLS_E_SUCCESS) {
        fprintf(stderr, "platform-emu: tickets not enabled: %s\n", gnutls_strerror(rc));
        return;
    }
    /* The lifetime each NewSessionTicket announces (and after which GnuTLS refuses it). */
    gnutls_db_set_cache_expiration(session, g_opts->ticket_lifetime_s);
}

static int write_ready_file(const char *path, unsigned port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%u\n", port);
    if (fclose(f) != 0)
        return -1;
    /* rename is atomic: a test polling for the file never reads half a number */
    return rename(tmp, path);
}

int emu_serve(const emu_server_opts *opts)
{
    g_opts = opts;
    if (emu_db_init(opts->cfg.db_path, false) != 0)
        return 1;
    char *cert = read_file(opts->cert_path);
    char *key = read_file(opts->key_path);
    if (cert == NULL || key == NULL) {
        fprintf(stderr, "platform-emu: cannot read %s\n", cert ? opts->key_path : opts->cert_path);
        free(cert);
        free(key);
        return 1;
    }

    if (opts->ticket_lifetime_s > 0 && new_ticket_key() != 0) {
        fprintf(stderr, "platform-emu: cannot make a session ticket key\n");
        free(cert);
        free(key);
        return 1;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_TLS |
                     MHD_USE_ERROR_LOG;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, opts->bind_addr, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)opts->port);
    } else if (inet_pton(AF_INET6, opts->bind_addr, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)opts->port);
        flags |= MHD_USE_IPv6;
    } else {
        fprintf(stderr, "platform-emu: --bind needs a numeric address, got %s\n", opts->bind_addr);
        free(cert);
        free(key);
        return 2;
    }

    /* SIGTERM/SIGINT are taken synchronously below; worker threads inherit the mask */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)opts->port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_MEM_CERT, cert,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        NULL, MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "platform-emu: cannot listen on %s:%d\n", opts->bind_addr, opts->port);
        free(cert);
        free(key);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info ? info->port : (unsigned)opts->port;
    fprintf(stderr, "platform-emu: listening on https://%s:%u%s (paas id %s, tls tickets %s%d s)\n",
            opts->bind_addr, port, EMU_PATH, opts->paas_id,
            opts->ticket_lifetime_s > 0 ? "" : "off, ", opts->ticket_lifetime_s);
    if (opts->ready_file && write_ready_file(opts->ready_file, port) != 0) {
        fprintf(stderr, "platform-emu: cannot write %s\n", opts->ready_file);
        MHD_stop_daemon(d);
        free(cert);
        free(key);
        return 1;
    }
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "platform-emu: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    MHD_stop_daemon(d);
    free(cert);
    free(key);
    return 0;
}
