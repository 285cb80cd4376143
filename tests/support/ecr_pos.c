/* ecr_pos: see ecr_pos.h. */
#include "ecr_pos.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/md.h>

void ecr_pos_connect(ecr_pos *p, uint16_t port, const uint8_t key[32])
{
    memset(p, 0, sizeof *p);
    memcpy(p->key, key, sizeof p->key);
    p->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(p->fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(p->fd, (struct sockaddr *)&sa, sizeof sa), 0);
}

void ecr_pos_close(ecr_pos *p)
{
    if (p->fd >= 0) {
        close(p->fd);
    }
    p->fd = -1;
}

static void hex_of(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0F];
    }
    out[2 * n] = '\0';
}

void ecr_pos_mac_hex(const ecr_pos *p, char dir, const char *text, size_t len, char out[65])
{
    char head[128];
    int n = snprintf(head, sizeof head, "EVT-ECR-2\n%c\n%s\n", dir, p->session);
    mbedtls_md_context_t md;
    mbedtls_md_init(&md);
    uint8_t mac[32];
    assert_int_equal(mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1), 0);
    assert_int_equal(mbedtls_md_hmac_starts(&md, p->key, sizeof p->key), 0);
    assert_int_equal(mbedtls_md_hmac_update(&md, (const uint8_t *)head, (size_t)n), 0);
    assert_int_equal(mbedtls_md_hmac_update(&md, (const uint8_t *)text, len), 0);
    assert_int_equal(mbedtls_md_hmac_finish(&md, mac), 0);
    mbedtls_md_free(&md);
    hex_of(mac, sizeof mac, out);
}

size_t ecr_pos_seal(ecr_pos *p, const char *text, size_t len, char *out, size_t cap)
{
    static char body[32768];
    assert_true(len + 40 < sizeof body);
    memcpy(body, text, len);
    size_t blen = len;
    bool object = len >= 2 && text[0] == '{' && text[len - 1] == '}';
    if (object) {
        blen = len - 1 +
               (size_t)sprintf(body + len - 1, "%s\"seq\":%llu}", len > 2 ? "," : "",
                               (unsigned long long)++p->tx_seq);
    } else {
        body[blen++] = '}';
    }
    char mac[65];
    ecr_pos_mac_hex(p, 'P', body, blen, mac);
    assert_true(blen + 80 < cap);
    memcpy(out, body, blen - 1);
    return blen - 1 + (size_t)sprintf(out + blen - 1, ",\"mac\":\"%s\"}", mac);
}

void ecr_pos_send_raw(ecr_pos *p, const void *data, size_t len)
{
    const char *bytes = data;
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(p->fd, bytes + off, len - off, MSG_NOSIGNAL);
        assert_true(n > 0);
        off += (size_t)n;
    }
}

void ecr_pos_send(ecr_pos *p, const char *text)
{
    size_t len = strlen(text);
    if (!p->paired) {
        ecr_pos_send_raw(p, text, len);
        return;
    }
    static char wire[65536];
    size_t w = 0;
    const char *line = text;
    for (const char *nl; (nl = memchr(line, '\n', len - (size_t)(line - text))) != NULL;
         line = nl + 1) {
        size_t l = (size_t)(nl - line);
        bool cr = l > 0 && line[l - 1] == '\r';
        size_t content = cr ? l - 1 : l;
        bool blank = true;
        for (size_t i = 0; i < content; i++) {
            blank = blank && (line[i] == ' ' || line[i] == '\t');
        }
        if (blank) {
            memcpy(wire + w, line, l + 1);
            w += l + 1;
            continue;
        }
        w += ecr_pos_seal(p, line, content, wire + w, sizeof wire - w);
        memcpy(wire + w, cr ? "\r\n" : "\n", cr ? 2 : 1);
        w += cr ? 2 : 1;
    }
    assert_true(line == text + len); /* partial lines: seal first (ecr_pos_seal), then send */
    ecr_pos_send_raw(p, wire, w);
}

/* Strips and checks the terminal's ,"seq":N,"mac":"…" ending of a paired reply. */
static void open_reply(ecr_pos *p, char *line)
{
    size_t len = strlen(line);
    char *m = strstr(line, ",\"mac\":\"");
    if (m == NULL || (size_t)(line + len - m) != 8 + 64 + 2) {
        fail_msg("reply without its MAC: %s", line);
    }
    char got[65];
    memcpy(got, m + 8, 64);
    got[64] = '\0';
    m[0] = '}';
    m[1] = '\0';
    char want[65];
    ecr_pos_mac_hex(p, 'T', line, strlen(line), want);
    if (strcmp(got, want) != 0) {
        fail_msg("reply MAC does not verify: %s", line);
    }
    char *seq = strstr(line, ",\"seq\":");
    assert_non_null(seq);
    unsigned long long n = strtoull(seq + 7, NULL, 10);
    assert_int_equal(n, p->rx_seq + 1);
    p->rx_seq = n;
    seq[0] = '}';
    seq[1] = '\0';
}

const char *ecr_pos_take_line(ecr_pos *p, char *out, size_t cap)
{
    for (;;) {
        char *nl = memchr(p->buf, '\n', p->fill);
        if (nl != NULL) {
            size_t len = (size_t)(nl - p->buf);
            assert_true(len < cap);
            memcpy(out, p->buf, len);
            out[len] = '\0';
            memmove(p->buf, nl + 1, p->fill - len - 1);
            p->fill -= len + 1;
            if (p->paired && strstr(out, "\"mac\"") != NULL) {
                open_reply(p, out);
            }
            return out;
        }
        ssize_t n = recv(p->fd, p->buf + p->fill, sizeof p->buf - p->fill, MSG_DONTWAIT);
        if (n <= 0) {
            return NULL;
        }
        p->fill += (size_t)n;
    }
}

bool ecr_pos_sees_eof(ecr_pos *p, int wait_ms)
{
    for (int i = 0; i < 64; i++) { /* bounded: each read takes data or ends the wait */
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        if (poll(&pfd, 1, wait_ms) <= 0) {
            return false;
        }
        char c[4096];
        ssize_t n = recv(p->fd, c, sizeof c, MSG_DONTWAIT);
        if (n == 0) {
            return true;
        }
        if (n < 0) {
            return false;
        }
    }
    return false;
}

const char *ecr_pos_pair(ecr_pos *p, ecr_pos_wait_fn wait, void *arg, char *out, size_t cap)
{
    char line[1024];
    wait(p, line, sizeof line, arg);
    const char *ch = strstr(line, "\"challenge\":\"");
    if (strstr(line, "\"type\":\"hello\"") == NULL || ch == NULL) {
        fail_msg("expected a hello with a challenge, got %s", line);
    }
    memcpy(p->session, ch + 13, 32);
    p->session[32] = '\0';
    static const char nonce[] = "00112233445566778899aabbccddeeff";
    char auth[256], wire[512];
    snprintf(auth, sizeof auth, "{\"v\":2,\"type\":\"auth\",\"pos\":\"test\",\"nonce\":\"%s\"}",
             nonce);
    size_t n = ecr_pos_seal(p, auth, strlen(auth), wire, sizeof wire - 1);
    wire[n++] = '\n';
    ecr_pos_send_raw(p, wire, n);
    strcat(p->session, nonce);
    p->paired = true;
    return wait(p, out, cap, arg);
}
