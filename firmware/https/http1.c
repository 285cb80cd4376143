/*
 * evt_http1: HTTP/1.1 response framing for evt_https (firmware/https/http1.h). Deliberately
 * small and strict: the terminal talks to one kind of server, so anything outside plain
 * HTTP/1.1 framing (Content-Length, chunked, read-to-close) is an error, not something to be
 * tolerant about.
 */
#include "http1.h"

#include <string.h>

#include "evt/arena.h"

#define MAX_INTERIM_RESPONSES 4

/* ---------------------------------------------------------------------------------------- */
/* Character rules */

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool evt_http1_ieq(const char *a, const char *b)
{
    while (*a && *b) {
        if (lower(*a) != lower(*b)) {
            return false;
        }
        a++;
        b++;
    }
    return *a == *b;
}

/* RFC 9110 tchar. */
static bool is_tchar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool evt_http1_is_token(const char *s)
{
    if (!*s) {
        return false;
    }
    for (; *s; s++) {
        if (!is_tchar(*s)) {
            return false;
        }
    }
    return true;
}

/* Field value: visible ASCII, obs-text, SP and HTAB; never CR, LF or NUL. */
bool evt_http1_is_field_value(const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 && ch != '\t') {
            return false;
        }
        if (ch == 0x7f) {
            return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Reading */

void evt_http1_reset(evt_http1_reader *r)
{
    r->rx_pos = r->rx_len = 0;
    r->eof = r->clean_eof = false;
}

bool evt_http1_idle(const evt_http1_reader *r)
{
    return r->rx_pos == r->rx_len && !r->eof;
}

/* Next bytes from the source into the buffer. */
static evt_err fill(evt_http1_reader *r)
{
    if (r->eof) {
        return EVT_ERR_NET_CLOSED;
    }
    size_t got = 0;
    bool clean_end = false;
    evt_err err = r->source.read(r->source.ctx, r->rx, sizeof r->rx, &got, &clean_end);
    if (err == EVT_OK) {
        if (got == 0 || got > sizeof r->rx) {
            return EVT_ERR_INTERNAL; /* the source broke its contract */
        }
        r->rx_pos = 0;
        r->rx_len = got;
        return EVT_OK;
    }
    if (err == EVT_ERR_NET_CLOSED) {
        r->eof = true;
        r->clean_eof = clean_end;
    }
    return err;
}

/* Reads one CRLF-terminated line into r->line (without CRLF). A bare LF, a CR not followed
 * by LF, or a NUL is malformed; a line longer than the limit is too large. */
static evt_err read_line(evt_http1_reader *r, size_t *len_out, size_t *section_budget)
{
    size_t len = 0;
    bool cr = false;
    for (;;) {
        if (r->rx_pos == r->rx_len) {
            evt_err err = fill(r);
            if (err != EVT_OK) {
                return err;
            }
        }
        char ch = (char)r->rx[r->rx_pos++];
        if (*section_budget == 0) {
            return EVT_ERR_HTTP_TOO_LARGE;
        }
        (*section_budget)--;
        if (cr) {
            if (ch != '\n') {
                return EVT_ERR_HTTP_MALFORMED;
            }
            r->line[len] = '\0';
            *len_out = len;
            return EVT_OK;
        }
        if (ch == '\r') {
            cr = true;
            continue;
        }
        if (ch == '\n' || ch == '\0') {
            return EVT_ERR_HTTP_MALFORMED;
        }
        if (len == EVT_HTTPS_MAX_LINE) {
            return EVT_ERR_HTTP_TOO_LARGE;
        }
        r->line[len++] = ch;
    }
}

/* The next piece of at most n received bytes (reading more when none is buffered), taken out
 * of the receive buffer: *piece stays valid until the next read. Shared by every byte-counted
 * read, so the refill logic exists once. */
static evt_err next_piece(evt_http1_reader *r, size_t n, const uint8_t **piece, size_t *len)
{
    if (r->rx_pos == r->rx_len) {
        evt_err err = fill(r);
        if (err != EVT_OK) {
            return err;
        }
    }
    size_t take = r->rx_len - r->rx_pos;
    if (take > n) {
        take = n;
    }
    *piece = r->rx + r->rx_pos;
    *len = take;
    r->rx_pos += take;
    return EVT_OK;
}

static evt_err read_exact(evt_http1_reader *r, uint8_t *dst, size_t n)
{
    while (n) {
        const uint8_t *piece;
        size_t take;
        evt_err err = next_piece(r, n, &piece, &take);
        if (err != EVT_OK) {
            return err;
        }
        memcpy(dst, piece, take);
        dst += take;
        n -= take;
    }
    return EVT_OK;
}

typedef struct parsed_head {
    int status;
    int minor_version; /* HTTP/1.x */
    bool has_length;
    uint64_t content_length;
    bool chunked;
    bool conn_close;
    bool conn_keep_alive;
} parsed_head;

static bool parse_status_line(const char *l, size_t len, parsed_head *h)
{
    /* "HTTP/1.1 200 OK" — the reason phrase may be empty, and the SP before it is
     * optional in practice (RFC 9112 asks clients to ignore the reason). */
    if (len < 12 || memcmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') || l[8] != ' ') {
        return false;
    }
    for (int i = 9; i < 12; i++) {
        if (l[i] < '0' || l[i] > '9') {
            return false;
        }
    }
    if (len > 12 && l[12] != ' ') {
        return false;
    }
    for (size_t i = 13; i < len; i++) {
        unsigned char ch = (unsigned char)l[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            return false;
        }
    }
    h->minor_version = l[7] - '0';
    h->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
    return h->status >= 100;
}

/* Trims optional whitespace around a field value in place; returns the start. */
static char *trim_ows(char *v)
{
    while (*v == ' ' || *v == '\t') {
        v++;
    }
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) {
        v[--n] = '\0';
    }
    return v;
}

