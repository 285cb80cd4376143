/* Scriptable GnuTLS loopback HTTPS server for tests; see tls_test_server.h. */
#include "tls_test_server.h"
#include "skip_policy.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/random.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------- */
/* GnuTLS, resolved at run time (see the header for why). Pointer types come from the real
 * declarations, so a signature mismatch is a compile error, not a crash. */

#define GNUTLS_FUNCS(X)                                                                            \
    X(gnutls_global_init)                                                                          \
    X(gnutls_certificate_allocate_credentials)                                                     \
    X(gnutls_certificate_set_x509_key_file)                                                        \
    X(gnutls_certificate_free_credentials)                                                         \
    X(gnutls_init)                                                                                 \
    X(gnutls_deinit)                                                                               \
    X(gnutls_priority_set_direct)                                                                  \
    X(gnutls_priority_init)                                                                        \
    X(gnutls_priority_deinit)                                                                      \
    X(gnutls_certificate_set_known_dh_params)                                                      \
    X(gnutls_cipher_suite_get_name)                                                                \
    X(gnutls_kx_get)                                                                               \
    X(gnutls_cipher_get)                                                                           \
    X(gnutls_mac_get)                                                                              \
    X(gnutls_group_get)                                                                            \
    X(gnutls_group_get_name)                                                                       \
    X(gnutls_sign_algorithm_get)                                                                   \
    X(gnutls_sign_get_name)                                                                        \
    X(gnutls_credentials_set)                                                                      \
    X(gnutls_transport_set_int2)                                                                   \
    X(gnutls_handshake)                                                                            \
    X(gnutls_handshake_set_timeout)                                                                \
    X(gnutls_record_send)                                                                          \
    X(gnutls_record_recv)                                                                          \
    X(gnutls_record_set_timeout)                                                                   \
    X(gnutls_bye)                                                                                  \
    X(gnutls_protocol_get_version)                                                                 \
    X(gnutls_protocol_get_name)                                                                    \
    X(gnutls_strerror)                                                                             \
    X(gnutls_error_is_fatal)                                                                       \
    X(gnutls_alert_send)                                                                           \
    X(gnutls_session_ticket_enable_server)                                                         \
    X(gnutls_db_set_cache_expiration)                                                              \
    X(gnutls_session_is_resumed)

#define DECLARE_FN(fn) static __typeof__(fn) *p_##fn;
GNUTLS_FUNCS(DECLARE_FN)
#undef DECLARE_FN

static pthread_once_t gnutls_once = PTHREAD_ONCE_INIT;
static bool gnutls_loaded;
static char gnutls_problem[320];

static void load_gnutls(void)
{
    void *h = dlopen("libgnutls.so.30", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(gnutls_problem, sizeof(gnutls_problem),
                 "GnuTLS runtime libgnutls.so.30 cannot be loaded (Debian package libgnutls30): %s",
                 dlerror());
        return;
    }
#define LOAD_FN(fn)                                                                                \
    p_##fn = (__typeof__(fn) *)dlsym(h, #fn);                                                      \
    if (!p_##fn) {                                                                                 \
        snprintf(gnutls_problem, sizeof(gnutls_problem),                                           \
                 "libgnutls.so.30 has no %s (GnuTLS older than 3.7.3?)", #fn);                     \
        return;                                                                                    \
    }
    GNUTLS_FUNCS(LOAD_FN)
#undef LOAD_FN
    if (p_gnutls_global_init() < 0) {
        snprintf(gnutls_problem, sizeof(gnutls_problem), "gnutls_global_init failed");
        return;
    }
    gnutls_loaded = true;
}

const char *tls_ts_unavailable_reason(void)
{
    pthread_once(&gnutls_once, load_gnutls);
    if (!gnutls_loaded) {
        return gnutls_problem;
    }
    if (system("certtool --version >/dev/null 2>&1") != 0) {
        return "certtool not found (Debian package gnutls-bin)";
    }
    return NULL;
}

bool tls_ts_available(void)
{
    return tls_ts_unavailable_reason() == NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Certificates */

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        return -1;
    }
    fputs(text, f);
    return fclose(f);
}

static int run(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "tls_test_server: command failed (%d): %s\n", rc, cmd);
    }
    return rc == 0 ? 0 : -1;
}

