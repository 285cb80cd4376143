/*
 * Test harness for platform-emu: starts the real binary on a free loopback port with a temp
 * ledger, and talks to it through a small HTTPS/1.1 client written on GnuTLS (never mbedTLS,
 * so the peer stays independent of the firmware's TLS stack).
 */
#ifndef EMU_CLIENT_H
#define EMU_CLIENT_H

#include "emu.h"

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <sys/types.h>

/* ---- the server process ---- */
typedef struct {
    pid_t pid;
    int port;
    char dir[256];
    char db[320];
    char log[320];
} emu_server;

/* extra: NULL-terminated list of additional `serve` arguments (may be NULL); cert_name picks
 * the certificate pair in EMU_CERT_DIR ("server" or "rogue-server"). Returns 0 when the ready
 * file appeared. */
int emu_server_start(emu_server *s, const char *cert_name, const char *const *extra);
/* SIGTERM, wait; returns the exit status (0 = stopped cleanly), removes the temp dir. */
int emu_server_stop(emu_server *s);
/* Runs `platform-emu <args...> --db <db>`, stdout into out; returns the exit status. */
int emu_cli(const emu_server *s, char *out, size_t out_size, const char *const *args);
/* The server's stderr so far (malloc'd). */
char *emu_server_log(const emu_server *s);

/* ---- HTTPS ---- */
typedef struct {
    int fd;
    gnutls_session_t session;
    gnutls_certificate_credentials_t cred;
    bool open;
} emu_conn;

/* Connects and handshakes, verifying the chain against ca_file and the name `host`. Returns
 * 0, or a GnuTLS error code (< 0), or -1 when the TCP connect failed. */
int emu_conn_open(emu_conn *c, int port, const char *ca_file, const char *host);
void emu_conn_close(emu_conn *c);

typedef struct {
    int status;
    char *body; /* NUL-terminated, malloc'd, possibly partial */
    size_t body_len;
    size_t content_length;
    bool complete; /* the whole Content-Length arrived */
    bool closed;   /* the server closed the connection */
} emu_http_resp;

void emu_http_resp_free(emu_http_resp *r);
/* One request on the open connection. Returns 0 when a complete response arrived. */
int emu_http_post(emu_conn *c, const char *headers, const char *body, emu_http_resp *r);

/* ---- the protocol, as a terminal would speak it ---- */
typedef struct {
    const char *paas_id;     /* NULL: the default */
    const char *token;       /* NULL: the default */
    long long ts_offset;     /* added to now */
    const char *nonce;       /* NULL: fresh random */
    const char *signature;   /* NULL: computed */
    const char *omit_header; /* name of one x-tif-* header to leave out */
} emu_gw;

typedef struct {
    emu_server *srv;
    emu_conn conn;
    const char *fixmedins_code;
    const char *opter;
    char sign_no[40];
} emu_term;

int emu_term_open(emu_term *t, emu_server *srv);
void emu_term_close(emu_term *t);
/* A fresh msgid for this terminal (unique within the test process). */
void emu_next_msgid(emu_term *t, char msgid[31]);
/* The standard envelope around input (input reference is taken over). */
json_object *emu_envelope(emu_term *t, const char *infno, json_object *input, const char *insuplc,
                          char msgid[31]);
/* Sends a body with gateway headers; reconnects first if the connection was closed. */
int emu_send(emu_term *t, const emu_gw *gw, const char *body, emu_http_resp *r);
/* Envelope + send + parse. Returns the parsed response (NULL if no valid JSON came back). */
json_object *emu_call(emu_term *t, const char *infno, json_object *input, const char *insuplc,
                      char msgid_out[31]);
json_object *emu_call_body(emu_term *t, const char *body);
/* 9001 for this terminal's operator; stores sign_no. */
int emu_sign_in(emu_term *t);

/* Response accessors */
bool emu_ok(json_object *resp);                            /* infcode 0 (number or string) */
const char *emu_err_msg(json_object *resp);                /* err_msg or "" */
const char *emu_warn_msg(json_object *resp);               /* warn_msg or "" */
json_object *emu_path(json_object *o, const char *dotted); /* "output.setlinfo.acct_pay" */
const char *emu_path_str(json_object *o, const char *dotted);
/* An amount in any wire form; aborts the test on a bad form. EMU_NA for "". */
#define EMU_NA ((emu_fen)INT64_MIN)
emu_fen emu_path_fen(json_object *o, const char *dotted);

/* Issues a code via the CLI, decodes it (ec.query) and reads the person (1101).
 * Fills token and psn_no; returns the 1101 response (or NULL and *failed_resp for the failing
 * step). */
typedef struct {
    char code[64];
    char token[64];
    char psn_no[32];
    char insuplc[8];
    json_object *ec; /* ec.query response */
    json_object *person;
} emu_scan_result;
int emu_scan(emu_term *t, const char *person, const char *holder, emu_scan_result *out);
void emu_scan_free(emu_scan_result *s);

typedef struct {
    const char *codg;
    int cnt;
    const char *pric; /* yuan text */
    const char *amount;
} emu_test_line;
/* druginfo + drugdetail for a sale */
json_object *emu_sale_input(const emu_scan_result *s, const char *insutype, bool use_account,
                            const emu_test_line *lines, size_t n, const char *order_id);
/* balance of an alias in fen via the CLI; EMU_NA for resident insurance */
emu_fen emu_balance(emu_server *s, const char *alias);
long emu_count(emu_server *s, const char *what);

#endif