static bool parse_decimal(const char *v, uint64_t *out)
{
    if (!*v) {
        return false;
    }
    uint64_t n = 0;
    for (; *v; v++) {
        if (*v < '0' || *v > '9') {
            return false;
        }
        if (n > (UINT64_MAX - 9) / 10) {
            return false;
        }
        n = n * 10 + (uint64_t)(*v - '0');
    }
    *out = n;
    return true;
}

/* Connection: comma-separated tokens. */
static bool parse_connection(char *v, parsed_head *h)
{
    char *p = v;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        if (!*p) {
            break;
        }
        char *start = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t') {
            if (!is_tchar(*p)) {
                return false;
            }
            p++;
        }
        char save = *p;
        *p = '\0';
        if (evt_http1_ieq(start, "close")) {
            h->conn_close = true;
        } else if (evt_http1_ieq(start, "keep-alive")) {
            h->conn_keep_alive = true;
        }
        *p = save;
    }
    return true;
}

static evt_err parse_header_line(char *l, parsed_head *h)
{
    /* obs-fold (a continuation line) was deprecated by RFC 7230 and is refused. */
    if (l[0] == ' ' || l[0] == '\t') {
        return EVT_ERR_HTTP_MALFORMED;
    }
    char *colon = strchr(l, ':');
    if (!colon) {
        return EVT_ERR_HTTP_MALFORMED;
    }
    *colon = '\0';
    if (!evt_http1_is_token(l)) {
        return EVT_ERR_HTTP_MALFORMED; /* includes whitespace before the colon */
    }
    char *value = trim_ows(colon + 1);
    if (!evt_http1_is_field_value(value)) {
        return EVT_ERR_HTTP_MALFORMED;
    }
    if (evt_http1_ieq(l, "Content-Length")) {
        uint64_t n;
        if (!parse_decimal(value, &n)) {
            return EVT_ERR_HTTP_MALFORMED;
        }
        /* Repeated lengths that disagree are a classic smuggling vector. */
        if (h->has_length && h->content_length != n) {
            return EVT_ERR_HTTP_MALFORMED;
        }
        h->has_length = true;
        h->content_length = n;
    } else if (evt_http1_ieq(l, "Transfer-Encoding")) {
        /* We send no TE header, so only plain chunked may come back. */
        if (!evt_http1_ieq(value, "chunked") || h->chunked) {
            return EVT_ERR_HTTP_MALFORMED;
        }
        h->chunked = true;
    } else if (evt_http1_ieq(l, "Connection")) {
        if (!parse_connection(value, h)) {
            return EVT_ERR_HTTP_MALFORMED;
        }
    }
    return EVT_OK;
}

