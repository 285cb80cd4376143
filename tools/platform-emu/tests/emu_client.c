/* Test harness for platform-emu: process control, a GnuTLS HTTPS client, protocol helpers. */
#include "emu_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PAAS_ID    "evt-paas-demo"
#define DEFAULT_PAAS_TOKEN "evt-demo-token-1234"
#define API_PATH           "/fsi/api/rsfComIfsService/callService"
#define IO_TIMEOUT_S       15
#define READY_TIMEOUT_MS   15000

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "emu test harness: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

/* ---- processes ---- */

int emu_server_start(emu_server *s, const char *cert_name, const char *const *extra)
{
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/emu-test-XXXXXX");
    if (mkdtemp(s->dir) == NULL)
        return -1;
    snprintf(s->db, sizeof s->db, "%s/platform.db", s->dir);
    snprintf(s->log, sizeof s->log, "%s/serve.log", s->dir);
    char ready[320], cert[512], key[512];
    snprintf(ready, sizeof ready, "%s/ready", s->dir);
    snprintf(cert, sizeof cert, "%s/%s.pem", EMU_CERT_DIR, cert_name ? cert_name : "server");
    snprintf(key, sizeof key, "%s/%s-key.pem", EMU_CERT_DIR, cert_name ? cert_name : "server");
    const char *argv[40] = {EMU_BINARY, "serve", "--db",  s->db, "--port",       "0",
                            "--cert",   cert,    "--key", key,   "--ready-file", ready};
    int n = 12;
    for (int i = 0; extra && extra[i] && n < 38; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execv(EMU_BINARY, (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    for (int waited = 0; waited < READY_TIMEOUT_MS; waited += 10) {
        FILE *f = fopen(ready, "r");
        if (f) {
            int port = 0;
            int got = fscanf(f, "%d", &port);
            fclose(f);
            if (got == 1 && port > 0) {
                s->port = port;
                return 0;
            }
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            s->pid = 0;
            return -1; /* exited before becoming ready */
        }
        struct timespec d = {0, 10 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    s->pid = 0;
    return -1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int emu_server_stop(emu_server *s)
{
    int code = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int status = 0;
        /* bounded: a server that does not stop within 10 s is a failure, not a hang */
        for (int waited = 0; waited < 10000; waited += 10) {
            pid_t r = waitpid(s->pid, &status, WNOHANG);
            if (r == s->pid) {
                code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                break;
            }
            struct timespec d = {0, 10 * 1000 * 1000};
            nanosleep(&d, NULL);
        }
        if (code == -1) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
        }
        s->pid = 0;
    }
    if (s->dir[0] && getenv("EMU_KEEP_TMP") == NULL)
        nftw(s->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return code;
}

int emu_cli(const emu_server *s, char *out, size_t out_size, const char *const *args)
{
    const char *argv[32];
    int n = 0;
    argv[n++] = EMU_BINARY;
    for (int i = 0; args[i] && n < 28; i++)
        argv[n++] = args[i];
    argv[n++] = "--db";
    argv[n++] = s->db;
    argv[n] = NULL;
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 2);
        execv(EMU_BINARY, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    size_t len = 0;
    for (;;) {
        char buf[512];
        ssize_t r = read(p[0], buf, sizeof buf);
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++)
            if (out && len + 1 < out_size)
                out[len++] = buf[i];
    }
    if (out && out_size)
        out[len] = '\0';
    close(p[0]);
    int status;
    waitpid(pid, &status, 0);
    if (out) /* one-line outputs: drop the newline */
        while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
            out[--len] = '\0';
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

char *emu_server_log(const emu_server *s)
{
    FILE *f = fopen(s->log, "r");
    if (f == NULL)
        return strdup("");
    char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* ---- HTTPS ---- */

int emu_conn_open(emu_conn *c, int port, const char *ca_file, const char *host)
{
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    struct timeval tv = {IO_TIMEOUT_S, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(c->fd);
        return -1;
    }
    gnutls_certificate_allocate_credentials(&c->cred);
    if (gnutls_certificate_set_x509_trust_file(c->cred, ca_file, GNUTLS_X509_FMT_PEM) <= 0)
        die("cannot load %s", ca_file);
    gnutls_init(&c->session, GNUTLS_CLIENT);
    gnutls_server_name_set(c->session, GNUTLS_NAME_DNS, host, strlen(host));
    gnutls_set_default_priority(c->session);
    gnutls_credentials_set(c->session, GNUTLS_CRD_CERTIFICATE, c->cred);
    gnutls_session_set_verify_cert(c->session, host, 0);
    gnutls_transport_set_int(c->session, c->fd);
    gnutls_handshake_set_timeout(c->session, IO_TIMEOUT_S * 1000);
    int ret;
    do {
        ret = gnutls_handshake(c->session);
    } while (ret < 0 && gnutls_error_is_fatal(ret) == 0);
    if (ret < 0) {
        gnutls_deinit(c->session);
        gnutls_certificate_free_credentials(c->cred);
        close(c->fd);
        return ret;
    }
    c->open = true;
    return 0;
}

void emu_conn_close(emu_conn *c)
{
    if (!c->open)
        return;
    gnutls_bye(c->session, GNUTLS_SHUT_WR);
    gnutls_deinit(c->session);
    gnutls_certificate_free_credentials(c->cred);
    close(c->fd);
    c->open = false;
}

void emu_http_resp_free(emu_http_resp *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

static int send_all(emu_conn *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = gnutls_record_send(c->session, p, n);
        if (w == GNUTLS_E_INTERRUPTED || w == GNUTLS_E_AGAIN)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int emu_http_post(emu_conn *c, const char *headers, const char *body, emu_http_resp *r)
{
    memset(r, 0, sizeof *r);
    size_t blen = strlen(body);
    size_t hcap = strlen(headers) + 512;
    char *head = malloc(hcap);
    snprintf(head, hcap,
             "POST " API_PATH " HTTP/1.1\r\nHost: platform.evt.test\r\n"
             "Content-Type: application/json;charset=utf-8\r\nConnection: keep-alive\r\n"
             "Content-Length: %zu\r\n%s\r\n",
             blen, headers);
    int rc = send_all(c, head, strlen(head));
    free(head);
    if (rc == 0)
        rc = send_all(c, body, blen);
    if (rc != 0) {
        r->closed = true;
        emu_conn_close(c);
        return -1;
    }
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    size_t header_end = 0;
    time_t read_deadline = time(NULL) + IO_TIMEOUT_S;
    bool have_length = false;
    for (;;) {
        if (header_end && have_length && len >= header_end + r->content_length)
            break;
        if (len + 4096 + 1 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        ssize_t n = gnutls_record_recv(c->session, buf + len, 4096);
        if (n == GNUTLS_E_INTERRUPTED)
            continue;
        /* TLS 1.3: a NewSessionTicket (the server issues them) is handled inside
         * gnutls_record_recv, which then returns GNUTLS_E_AGAIN although the socket blocks;
         * a real receive timeout (SO_RCVTIMEO) returns it too, but only once the timeout ran. */
        if (n == GNUTLS_E_AGAIN && time(NULL) < read_deadline)
            continue;
        if (n <= 0) {
            r->closed = true; /* EOF, reset, timeout or TLS alert: all "no complete answer" */
            break;
        }
        len += (size_t)n;
        buf[len] = '\0';
        if (!header_end) {
            char *e = strstr(buf, "\r\n\r\n");
            if (e) {
                header_end = (size_t)(e - buf) + 4;
                sscanf(buf, "HTTP/1.%*d %d", &r->status);
                for (char *line = strstr(buf, "\r\n"); line && line < e;
                     line = strstr(line + 2, "\r\n")) {
                    if (strncasecmp(line + 2, "Content-Length:", 15) == 0) {
                        r->content_length = strtoul(line + 17, NULL, 10);
                        have_length = true;
                    }
                }
                if (!have_length)
                    die("response without Content-Length");
            }
        }
    }
    if (header_end) {
        size_t got = len - header_end;
        if (got > r->content_length)
            got = r->content_length;
        r->body = malloc(got + 1);
        memcpy(r->body, buf + header_end, got);
        r->body[got] = '\0';
        r->body_len = got;
        r->complete = got == r->content_length;
    } else {
        r->body = strdup("");
    }
    free(buf);
    if (r->closed)
        emu_conn_close(c);
    return r->complete ? 0 : -1;
}

/* ---- protocol helpers ---- */

int emu_term_open(emu_term *t, emu_server *srv)
{
    memset(t, 0, sizeof *t);
    t->srv = srv;
    t->fixmedins_code = "H12010400001";
    t->opter = "0001";
    return emu_conn_open(&t->conn, srv->port, EMU_CERT_DIR "/ca.pem", "platform.evt.test");
}

void emu_term_close(emu_term *t)
{
    emu_conn_close(&t->conn);
}

void emu_next_msgid(emu_term *t, char msgid[31])
{
    static unsigned counter;
    char compact[15];
    emu_time_compact(time(NULL), compact);
    unsigned n = counter++ % 10000;
    snprintf(msgid, 31, "%.12s%s%04u", t->fixmedins_code, compact, n);
}

json_object *emu_envelope(emu_term *t, const char *infno, json_object *input, const char *insuplc,
                          char msgid[31])
{
    char id[31], text[20];
    emu_next_msgid(t, id);
    if (msgid)
        memcpy(msgid, id, 31);
    emu_time_text(time(NULL), text);
    json_object *e = json_object_new_object();
    json_object_object_add(e, "infno", json_object_new_string(infno));
    json_object_object_add(e, "msgid", json_object_new_string(id));
    json_object_object_add(e, "mdtrtarea_admvs", json_object_new_string("120104"));
    json_object_object_add(e, "insuplc_admdvs", json_object_new_string(insuplc ? insuplc : ""));
    json_object_object_add(e, "recer_sys_code", json_object_new_string("EVTTEST"));
    json_object_object_add(e, "dev_no", json_object_new_string("EVT-TEST-01"));
    json_object_object_add(e, "dev_safe_info", json_object_new_string(""));
    json_object_object_add(e, "cainfo", json_object_new_string(""));
    json_object_object_add(e, "signtype", json_object_new_string(""));
    json_object_object_add(e, "infver", json_object_new_string("V1.0"));
    json_object_object_add(e, "opter_type", json_object_new_string("1"));
    json_object_object_add(e, "opter", json_object_new_string(t->opter));
    json_object_object_add(e, "opter_name", json_object_new_string("刘晓梅"));
    json_object_object_add(e, "inf_time", json_object_new_string(text));
    json_object_object_add(e, "fixmedins_code", json_object_new_string(t->fixmedins_code));
    json_object_object_add(e, "fixmedins_name", json_object_new_string("和平区康宁大药房"));
    json_object_object_add(e, "sign_no", json_object_new_string(t->sign_no));
    json_object_object_add(e, "input", input ? input : json_object_new_object());
    return e;
}

int emu_send(emu_term *t, const emu_gw *gw, const char *body, emu_http_resp *r)
{
    emu_gw none = {0};
    if (gw == NULL)
        gw = &none;
    if (!t->conn.open &&
        emu_conn_open(&t->conn, t->srv->port, EMU_CERT_DIR "/ca.pem", "platform.evt.test") != 0)
        die("reconnect failed");
    char ts[24], nonce[33], sig[65];
    snprintf(ts, sizeof ts, "%lld", (long long)time(NULL) + gw->ts_offset);
    if (gw->nonce)
        snprintf(nonce, sizeof nonce, "%s", gw->nonce);
    else
        emu_random_hex(nonce, 32);
    const char *token = gw->token ? gw->token : DEFAULT_PAAS_TOKEN;
    char src[256];
    snprintf(src, sizeof src, "%s%s%s%s", ts, token, nonce, ts);
    emu_sha256_hex(src, strlen(src), sig);
    const char *names[4] = {"x-tif-paasid", "x-tif-timestamp", "x-tif-nonce", "x-tif-signature"};
    const char *values[4] = {gw->paas_id ? gw->paas_id : DEFAULT_PAAS_ID, ts, nonce,
                             gw->signature ? gw->signature : sig};
    char headers[1024] = "";
    for (int i = 0; i < 4; i++) {
        if (gw->omit_header && strcmp(gw->omit_header, names[i]) == 0)
            continue;
        size_t l = strlen(headers);
        snprintf(headers + l, sizeof headers - l, "%s: %s\r\n", names[i], values[i]);
    }
    return emu_http_post(&t->conn, headers, body, r);
}

json_object *emu_call_body(emu_term *t, const char *body)
{
    emu_http_resp r;
    emu_send(t, NULL, body, &r);
    json_object *o = NULL;
    if (r.complete && r.status == 200)
        o = json_tokener_parse(r.body);
    emu_http_resp_free(&r);
    return o;
}

json_object *emu_call(emu_term *t, const char *infno, json_object *input, const char *insuplc,
                      char msgid_out[31])
{
    json_object *env = emu_envelope(t, infno, input, insuplc, msgid_out);
    json_object *o =
        emu_call_body(t, json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN |
                                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(env);
    return o;
}

int emu_sign_in(emu_term *t)
{
    json_object *in = json_object_new_object(), *s = json_object_new_object();
    json_object_object_add(s, "opter_no", json_object_new_string(t->opter));
    json_object_object_add(s, "mac", json_object_new_string("02:00:00:00:00:01"));
    json_object_object_add(s, "ip", json_object_new_string("127.0.0.1"));
    json_object_object_add(in, "signIn", s);
    json_object *r = emu_call(t, "9001", in, NULL, NULL);
    const char *no = emu_path_str(r, "output.signinoutb.sign_no");
    int rc = -1;
    if (emu_ok(r) && no) {
        snprintf(t->sign_no, sizeof t->sign_no, "%s", no);
        rc = 0;
    }
    json_object_put(r);
    return rc;
}

json_object *emu_path(json_object *o, const char *dotted)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", dotted);
    json_object *cur = o;
    for (char *save = NULL, *part = strtok_r(buf, ".", &save); part && cur;
         part = strtok_r(NULL, ".", &save)) {
        json_object *next = NULL;
        if (json_object_is_type(cur, json_type_array))
            next = json_object_array_get_idx(cur, (size_t)atoi(part));
        else if (!json_object_object_get_ex(cur, part, &next))
            next = NULL;
        cur = next;
    }
    return cur;
}

const char *emu_path_str(json_object *o, const char *dotted)
{
    json_object *v = emu_path(o, dotted);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

emu_fen emu_path_fen(json_object *o, const char *dotted)
{
    json_object *v = emu_path(o, dotted);
    emu_fen f = 0;
    emu_amt_result r = emu_json_fen(v, &f);
    if (r == EMU_AMT_EMPTY)
        return EMU_NA;
    if (r != EMU_AMT_OK)
        die("%s: not an amount: %s", dotted, v ? json_object_get_string(v) : "(missing)");
    return f;
}

bool emu_ok(json_object *resp)
{
    json_object *v = emu_path(resp, "infcode");
    if (v == NULL)
        return false;
    if (json_object_is_type(v, json_type_int))
        return json_object_get_int(v) == 0;
    return json_object_is_type(v, json_type_string) && strcmp(json_object_get_string(v), "0") == 0;
}

const char *emu_err_msg(json_object *resp)
{
    const char *s = emu_path_str(resp, "err_msg");
    return s ? s : "";
}

const char *emu_warn_msg(json_object *resp)
{
    const char *s = emu_path_str(resp, "warn_msg");
    return s ? s : "";
}

int emu_scan(emu_term *t, const char *person, const char *holder, emu_scan_result *out)
{
    memset(out, 0, sizeof *out);
    const char *args[] = {"code", "--person", person, holder ? "--holder" : NULL, holder, NULL};
    if (emu_cli(t->srv, out->code, sizeof out->code, args) != 0)
        return -1;
    json_object *in = json_object_new_object(), *d = json_object_new_object();
    json_object_object_add(d, "orgId", json_object_new_string(t->fixmedins_code));
    json_object_object_add(d, "businessType", json_object_new_string("02121"));
    json_object_object_add(d, "operatorId", json_object_new_string(t->opter));
    json_object_object_add(d, "operatorName", json_object_new_string("刘晓梅"));
    json_object_object_add(d, "officeId", json_object_new_string(""));
    json_object_object_add(d, "officeName", json_object_new_string(""));
    json_object_object_add(d, "ecQrCode", json_object_new_string(out->code));
    json_object_object_add(in, "data", d);
    out->ec = emu_call(t, "ec.query", in, NULL, NULL);
    if (!emu_ok(out->ec))
        return -2;
    snprintf(out->token, sizeof out->token, "%s", emu_path_str(out->ec, "output.data.ecToken"));
    in = json_object_new_object();
    d = json_object_new_object();
    json_object_object_add(d, "mdtrt_cert_type", json_object_new_string("01"));
    json_object_object_add(d, "mdtrt_cert_no", json_object_new_string(out->token));
    json_object_object_add(d, "card_sn", json_object_new_string(""));
    json_object_object_add(d, "begntime", json_object_new_string(""));
    json_object_object_add(d, "psn_cert_type", json_object_new_string("01"));
    json_object_object_add(d, "certno",
                           json_object_new_string(emu_path_str(out->ec, "output.data.idNo")));
    json_object_object_add(d, "psn_name",
                           json_object_new_string(emu_path_str(out->ec, "output.data.userName")));
    json_object_object_add(in, "data", d);
    out->person = emu_call(t, "1101", in, emu_path_str(out->ec, "output.data.insuOrg"), NULL);
    if (!emu_ok(out->person))
        return -3;
    snprintf(out->psn_no, sizeof out->psn_no, "%s",
             emu_path_str(out->person, "output.baseinfo.psn_no"));
    snprintf(out->insuplc, sizeof out->insuplc, "%s",
             emu_path_str(out->person, "output.insuinfo.0.insuplc_admdvs"));
    return 0;
}

void emu_scan_free(emu_scan_result *s)
{
    json_object_put(s->ec);
    json_object_put(s->person);
    s->ec = s->person = NULL;
}

json_object *emu_sale_input(const emu_scan_result *s, const char *insutype, bool use_account,
                            const emu_test_line *lines, size_t n, const char *order_id)
{
    char now[20];
    emu_time_text(time(NULL), now);
    emu_fen total = 0;
    json_object *details = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        emu_fen amt;
        if (emu_fen_parse(lines[i].amount, &amt) != 0)
            die("bad test amount %s", lines[i].amount);
        total += amt;
        json_object *d = json_object_new_object();
        char sn[24];
        snprintf(sn, sizeof sn, "%zu", i + 1);
        json_object_object_add(d, "feedetl_sn", json_object_new_string(sn));
        json_object_object_add(d, "rxno", json_object_new_string(""));
        json_object_object_add(d, "rx_circ_flag", json_object_new_string("0"));
        json_object_object_add(d, "fee_ocur_time", json_object_new_string(now));
        json_object_object_add(d, "med_list_codg", json_object_new_string(lines[i].codg));
        json_object_object_add(d, "medins_list_codg", json_object_new_string("YP0001"));
        json_object_object_add(d, "det_item_fee_sumamt", emu_json_number_text(lines[i].amount));
        json_object_object_add(d, "cnt", json_object_new_int(lines[i].cnt));
        json_object_object_add(d, "pric", json_object_new_string(lines[i].pric));
        json_object_array_add(details, d);
    }
    char sum[32];
    emu_fen_format(total, sum, sizeof sum);
    json_object *di = json_object_new_object();
    json_object_object_add(di, "psn_no", json_object_new_string(s->psn_no));
    json_object_object_add(di, "mdtrt_cert_type", json_object_new_string("01"));
    json_object_object_add(di, "mdtrt_cert_no", json_object_new_string(s->token));
    json_object_object_add(di, "begntime", json_object_new_string(now));
    json_object_object_add(di, "medfee_sumamt", json_object_new_string(sum));
    json_object_object_add(di, "insutype", json_object_new_string(insutype));
    json_object_object_add(di, "acct_used_flag", json_object_new_string(use_account ? "1" : "0"));
    json_object_object_add(di, "med_type", json_object_new_string("41"));
    json_object_object_add(di, "dise_codg", json_object_new_string(""));
    json_object_object_add(di, "dise_name", json_object_new_string(""));
    json_object_object_add(di, "invono", json_object_new_string(""));
    json_object_object_add(di, "fixmedins_setl_id", json_object_new_string(order_id));
    json_object *in = json_object_new_object();
    json_object_object_add(in, "druginfo", di);
    json_object_object_add(in, "drugdetail", details);
    return in;
}

emu_fen emu_balance(emu_server *s, const char *alias)
{
    char out[64];
    const char *args[] = {"balance", "--person", alias, NULL};
    if (emu_cli(s, out, sizeof out, args) != 0)
        return EMU_NA;
    emu_fen f;
    if (emu_fen_parse(out, &f) != 0)
        die("balance output '%s'", out);
    return f;
}

long emu_count(emu_server *s, const char *what)
{
    char out[64];
    const char *args[] = {"count", "--what", what, NULL};
    if (emu_cli(s, out, sizeof out, args) != 0)
        return -1;
    return atol(out);
}