int tls_ts_make_certs(tls_ts_certs *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->dir, sizeof(c->dir), "/tmp/evt-tls-XXXXXX");
    if (!mkdtemp(c->dir)) {
        return -1;
    }
    char cmd[2048];
    char path[320];
    static const char ca_tmpl[] = "cn = \"EVT Test CA\"\nca\ncert_signing_key\n"
                                  "expiration_days = 3650\n";
    static const char rogue_tmpl[] = "cn = \"EVT Rogue CA\"\nca\ncert_signing_key\n"
                                     "expiration_days = 3650\n";
    static const char server_tmpl[] = "cn = \"localhost\"\ndns_name = \"localhost\"\n"
                                      "ip_address = \"127.0.0.1\"\nip_address = \"::1\"\n"
                                      "tls_www_server\nsigning_key\nexpiration_days = 365\n";
    /* RSA server certificates usually allow key encipherment too; without it a server could
     * never offer RSA key transport, and the test that the client refuses it would prove
     * nothing. */
    static const char server_rsa_tmpl[] = "cn = \"localhost\"\ndns_name = \"localhost\"\n"
                                          "ip_address = \"127.0.0.1\"\nip_address = \"::1\"\n"
                                          "tls_www_server\nsigning_key\nencryption_key\n"
                                          "expiration_days = 365\n";
    static const char expired_tmpl[] = "cn = \"localhost\"\ndns_name = \"localhost\"\n"
                                       "ip_address = \"127.0.0.1\"\ntls_www_server\nsigning_key\n"
                                       "activation_date = \"2020-01-01 00:00:00\"\n"
                                       "expiration_date = \"2021-01-01 00:00:00\"\n";
    const struct {
        const char *name;
        const char *text;
    } tmpls[] = {{"ca.tmpl", ca_tmpl},
                 {"rogue.tmpl", rogue_tmpl},
                 {"server.tmpl", server_tmpl},
                 {"server-rsa.tmpl", server_rsa_tmpl},
                 {"expired.tmpl", expired_tmpl}};
    for (size_t i = 0; i < sizeof(tmpls) / sizeof(tmpls[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", c->dir, tmpls[i].name);
        if (write_text(path, tmpls[i].text) != 0) {
            return -1;
        }
    }
    /* P-384 and P-521 server keys: the client accepts the first curve and refuses the second. */
    const struct {
        const char *file;
        const char *curve;
    } keys[] = {{"ca.key", "secp256r1"},
                {"rogue.key", "secp256r1"},
                {"server.key", "secp256r1"},
                {"server-p384.key", "secp384r1"},
                {"server-p521.key", "secp521r1"}};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        snprintf(cmd, sizeof(cmd),
                 "certtool --generate-privkey --key-type=ecdsa --curve=%s "
                 "--outfile '%s/%s' >/dev/null 2>&1",
                 keys[i].curve, c->dir, keys[i].file);
        if (run(cmd) != 0) {
            return -1;
        }
    }
    /* RSA as well: many provincial gateways still present RSA-2048 certificates, and the
     * handshake's memory peak differs. */
    snprintf(cmd, sizeof(cmd),
             "certtool --generate-privkey --key-type=rsa --bits=2048 --outfile '%s/server-rsa.key' "
             ">/dev/null 2>&1",
             c->dir);
    if (run(cmd) != 0) {
        return -1;
    }
    /* Relative names after a cd keep every command a constant string. */
    static const char *const steps[] = {
        "certtool --generate-self-signed --load-privkey ca.key --template ca.tmpl "
        "--outfile ca.pem",
        "certtool --generate-self-signed --load-privkey rogue.key --template rogue.tmpl "
        "--outfile rogue-ca.pem",
        "certtool --generate-certificate --load-privkey server.key --load-ca-certificate ca.pem "
        "--load-ca-privkey ca.key --template server.tmpl --outfile server.pem",
        "certtool --generate-certificate --load-privkey server.key --load-ca-certificate "
        "rogue-ca.pem --load-ca-privkey rogue.key --template server.tmpl "
        "--outfile rogue-server.pem",
        "certtool --generate-certificate --load-privkey server.key --load-ca-certificate ca.pem "
        "--load-ca-privkey ca.key --template expired.tmpl --outfile expired.pem",
        "certtool --generate-certificate --load-privkey server-rsa.key --load-ca-certificate "
        "ca.pem --load-ca-privkey ca.key --template server-rsa.tmpl --outfile server-rsa.pem",
        "certtool --generate-certificate --load-privkey server-p384.key --load-ca-certificate "
        "ca.pem --load-ca-privkey ca.key --template server.tmpl --outfile server-p384.pem",
        "certtool --generate-certificate --load-privkey server-p521.key --load-ca-certificate "
        "ca.pem --load-ca-privkey ca.key --template server.tmpl --outfile server-p521.pem",
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        snprintf(cmd, sizeof(cmd), "cd '%s' && %s >/dev/null 2>&1", c->dir, steps[i]);
        if (run(cmd) != 0) {
            return -1;
        }
    }
    const char *d = c->dir;
    snprintf(c->ca_pem, sizeof(c->ca_pem), "%s/ca.pem", d);
    snprintf(c->server_pem, sizeof(c->server_pem), "%s/server.pem", d);
    snprintf(c->server_key, sizeof(c->server_key), "%s/server.key", d);
    snprintf(c->rogue_ca_pem, sizeof(c->rogue_ca_pem), "%s/rogue-ca.pem", d);
    snprintf(c->rogue_server_pem, sizeof(c->rogue_server_pem), "%s/rogue-server.pem", d);
    snprintf(c->expired_pem, sizeof(c->expired_pem), "%s/expired.pem", d);
    snprintf(c->server_rsa_pem, sizeof(c->server_rsa_pem), "%s/server-rsa.pem", d);
    snprintf(c->server_rsa_key, sizeof(c->server_rsa_key), "%s/server-rsa.key", d);
    snprintf(c->server_p384_pem, sizeof(c->server_p384_pem), "%s/server-p384.pem", d);
    snprintf(c->server_p384_key, sizeof(c->server_p384_key), "%s/server-p384.key", d);
    snprintf(c->server_p521_pem, sizeof(c->server_p521_pem), "%s/server-p521.pem", d);
    snprintf(c->server_p521_key, sizeof(c->server_p521_key), "%s/server-p521.key", d);
    return 0;
}