static evt_err read_head(evt_http1_reader *r, parsed_head *h)
{
    for (int interim = 0; interim <= MAX_INTERIM_RESPONSES; interim++) {
        memset(h, 0, sizeof(*h));
        size_t budget = EVT_HTTPS_MAX_HEADER_SECTION;
        size_t len = 0;
        evt_err err = read_line(r, &len, &budget);
        if (err != EVT_OK) {
            return err;
        }
        if (!parse_status_line(r->line, len, h)) {
            return EVT_ERR_HTTP_MALFORMED;
        }
        for (;;) {
            err = read_line(r, &len, &budget);
            if (err != EVT_OK) {
                return err;
            }
            if (len == 0) {
                break;
            }
            err = parse_header_line(r->line, h);
            if (err != EVT_OK) {
                return err;
            }
        }
        if (h->status >= 200) {
            return EVT_OK;
        }
        if (h->status == 101) {
            return EVT_ERR_HTTP_MALFORMED; /* we never ask to switch protocols */
        }
        /* 1xx interim response (e.g. 100 Continue): the final one follows. */
    }
    return EVT_ERR_HTTP_MALFORMED;
}

/* Where the body goes: handed on piece by piece to a sink (nothing kept), or collected in
 * an arena buffer (tests, tools). */
typedef struct body_out {
    const evt_https_sink *sink;
    char *buf;
    size_t cap, len;
    size_t max;
} body_out;

/* Grows an arena buffer; the allocator has no realloc. */
static evt_err body_reserve(body_out *b, size_t need)
{
    if (need <= b->cap) {
        return EVT_OK;
    }
    size_t ncap = b->cap ? b->cap : 1024;
    while (ncap < need) {
        ncap *= 2;
    }
    char *nb = evt_malloc(ncap);
    if (!nb) {
        return EVT_ERR_NOMEM;
    }
    if (b->buf) {
        memcpy(nb, b->buf, b->cap);
        evt_free(b->buf);
    }
    b->buf = nb;
    b->cap = ncap;
    return EVT_OK;
}

static evt_err body_take(body_out *b, const uint8_t *p, size_t n)
{
    if (n > b->max - b->len) {
        return EVT_ERR_HTTP_TOO_LARGE;
    }
    if (b->sink) {
        evt_err err = b->sink->write(b->sink->ctx, p, n);
        if (err != EVT_OK) {
            return err;
        }
    } else {
        evt_err err = body_reserve(b, b->len + n + 1);
        if (err != EVT_OK) {
            return err;
        }
        memcpy(b->buf + b->len, p, n);
    }
    b->len += n;
    return EVT_OK;
}