void tls_ts_remove_certs(const tls_ts_certs *c)
{
    if (!c->dir[0]) {
        return;
    }
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
    (void)run(cmd);
}

char *tls_ts_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0) {
            buf = malloc((size_t)n + 1);
            if (buf) {
                len = fread(buf, 1, (size_t)n, f);
                buf[len] = '\0';
            }
        }
    }
    fclose(f);
    return buf;
}

/* ---------------------------------------------------------------------------------------- */
/* The peer of a test programme */

int tls_ts_peer_setup(tls_ts_peer *peer, const char *program)
{
    memset(peer, 0, sizeof *peer);
    const char *missing = tls_ts_unavailable_reason();
    if (missing != NULL) {
        peer->problem = missing;
    } else if (tls_ts_make_certs(&peer->certs) != 0) {
        peer->problem = "certtool could not make the test certificates (see above)";
    } else {
        peer->ca_pem = tls_ts_read_file(peer->certs.ca_pem);
        peer->rogue_ca_pem = tls_ts_read_file(peer->certs.rogue_ca_pem);
        peer->have_peer = peer->ca_pem != NULL && peer->rogue_ca_pem != NULL;
        peer->problem = "test certificates unreadable";
    }
    return peer->have_peer ? 0 : skip_policy_group_cannot_run(program, peer->problem);
}

void tls_ts_peer_teardown(tls_ts_peer *peer)
{
    tls_ts_remove_certs(&peer->certs);
    free(peer->ca_pem);
    free(peer->rogue_ca_pem);
    peer->ca_pem = NULL;
    peer->rogue_ca_pem = NULL;
    peer->have_peer = false;
}

void tls_ts_peer_require(const tls_ts_peer *peer)
{
    if (!peer->have_peer) {
        skip_policy_cannot_run(peer->problem != NULL ? peer->problem
                                                     : "GnuTLS test peer not set up");
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Server */

#define MAX_STEPS 32

struct tls_test_server {
    tls_ts_options opt;
    char priority[256];
    int listen_fd;
    int stop_pipe[2];
    uint16_t port;
    pthread_t thread;
    bool thread_started;
    gnutls_certificate_credentials_t cred;

    pthread_mutex_t lock;
    pthread_cond_t changed;
    volatile bool stop;
    tls_ts_step steps[MAX_STEPS];
    char *raw_copies[MAX_STEPS];
    size_t step_head, step_count;
    tls_ts_stats stats;
    char *requests[TLS_TS_REQUESTS_KEPT];
    size_t request_count;
    tls_ts_request_hook hook;
    void *hook_arg;
    tls_ts_responder responder;
    void *responder_arg;
    /* Session ticket encryption key (GnuTLS's 64-byte master key), under lock. */
    unsigned char ticket_key[64];
};

/* A fresh random ticket key: every ticket issued before is refused from now on. */
static void new_ticket_key(tls_test_server *srv)
{
    size_t got = 0;
    while (got < sizeof(srv->ticket_key)) {
        ssize_t n = getrandom(srv->ticket_key + got, sizeof(srv->ticket_key) - got, 0);
        if (n > 0) {
            got += (size_t)n;
        }
    }
}

void tls_ts_rotate_ticket_key(tls_test_server *srv)
{
    pthread_mutex_lock(&srv->lock);
    new_ticket_key(srv);
    pthread_mutex_unlock(&srv->lock);
}

static bool stopping(tls_test_server *srv)
{
    pthread_mutex_lock(&srv->lock);
    bool s = srv->stop;
    pthread_mutex_unlock(&srv->lock);
    return s;
}

static tls_ts_step next_step(tls_test_server *srv, const char *req, size_t len, char **raw_owned)
{
    tls_ts_step st = {.action = TLS_TS_OK};
    *raw_owned = NULL;
    pthread_mutex_lock(&srv->lock);
    bool scripted = srv->step_count > 0;
    if (scripted) {
        size_t i = srv->step_head % MAX_STEPS;
        st = srv->steps[i];
        *raw_owned = srv->raw_copies[i];
        srv->raw_copies[i] = NULL;
        srv->step_head++;
        srv->step_count--;
    }
    tls_ts_responder responder = srv->responder;
    void *responder_arg = srv->responder_arg;
    pthread_mutex_unlock(&srv->lock);
    if (!scripted && responder != NULL) {
        tls_ts_step chosen = {.action = TLS_TS_OK};
        if (responder(responder_arg, req, len, &chosen)) {
            st = chosen;
            *raw_owned = chosen.raw ? strdup(chosen.raw) : NULL;
        }
    }
    return st;
}

static int send_all(gnutls_session_t s, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = p_gnutls_record_send(s, p, len);
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_str(gnutls_session_t s, const char *str)
{
    return send_all(s, str, strlen(str));
}

/* Reads one request (head + Content-Length body). 1 = got one, 0 = peer closed, -1 = error
 * or stop. */
static int read_request(tls_test_server *srv, gnutls_session_t s, char *buf, size_t cap,
                        size_t *out_len)
{
    size_t len = 0;
    size_t need = 0; /* total once the head is complete */
    for (;;) {
        if (need && len >= need) {
            *out_len = need;
            return 1;
        }
        if (len == cap - 1) {
            return -1;
        }
        ssize_t n = p_gnutls_record_recv(s, buf + len, cap - 1 - len);
        /* GNUTLS_E_TIMEDOUT is the record timeout: only a chance to look at the stop flag. */
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED || n == GNUTLS_E_TIMEDOUT) {
            if (stopping(srv)) {
                return -1;
            }
            continue;
        }
        if (n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION) {
            return len == 0 ? 0 : -1;
        }
        if (n < 0) {
            return -1;
        }
        len += (size_t)n;
        buf[len] = '\0';
        if (!need) {
            char *end = strstr(buf, "\r\n\r\n");
            if (end) {
                size_t body = 0;
                char *cl = strcasestr(buf, "\r\nContent-Length:");
                if (cl && cl < end) {
                    body = strtoul(cl + 17, NULL, 10);
                }
                need = (size_t)(end + 4 - buf) + body;
                if (need >= cap) {
                    return -1;
                }
            }
        }
    }
}

static void wait_for_client_to_leave(tls_test_server *srv, gnutls_session_t s)
{
    char sink[512];
    for (;;) {
        ssize_t n = p_gnutls_record_recv(s, sink, sizeof(sink));
        /* GNUTLS_E_TIMEDOUT is the record timeout: only a chance to look at the stop flag. */
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED || n == GNUTLS_E_TIMEDOUT) {
            if (stopping(srv)) {
                return;
            }
            continue;
        }
        if (n <= 0) {
            return;
        }
    }
}

static void send_filler(gnutls_session_t s, char fill, size_t size, bool chunked)
{
    char block[4096];
    memset(block, fill, sizeof(block));
    while (size) {
        size_t n = size < sizeof(block) ? size : sizeof(block);
        if (chunked) {
            char hdr[32];
            snprintf(hdr, sizeof(hdr), "%zx\r\n", n);
            if (send_str(s, hdr) != 0) {
                return;
            }
        }
        if (send_all(s, block, n) != 0 || (chunked && send_str(s, "\r\n") != 0)) {
            return;
        }
        size -= n;
    }
    if (chunked) {
        (void)send_str(s, "0\r\n\r\n");
    }
}

typedef enum after {
    AFTER_KEEP,
    AFTER_BYE,  /* close_notify, then TCP close */
    AFTER_DROP, /* TCP close, no close_notify */
} after;

static after perform(tls_test_server *srv, gnutls_session_t s, int fd, tls_ts_step st,
                     const char *raw, unsigned conn, unsigned req, size_t req_len)
{
    char body[128];
    char head[512];
    snprintf(body, sizeof(body), "{\"conn\":%u,\"req\":%u,\"len\":%zu}", conn, req, req_len);
    switch (st.action) {
    case TLS_TS_OK:
    case TLS_TS_CONNECTION_CLOSE:
    case TLS_TS_IDLE_CLOSE:
    case TLS_TS_IDLE_DROP:
        snprintf(head, sizeof(head),
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                 "%s\r\n",
                 strlen(body), st.action == TLS_TS_CONNECTION_CLOSE ? "Connection: close\r\n" : "");
        if (send_str(s, head) != 0 || send_str(s, body) != 0) {
            return AFTER_DROP;
        }
        if (st.action == TLS_TS_IDLE_DROP) {
            return AFTER_DROP;
        }
        return st.action == TLS_TS_OK ? AFTER_KEEP : AFTER_BYE;
    case TLS_TS_CHUNKED: {
        if (send_str(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n") != 0) {
            return AFTER_DROP;
        }
        size_t len = strlen(body), half = len / 2;
        snprintf(head, sizeof(head), "%zx;name=value\r\n", half);
        send_str(s, head);
        send_all(s, body, half);
        snprintf(head, sizeof(head), "\r\n%zX\r\n", len - half);
        send_str(s, head);
        send_all(s, body + half, len - half);
        send_str(s, "\r\n0\r\nX-Trailer: done\r\n\r\n");
        return AFTER_KEEP;
    }
    case TLS_TS_CLOSE_MID_BODY:
        snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
                 2 * strlen(body));
        send_str(s, head);
        send_str(s, body);
        return AFTER_DROP;
    case TLS_TS_CLOSE_NO_RESPONSE:
        return AFTER_DROP;
    case TLS_TS_STATUS: {
        const char *err_body = "{\"infcode\":-1,\"err_msg\":\"gateway\"}";
        snprintf(head, sizeof(head),
                 "HTTP/1.1 %d Test Status\r\nContent-Length: %zu\r\nContent-Type: "
                 "application/json\r\n\r\n",
                 st.status, strlen(err_body));
        send_str(s, head);
        send_str(s, err_body);
        return AFTER_KEEP;
    }
    case TLS_TS_BIG_BODY:
        snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", st.size);
        send_str(s, head);
        send_filler(s, 'a', st.size, false);
        return AFTER_KEEP;
    case TLS_TS_BIG_CHUNKED:
        send_str(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        send_filler(s, 'b', st.size, true);
        return AFTER_KEEP;
    case TLS_TS_RAW:
        send_str(s, raw ? raw : "");
        return AFTER_BYE;
    case TLS_TS_SILENT:
        wait_for_client_to_leave(srv, s);
        return AFTER_DROP;
    case TLS_TS_ALERT:
        p_gnutls_alert_send(s, GNUTLS_AL_FATAL, GNUTLS_A_INTERNAL_ERROR);
        return AFTER_DROP;
    case TLS_TS_REPLY: {
        const char *reply = raw ? raw : "";
        int status = st.status ? st.status : 200;
        snprintf(head, sizeof(head),
                 "HTTP/1.1 %d %s\r\nContent-Type: application/json;charset=utf-8\r\n"
                 "Content-Length: %zu\r\n%s\r\n",
                 status, status == 200 ? "OK" : "Test Status", strlen(reply),
                 st.close ? "Connection: close\r\n" : "");
        if (send_str(s, head) != 0 || send_str(s, reply) != 0) {
            return AFTER_DROP;
        }
        return st.close ? AFTER_BYE : AFTER_KEEP;
    }
    case TLS_TS_BAD_RECORD: {
        /* An application-data record whose authentication cannot verify, written under
         * the TLS layer: what a corrupting middlebox or an attacker produces. */
        static const unsigned char bad[] = {
            0x17, 0x03, 0x03, 0x00, 0x20, 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14,
            15,   16,   17,   18,   19,   20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
        (void)!write(fd, bad, sizeof(bad));
        wait_for_client_to_leave(srv, s);
        return AFTER_DROP;
    }
    }
    return AFTER_DROP;
}

static void count_closed(tls_test_server *srv)
{
    pthread_mutex_lock(&srv->lock);
    srv->stats.connections_closed++;
    pthread_cond_broadcast(&srv->changed);
    pthread_mutex_unlock(&srv->lock);
}

static void serve_plain_silent(tls_test_server *srv, int fd)
{
    char sink[256];
    for (;;) {
        struct pollfd pf[2] = {{.fd = fd, .events = POLLIN},
                               {.fd = srv->stop_pipe[0], .events = POLLIN}};
        if (poll(pf, 2, -1) < 0 && errno != EINTR) {
            return;
        }
        if (pf[1].revents) {
            return;
        }
        if (pf[0].revents) {
            ssize_t n = recv(fd, sink, sizeof(sink), 0);
            if (n <= 0) {
                return;
            }
        }
    }
}

static void copy_name(char *dst, size_t cap, const char *name)
{
    snprintf(dst, cap, "%s", name ? name : "");
}

/* What the handshake settled on, in GnuTLS's names (the client reports mbedTLS's). */
static void record_negotiated(tls_ts_stats *st, gnutls_session_t s)
{
    copy_name(st->last_suite, sizeof(st->last_suite),
              p_gnutls_cipher_suite_get_name(p_gnutls_kx_get(s), p_gnutls_cipher_get(s),
                                             p_gnutls_mac_get(s)));
    copy_name(st->last_group, sizeof(st->last_group),
              p_gnutls_group_get_name(p_gnutls_group_get(s)));
    copy_name(st->last_sign, sizeof(st->last_sign),
              p_gnutls_sign_get_name((gnutls_sign_algorithm_t)p_gnutls_sign_algorithm_get(s)));
}

static void serve_connection(tls_test_server *srv, int fd, unsigned conn)
{
    if (srv->opt.no_tls) {
        serve_plain_silent(srv, fd);
        return;
    }
    gnutls_session_t s;
    if (p_gnutls_init(&s, GNUTLS_SERVER) < 0) {
        return;
    }
    const char *err_pos = NULL;
    p_gnutls_priority_set_direct(s, srv->priority, &err_pos);
    p_gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, srv->cred);
    p_gnutls_transport_set_int2(s, fd, fd);
    p_gnutls_handshake_set_timeout(s, 5000);
    if (srv->opt.ticket_lifetime_s > 0) {
        pthread_mutex_lock(&srv->lock);
        gnutls_datum_t key = {srv->ticket_key, sizeof(srv->ticket_key)};
        int tr = p_gnutls_session_ticket_enable_server(s, &key); /* copies the key */
        pthread_mutex_unlock(&srv->lock);
        if (tr < 0) {
            fprintf(stderr, "tls_test_server: tickets not enabled: %s\n", p_gnutls_strerror(tr));
        }
        p_gnutls_db_set_cache_expiration(s, (int)srv->opt.ticket_lifetime_s);
    }
    int ret;
    do {
        ret = p_gnutls_handshake(s);
    } while (ret < 0 && !p_gnutls_error_is_fatal(ret));
    pthread_mutex_lock(&srv->lock);
    if (ret < 0) {
        srv->stats.handshakes_failed++;
        snprintf(srv->stats.last_handshake_error, sizeof(srv->stats.last_handshake_error), "%s",
                 p_gnutls_strerror(ret));
    } else {
        srv->stats.handshakes_ok++;
        srv->stats.handshakes_resumed += p_gnutls_session_is_resumed(s) ? 1u : 0u;
        snprintf(srv->stats.last_version, sizeof(srv->stats.last_version), "%s",
                 p_gnutls_protocol_get_name(p_gnutls_protocol_get_version(s)));
        record_negotiated(&srv->stats, s);
    }
    pthread_mutex_unlock(&srv->lock);
    if (ret < 0) {
        p_gnutls_deinit(s);
        return;
    }
    /* Short record timeouts so the thread notices a stop request. */
    p_gnutls_record_set_timeout(s, 100);
    /* The largest request: a 2101/2102 of EVT_ORDER_MAX_ITEMS (100) lines, about 30 KB. */
    enum { REQ_CAP = 65536 };
    char *req = malloc(REQ_CAP);
    if (!req) {
        p_gnutls_deinit(s);
        return;
    }
    unsigned req_on_conn = 0;
    after next = AFTER_KEEP;
    while (next == AFTER_KEEP) {
        size_t len = 0;
        int r = read_request(srv, s, req, REQ_CAP, &len);
        if (r <= 0) {
            next = r == 0 ? AFTER_BYE : AFTER_DROP;
            break;
        }
        req_on_conn++;
        pthread_mutex_lock(&srv->lock);
        srv->stats.requests++;
        size_t keep =
            len < sizeof(srv->stats.last_request) - 1 ? len : sizeof(srv->stats.last_request) - 1;
        memcpy(srv->stats.last_request, req, keep);
        srv->stats.last_request[keep] = '\0';
        size_t index = srv->request_count;
        if (index < TLS_TS_REQUESTS_KEPT) {
            srv->requests[index] = strndup(req, len);
            srv->request_count++;
        }
        tls_ts_request_hook hook = srv->hook;
        void *hook_arg = srv->hook_arg;
        pthread_mutex_unlock(&srv->lock);
        if (hook != NULL) {
            hook(hook_arg, index, req, len);
        }
        char *raw = NULL;
        tls_ts_step st = next_step(srv, req, len, &raw);
        const char *body = strstr(req, "\r\n\r\n");
        size_t body_len = body ? len - (size_t)(body + 4 - req) : 0;
        next = perform(srv, s, fd, st, raw, conn, req_on_conn, body_len);
        free(raw);
    }
    if (next == AFTER_BYE) {
        p_gnutls_bye(s, GNUTLS_SHUT_WR);
    }
    free(req);
    p_gnutls_deinit(s);
}

static void *server_thread(void *arg)
{
    tls_test_server *srv = arg;
    unsigned conn = 0;
    for (;;) {
        struct pollfd pf[2] = {{.fd = srv->listen_fd, .events = POLLIN},
                               {.fd = srv->stop_pipe[0], .events = POLLIN}};
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (pf[1].revents) {
            break;
        }
        int fd = accept(srv->listen_fd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        pthread_mutex_lock(&srv->lock);
        srv->stats.connections_accepted++;
        conn = srv->stats.connections_accepted;
        pthread_mutex_unlock(&srv->lock);
        serve_connection(srv, fd, conn);
        close(fd);
        count_closed(srv);
    }
    return NULL;
}

tls_test_server *tls_ts_start(const tls_ts_options *opt)
{
    if (!tls_ts_available()) {
        return NULL;
    }
    /* The client under test hangs up in the middle of answers on purpose; the server's
     * writes must fail with EPIPE, not kill the test program. */
    signal(SIGPIPE, SIG_IGN);
    tls_test_server *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        return NULL;
    }
    srv->opt = *opt;
    srv->listen_fd = -1;
    srv->stop_pipe[0] = srv->stop_pipe[1] = -1;
    snprintf(srv->priority, sizeof(srv->priority), "%s", opt->priority ? opt->priority : "NORMAL");
    /* A priority string with a typo would make every handshake fail, and a test expecting a
     * refusal would then pass for the wrong reason: refuse to start instead. */
    gnutls_priority_t prio;
    const char *err_pos = NULL;
    if (p_gnutls_priority_init(&prio, srv->priority, &err_pos) < 0) {
        fprintf(stderr, "tls_test_server: invalid GnuTLS priority string at \"%s\"\n",
                err_pos ? err_pos : srv->priority);
        free(srv);
        return NULL;
    }
    p_gnutls_priority_deinit(prio);
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->changed, NULL);
    new_ticket_key(srv);
    if (!opt->no_tls) {
        if (p_gnutls_certificate_allocate_credentials(&srv->cred) < 0 ||
            p_gnutls_certificate_set_x509_key_file(srv->cred, opt->cert_file, opt->key_file,
                                                   GNUTLS_X509_FMT_PEM) < 0) {
            fprintf(stderr, "tls_test_server: cannot load %s\n", opt->cert_file);
            tls_ts_stop(srv);
            return NULL;
        }
        /* Finite-field DH parameters (RFC 7919 ffdhe2048), so a priority string with DHE
         * key exchange really offers it: tests check the client refuses it. */
        p_gnutls_certificate_set_known_dh_params(srv->cred, GNUTLS_SEC_PARAM_MEDIUM);
    }
    bool v6 = opt->bind_addr && strchr(opt->bind_addr, ':');
    srv->listen_fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(srv->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t sl;
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        inet_pton(AF_INET6, opt->bind_addr, &a->sin6_addr);
        sl = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        inet_pton(AF_INET, opt->bind_addr ? opt->bind_addr : "127.0.0.1", &a->sin_addr);
        sl = sizeof(*a);
    }
    if (srv->listen_fd < 0 || bind(srv->listen_fd, (struct sockaddr *)&ss, sl) != 0 ||
        listen(srv->listen_fd, 8) != 0 || pipe(srv->stop_pipe) != 0) {
        tls_ts_stop(srv);
        return NULL;
    }
    sl = sizeof(ss);
    getsockname(srv->listen_fd, (struct sockaddr *)&ss, &sl);
    srv->port =
        ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    if (pthread_create(&srv->thread, NULL, server_thread, srv) != 0) {
        tls_ts_stop(srv);
        return NULL;
    }
    srv->thread_started = true;
    return srv;
}

void tls_ts_stop(tls_test_server *srv)
{
    if (!srv) {
        return;
    }
    pthread_mutex_lock(&srv->lock);
    srv->stop = true;
    pthread_mutex_unlock(&srv->lock);
    if (srv->stop_pipe[1] >= 0) {
        (void)!write(srv->stop_pipe[1], "x", 1);
    }
    if (srv->thread_started) {
        pthread_join(srv->thread, NULL);
    }
    if (srv->listen_fd >= 0) {
        close(srv->listen_fd);
    }
    for (int i = 0; i < 2; i++) {
        if (srv->stop_pipe[i] >= 0) {
            close(srv->stop_pipe[i]);
        }
    }
    if (srv->cred) {
        p_gnutls_certificate_free_credentials(srv->cred);
    }
    for (size_t i = 0; i < MAX_STEPS; i++) {
        free(srv->raw_copies[i]);
    }
    for (size_t i = 0; i < srv->request_count; i++) {
        free(srv->requests[i]);
    }
    pthread_cond_destroy(&srv->changed);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}

uint16_t tls_ts_port(const tls_test_server *srv)
{
    return srv->port;
}

void tls_ts_push(tls_test_server *srv, tls_ts_step step)
{
    pthread_mutex_lock(&srv->lock);
    if (srv->step_count < MAX_STEPS) {
        size_t i = (srv->step_head + srv->step_count) % MAX_STEPS;
        srv->steps[i] = step;
        free(srv->raw_copies[i]);
        srv->raw_copies[i] = step.raw ? strdup(step.raw) : NULL;
        srv->step_count++;
    }
    pthread_mutex_unlock(&srv->lock);
}

void tls_ts_get_stats(tls_test_server *srv, tls_ts_stats *out)
{
    pthread_mutex_lock(&srv->lock);
    *out = srv->stats;
    pthread_mutex_unlock(&srv->lock);
}

bool tls_ts_wait_closed(tls_test_server *srv, unsigned n, unsigned timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&srv->lock);
    int rc = 0;
    while (srv->stats.connections_closed < n && rc == 0) {
        rc = pthread_cond_timedwait(&srv->changed, &srv->lock, &deadline);
    }
    bool ok = srv->stats.connections_closed >= n;
    pthread_mutex_unlock(&srv->lock);
    return ok;
}

size_t tls_ts_request_count(tls_test_server *srv)
{
    pthread_mutex_lock(&srv->lock);
    size_t n = srv->request_count;
    pthread_mutex_unlock(&srv->lock);
    return n;
}

bool tls_ts_request(tls_test_server *srv, size_t i, char *buf, size_t cap)
{
    pthread_mutex_lock(&srv->lock);
    bool have = i < srv->request_count && srv->requests[i] != NULL && cap > 0;
    if (have) {
        snprintf(buf, cap, "%s", srv->requests[i]);
    }
    pthread_mutex_unlock(&srv->lock);
    return have;
}

void tls_ts_set_request_hook(tls_test_server *srv, tls_ts_request_hook hook, void *arg)
{
    pthread_mutex_lock(&srv->lock);
    srv->hook = hook;
    srv->hook_arg = arg;
    pthread_mutex_unlock(&srv->lock);
}

void tls_ts_set_responder(tls_test_server *srv, tls_ts_responder responder, void *arg)
{
    pthread_mutex_lock(&srv->lock);
    srv->responder = responder;
    srv->responder_arg = arg;
    pthread_mutex_unlock(&srv->lock);
}