/* n body bytes from the connection, as they arrive. */
static evt_err read_body(evt_http1_reader *r, body_out *b, size_t n)
{
    while (n) {
        const uint8_t *piece;
        size_t take;
        evt_err err = next_piece(r, n, &piece, &take);
        if (err == EVT_OK) {
            err = body_take(b, piece, take);
        }
        if (err != EVT_OK) {
            return err;
        }
        n -= take;
    }
    return EVT_OK;
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

static evt_err read_chunked(evt_http1_reader *r, body_out *b)
{
    size_t budget = EVT_HTTPS_MAX_HEADER_SECTION; /* chunk-size lines and trailers */
    for (;;) {
        size_t llen = 0;
        evt_err err = read_line(r, &llen, &budget);
        if (err != EVT_OK) {
            return err;
        }
        uint64_t size = 0;
        size_t i = 0;
        for (; i < llen; i++) {
            int hv = hex_value(r->line[i]);
            if (hv < 0) {
                break;
            }
            if (i >= 15) {
                return EVT_ERR_HTTP_TOO_LARGE; /* beyond any cap we could accept */
            }
            size = size * 16 + (uint64_t)hv;
        }
        /* chunk-size [ BWS ; chunk-ext ]: extensions carry nothing we use. */
        if (i == 0) {
            return EVT_ERR_HTTP_MALFORMED;
        }
        size_t j = i;
        while (j < llen && (r->line[j] == ' ' || r->line[j] == '\t')) {
            j++;
        }
        if (j < llen && r->line[j] != ';') {
            return EVT_ERR_HTTP_MALFORMED;
        }
        if (size == 0) {
            break;
        }
        if (size > b->max - b->len) {
            return EVT_ERR_HTTP_TOO_LARGE;
        }
        err = read_body(r, b, (size_t)size);
        if (err != EVT_OK) {
            return err;
        }
        uint8_t crlf[2];
        err = read_exact(r, crlf, 2);
        if (err != EVT_OK) {
            return err;
        }
        if (crlf[0] != '\r' || crlf[1] != '\n') {
            return EVT_ERR_HTTP_MALFORMED;
        }
    }
    /* Trailer section: header lines up to an empty line; nothing in it concerns us. */
    for (;;) {
        size_t llen = 0;
        evt_err err = read_line(r, &llen, &budget);
        if (err != EVT_OK) {
            return err;
        }
        if (llen == 0) {
            return EVT_OK;
        }
        char *colon = strchr(r->line, ':');
        if (!colon || r->line[0] == ' ' || r->line[0] == '\t') {
            return EVT_ERR_HTTP_MALFORMED;
        }
        *colon = '\0';
        if (!evt_http1_is_token(r->line) || !evt_http1_is_field_value(colon + 1)) {
            return EVT_ERR_HTTP_MALFORMED;
        }
    }
}

static evt_err read_to_close(evt_http1_reader *r, body_out *b)
{
    for (;;) {
        if (r->rx_pos == r->rx_len) {
            evt_err err = fill(r);
            if (err == EVT_ERR_NET_CLOSED) {
                /* Without close_notify the end of the body cannot be told from a
                 * truncation by an attacker or a broken link. */
                return r->clean_eof ? EVT_OK : EVT_ERR_NET_CLOSED;
            }
            if (err != EVT_OK) {
                return err;
            }
        }
        evt_err err = read_body(r, b, r->rx_len - r->rx_pos);
        if (err != EVT_OK) {
            return err;
        }
    }
}

evt_err evt_http1_read_response(evt_http1_reader *r, const evt_http1_source *src, size_t max_body,
                                const evt_https_sink *sink, evt_http1_response *out)
{
    memset(out, 0, sizeof *out);
    r->source = *src;
    parsed_head h;
    evt_err err = read_head(r, &h);
    if (err != EVT_OK) {
        return err;
    }
    out->status = h.status;
    if (h.chunked && h.has_length) {
        return EVT_ERR_HTTP_MALFORMED;
    }
    bool persistent = h.minor_version == 1 ? !h.conn_close : (h.conn_keep_alive && !h.conn_close);

    body_out b = {.sink = sink, .buf = NULL, .cap = 0, .len = 0, .max = max_body};
    bool no_body = h.status == 204 || h.status == 304;
    if (no_body) {
        err = EVT_OK;
    } else if (h.chunked) {
        err = read_chunked(r, &b);
    } else if (h.has_length) {
        if (h.content_length > max_body) {
            err = EVT_ERR_HTTP_TOO_LARGE;
        } else {
            if (!sink) {
                err = body_reserve(&b, (size_t)h.content_length + 1);
            }
            if (err == EVT_OK) {
                err = read_body(r, &b, (size_t)h.content_length);
            }
        }
    } else {
        persistent = false;
        err = read_to_close(r, &b);
    }
    if (err == EVT_OK && !sink) {
        err = body_reserve(&b, b.len + 1);
    }
    if (err != EVT_OK) {
        evt_free(b.buf);
        return err;
    }
    if (b.buf) {
        b.buf[b.len] = '\0';
    }
    out->body = b.buf;
    out->body_len = b.len;
    /* Bytes beyond the response on a connection we did not pipeline on mean we are out of
     * step with the server: never reuse such a connection. */
    out->keep_alive = persistent && evt_http1_idle(r);
    return EVT_OK;
}
