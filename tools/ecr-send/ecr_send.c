/*
 * ecr-send: plays the pharmacy's POS for one request on the terminal's ECR link
 * (docs/ecr-link.md). Sends one JSON line, prints every reply line as it arrives, and stops at
 * the final reply ("result" or "error"; "ack" only means the sale was accepted).
 *
 * The link is authenticated (protocol v2): the tool reads the terminal's hello, answers with
 * an auth line MACed with the pairing key, checks the terminal's auth_ok, then sends the
 * request with its sequence number and MAC, and checks the MAC and sequence of every reply.
 * The HMAC here is GnuTLS's, an implementation independent of the firmware's mbedTLS.
 *
 * A "busy" result (the terminal is serving another order, or the cashier works at it) may be
 * retried as a real POS would: --busy-retries N sends the request again up to N times, on a
 * new connection after --busy-pause-ms each.
 *
 * Exit status: 0 when the final reply is a settled result (a sale, a visit) or a refunded one
 * (a refund), 1 for anything else (refused, failed, unknown, busy after the retries, error
 * reply, timeout, connection trouble, a reply that fails its MAC), 2 for usage errors. Host
 * tool: POSIX sockets, libcjson, GnuTLS (HMAC, randomness).
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#define MAX_REQUEST (16 * 1024)
#define MAX_REPLY   (64 * 1024)

#define KEY_BYTES   32
#define MAC_HEX     64
#define NONCE_BYTES 16

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ecr-send --port P [--host 127.0.0.1]\n"
            "                (--order FILE.json | --json TEXT | --refund ORDER_ID)\n"
            "                (--key HEX64 | --provision FILE) [--timeout SECONDS]\n"
            "                [--fees FILE.jsonl] [--busy-retries N] [--busy-pause-ms MS]\n"
            "Sends one ECR request (sale, visit, status, refund) and prints the reply lines\n"
            "until the final one. The pairing key is the terminal's ecr_key (64 hex digits),\n"
            "given directly or read from the terminal's provisioning file.\n"
            "--refund ORDER_ID: the refund of that sale or visit of today\n"
            "  ({\"type\":\"refund\",\"order_id\":...}); the supervisor authorises it at the\n"
            "  terminal.\n"
            "A visit (\"type\":\"visit\") gets its fee lines from --fees: one batch\n"
            "{\"items\":[...],\"last\":false} per line, line n sent when the terminal asks\n"
            "for batch n.\n"
            "--busy-retries N (0-100, default 0): a \"busy\" result is retried up to N times,\n"
            "  on a new connection after --busy-pause-ms (1-60000, default 2000) each.\n"
            "Exit 0: settled or refunded; 1: anything else; 2: usage error.\n"
            "Default timeout 180 s for all tries (a sale waits for the cashier and the\n"
            "customer).\n");
}

/* ---- pairing key and MACs (docs/ecr-link.md) ---------------------------------------------- */

static int hex_value(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static bool parse_key(const char *hex, size_t len, unsigned char key[KEY_BYTES])
{
    if (len != 2 * KEY_BYTES) {
        return false;
    }
    for (size_t i = 0; i < KEY_BYTES; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        key[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

/* ecr_key from a provisioning file ("ecr_key = <64 hex>" on its own line). */
static bool key_from_provision(const char *path, unsigned char key[KEY_BYTES])
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "ecr-send: %s: %s\n", path, strerror(errno));
        return false;
    }
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        char *p = line + strspn(line, " \t");
        if (strncmp(p, "ecr_key", 7) != 0) {
            continue;
        }
        p += 7;
        p += strspn(p, " \t");
        if (*p != '=') {
            continue;
        }
        p++;
        p += strspn(p, " \t");
        size_t len = strcspn(p, " \t\r\n");
        found = parse_key(p, len, key);
    }
    fclose(f);
    if (!found) {
        fprintf(stderr, "ecr-send: %s: no valid ecr_key line\n", path);
    }
    return found;
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0F];
    }
    out[2 * n] = '\0';
}

static bool mac_of(const unsigned char key[KEY_BYTES], char dir, const char *session,
                   const char *text, size_t len, char out[MAC_HEX + 1])
{
    size_t head_len = strlen("EVT-ECR-2\n") + 2 + strlen(session) + 1;
    char *msg = malloc(head_len + len + 1);
    if (msg == NULL) {
        return false;
    }
    int n = snprintf(msg, head_len + 1, "EVT-ECR-2\n%c\n%s\n", dir, session);
    memcpy(msg + n, text, len);
    unsigned char digest[32];
    int rc = gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, KEY_BYTES, msg, (size_t)n + len, digest);
    free(msg);
    if (rc != 0) {
        return false;
    }
    to_hex(digest, sizeof digest, out);
    return true;
}

/* The signed text S (one JSON object, ending with '}') as it goes on the wire:
 * S without its '}' + ,"mac":"<hex>"} + newline. malloc'ed. */
static char *seal(const unsigned char key[KEY_BYTES], const char *session, const char *text,
                  size_t *out_len)
{
    size_t len = strlen(text);
    char mac[MAC_HEX + 1];
    if (len == 0 || text[len - 1] != '}' || !mac_of(key, 'P', session, text, len, mac)) {
        return NULL;
    }
    char *line = malloc(len + 80);
    if (line == NULL) {
        return NULL;
    }
    memcpy(line, text, len - 1);
    *out_len = len - 1 + (size_t)sprintf(line + len - 1, ",\"mac\":\"%s\"}\n", mac);
    return line;
}

/* Checks a line from the terminal: its MAC (direction T) and that its seq is the next one.
 * Strips nothing: the line is printed as received. */
static bool verify(const unsigned char key[KEY_BYTES], const char *session, const char *line,
                   long long *seq)
{
    static const char prefix[] = ",\"mac\":\"";
    size_t len = strlen(line), suffix = sizeof prefix - 1 + MAC_HEX + 2;
    if (len <= suffix || memcmp(line + len - suffix, prefix, sizeof prefix - 1) != 0 ||
        line[len - 2] != '"' || line[len - 1] != '}') {
        return false;
    }
    char *text = malloc(len);
    if (text == NULL) {
        return false;
    }
    size_t cut = len - suffix;
    memcpy(text, line, cut);
    text[cut] = '}';
    text[cut + 1] = '\0';
    char want[MAC_HEX + 1];
    bool ok = mac_of(key, 'T', session, text, cut + 1, want) &&
              memcmp(want, line + cut + sizeof prefix - 1, MAC_HEX) == 0;
    cJSON *root = ok ? cJSON_Parse(text) : NULL;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "seq");
    ok = ok && cJSON_IsNumber(s) && (long long)s->valuedouble == *seq + 1;
    if (ok) {
        (*seq)++;
    }
    cJSON_Delete(root);
    free(text);
    return ok;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "ecr-send: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_REQUEST + 2);
    size_t n = buf != NULL ? fread(buf, 1, MAX_REQUEST + 1, f) : 0;
    if (f != stdin) {
        fclose(f);
    }
    if (buf == NULL || n > MAX_REQUEST) {
        fprintf(stderr, "ecr-send: %s: request larger than %d bytes\n", path, MAX_REQUEST);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* A pretty-printed file becomes one line: raw CR/LF can only be whitespace in valid JSON. */
static size_t to_one_line(char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n' || text[i] == '\r') {
            text[i] = ' ';
        }
    }
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t')) {
        len--;
    }
    size_t start = 0;
    while (start < len && (text[start] == ' ' || text[start] == '\t')) {
        start++;
    }
    memmove(text, text + start, len - start);
    text[len - start] = '\0';
    return len - start;
}

static int connect_to(const char *host, const char *port, int timeout_ms)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "ecr-send: %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            fprintf(stderr, "ecr-send: connect %s port %s: %s\n", host, port, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

static bool send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            fprintf(stderr, "ecr-send: send: %s\n", n < 0 ? strerror(errno) : "closed");
            return false;
        }
        data += n;
        len -= (size_t)n;
    }
    return true;
}

/* judge_reply: the terminal answered "busy" (the request may be sent again later). */
#define VERDICT_BUSY 3

/* Returns -1 to keep waiting, VERDICT_BUSY, otherwise the exit status the reply line decides. */
static int judge_reply(const char *line)
{
    cJSON *root = cJSON_Parse(line);
    int verdict = 1;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "ack") == 0) {
        verdict = -1;
    } else if (cJSON_IsString(type) && strcmp(type->valuestring, "result") == 0) {
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
        const char *st = cJSON_IsString(status) ? status->valuestring : "";
        verdict = strcmp(st, "settled") == 0 || strcmp(st, "refunded") == 0 ? 0
                  : strcmp(st, "busy") == 0                                 ? VERDICT_BUSY
                                                                            : 1;
    } else if (root == NULL) {
        fprintf(stderr, "ecr-send: reply is not JSON\n");
    }
    cJSON_Delete(root);
    return verdict;
}

/* A visit's fee-line batches (--fees): one JSON object per line; NULL without. */
static char *fees_text;
static long long tx_seq = 2; /* the request's; every batch sent takes the next */

/* The terminal asked for batch n of the visit order_id: line n of --fees, sealed and sent.
 * Returns -1 (keep reading) or 1 (no such batch, or it could not be sent). */
static int send_batch(int fd, const unsigned char key[KEY_BYTES], const char *session,
                      const char *order_id, int n)
{
    const char *line = fees_text;
    for (int i = 1; line != NULL && i < n; i++) {
        line = strchr(line, '\n');
        line = line != NULL ? line + 1 : NULL;
    }
    cJSON *batch = NULL;
    if (line != NULL && n >= 1) {
        const char *end = strchr(line, '\n');
        batch = cJSON_ParseWithLength(line, end != NULL ? (size_t)(end - line) : strlen(line));
    }
    if (!cJSON_IsObject(batch)) {
        fprintf(stderr, "ecr-send: the terminal asked for batch %d: --fees has no such line\n", n);
        cJSON_Delete(batch);
        return 1;
    }
    cJSON_AddNumberToObject(batch, "v", 2);
    cJSON_AddStringToObject(batch, "type", "fees");
    cJSON_AddStringToObject(batch, "order_id", order_id);
    cJSON_AddNumberToObject(batch, "batch", n);
    cJSON_AddNumberToObject(batch, "seq", (double)++tx_seq);
    char *text = cJSON_PrintUnformatted(batch);
    cJSON_Delete(batch);
    size_t len = 0;
    char *sealed = text != NULL ? seal(key, session, text, &len) : NULL;
    bool sent = sealed != NULL && send_all(fd, sealed, len);
    free(sealed);
    free(text);
    return sent ? -1 : 1;
}

/* One line from the terminal at the given stage; returns -1 to keep reading, else the exit
 * status. */
static int handshake_step(int fd, const unsigned char key[KEY_BYTES], const char *line, int *stage,
                          char *session, long long *rx_seq, const char *request)
{
    enum { WAIT_HELLO, WAIT_AUTH_OK, WAIT_RESULT };
    if (*stage == WAIT_HELLO) {
        cJSON *root = cJSON_Parse(line);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
        const cJSON *ch = cJSON_GetObjectItemCaseSensitive(root, "challenge");
        bool ok = cJSON_IsString(type) && strcmp(type->valuestring, "hello") == 0 &&
                  cJSON_IsString(ch) && strlen(ch->valuestring) == 2 * NONCE_BYTES;
        if (ok) {
            snprintf(session, 2 * NONCE_BYTES + 1, "%s", ch->valuestring);
        }
        cJSON_Delete(root);
        if (!ok) {
            fprintf(stderr, "ecr-send: no hello from the terminal\n");
            return 1;
        }
        unsigned char nonce[NONCE_BYTES];
        char nonce_hex[2 * NONCE_BYTES + 1], auth[160];
        gnutls_rnd(GNUTLS_RND_NONCE, nonce, sizeof nonce);
        to_hex(nonce, sizeof nonce, nonce_hex);
        snprintf(auth, sizeof auth,
                 "{\"v\":2,\"type\":\"auth\",\"pos\":\"ecr-send\",\"nonce\":\"%s\",\"seq\":1}",
                 nonce_hex);
        size_t len = 0;
        char *sealed = seal(key, session, auth, &len);
        bool sent = sealed != NULL && send_all(fd, sealed, len);
        free(sealed);
        strcat(session, nonce_hex);
        *stage = WAIT_AUTH_OK;
        return sent ? -1 : 1;
    }
    if (!verify(key, session, line, rx_seq)) {
        fprintf(stderr,
                "ecr-send: reply fails its MAC or sequence: not from the paired terminal\n");
        return 1;
    }
    if (*stage == WAIT_AUTH_OK) {
        size_t len = 0;
        char *sealed = seal(key, session, request, &len);
        bool sent = sealed != NULL && send_all(fd, sealed, len);
        free(sealed);
        *stage = WAIT_RESULT;
        return sent ? -1 : 1;
    }
    cJSON *root = cJSON_Parse(line);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "order_id");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "batch");
    int verdict = -2;
    if (cJSON_IsString(type) && strcmp(type->valuestring, "fees") == 0 && cJSON_IsString(id) &&
        cJSON_IsNumber(n)) {
        verdict = send_batch(fd, key, session, id->valuestring, n->valueint);
    }
    cJSON_Delete(root);
    return verdict != -2 ? verdict : judge_reply(line);
}

static int exchange_once(const char *host, const char *port, const unsigned char key[KEY_BYTES],
                         const char *signed_request, long long deadline, long timeout_s);

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    const char *port = NULL;
    const char *order_file = NULL;
    const char *json = NULL;
    const char *refund_id = NULL;
    const char *key_hex = NULL, *provision = NULL;
    long timeout_s = 180;
    long busy_retries = 0, busy_pause_ms = 2000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (v == NULL) {
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "--port") == 0) {
            port = v;
        } else if (strcmp(a, "--host") == 0) {
            host = v;
        } else if (strcmp(a, "--order") == 0) {
            order_file = v;
        } else if (strcmp(a, "--json") == 0) {
            json = v;
        } else if (strcmp(a, "--refund") == 0) {
            refund_id = v;
        } else if (strcmp(a, "--busy-retries") == 0 || strcmp(a, "--busy-pause-ms") == 0) {
            bool retries = strcmp(a, "--busy-retries") == 0;
            char *end = NULL;
            long n = strtol(v, &end, 10);
            if (end == v || *end != '\0' || n < (retries ? 0 : 1) || n > (retries ? 100 : 60000)) {
                fprintf(stderr, "ecr-send: %s must be %s\n", a, retries ? "0..100" : "1..60000");
                return 2;
            }
            *(retries ? &busy_retries : &busy_pause_ms) = n;
        } else if (strcmp(a, "--key") == 0) {
            key_hex = v;
        } else if (strcmp(a, "--provision") == 0) {
            provision = v;
        } else if (strcmp(a, "--fees") == 0) {
            size_t fees_len = 0;
            fees_text = read_file(v, &fees_len);
            if (fees_text == NULL) {
                return 2;
            }
        } else if (strcmp(a, "--timeout") == 0) {
            char *end = NULL;
            timeout_s = strtol(v, &end, 10);
            if (end == v || *end != '\0' || timeout_s <= 0 || timeout_s > 86400) {
                fprintf(stderr, "ecr-send: --timeout must be 1..86400 seconds\n");
                return 2;
            }
        } else {
            usage(stderr);
            return 2;
        }
        i++;
    }
    char *end = NULL;
    long port_no = port != NULL ? strtol(port, &end, 10) : 0;
    int requests = (order_file != NULL) + (json != NULL) + (refund_id != NULL);
    if (port == NULL || end == port || *end != '\0' || port_no < 1 || port_no > 65535 ||
        requests != 1 || (key_hex == NULL) == (provision == NULL)) {
        usage(stderr);
        return 2;
    }
    static unsigned char key[KEY_BYTES];
    if (key_hex != NULL ? !parse_key(key_hex, strlen(key_hex), key)
                        : !key_from_provision(provision, key)) {
        if (key_hex != NULL) {
            fprintf(stderr, "ecr-send: --key must be 64 hex digits\n");
        }
        return 2;
    }

    size_t len = 0;
    char *request;
    if (order_file != NULL) {
        request = read_file(order_file, &len);
    } else if (refund_id != NULL) {
        /* The terminal judges the order id (docs/ecr-link.md); the tool only writes it. */
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "type", "refund");
        cJSON_AddStringToObject(r, "order_id", refund_id);
        request = cJSON_PrintUnformatted(r);
        cJSON_Delete(r);
        len = request != NULL ? strlen(request) : 0;
    } else {
        len = strlen(json);
        request = len <= MAX_REQUEST ? malloc(len + 2) : NULL;
        if (request != NULL) {
            memcpy(request, json, len + 1);
        }
    }
    if (request == NULL) {
        if (json != NULL) {
            fprintf(stderr, "ecr-send: request larger than %d bytes\n", MAX_REQUEST);
        }
        return 2;
    }
    len = to_one_line(request, len);
    cJSON *check = cJSON_ParseWithLength(request, len);
    if (check == NULL || !cJSON_IsObject(check)) {
        fprintf(stderr, "ecr-send: the request is not a JSON object\n");
        cJSON_Delete(check);
        free(request);
        return 2;
    }
    /* v 2 and the sequence number go into what is signed; the rest is the file's. */
    cJSON_DeleteItemFromObjectCaseSensitive(check, "v");
    cJSON_DeleteItemFromObjectCaseSensitive(check, "seq");
    cJSON_AddNumberToObject(check, "v", 2);
    cJSON_AddNumberToObject(check, "seq", 2);
    char *signed_request = cJSON_PrintUnformatted(check);
    cJSON_Delete(check);
    free(request);
    if (signed_request == NULL) {
        return 1;
    }

    long long deadline = now_ms() + timeout_s * 1000;
    int verdict = VERDICT_BUSY;
    /* Bounded: busy_retries + 1 tries, each on a connection of its own (a new session). */
    for (long attempt = 0; verdict == VERDICT_BUSY; attempt++) {
        if (attempt > 0) {
            if (attempt > busy_retries) {
                verdict = 1;
                break;
            }
            fprintf(stderr, "ecr-send: terminal busy; trying again in %ld ms (%ld of %ld)\n",
                    busy_pause_ms, attempt, busy_retries);
            struct timespec pause = {.tv_sec = busy_pause_ms / 1000,
                                     .tv_nsec = busy_pause_ms % 1000 * 1000000L};
            while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
            }
        }
        verdict = exchange_once(host, port, key, signed_request, deadline, timeout_s);
    }
    free(signed_request);
    return verdict;
}

/* One try: connects, pairs, sends the request and reads until the final reply. Returns the
 * exit status, or VERDICT_BUSY. */
static int exchange_once(const char *host, const char *port, const unsigned char key[KEY_BYTES],
                         const char *signed_request, long long deadline, long timeout_s)
{
    int fd = connect_to(host, port, 5000);
    if (fd < 0) {
        return 1;
    }
    static char buf[MAX_REPLY + 1];
    size_t fill = 0;
    int verdict = -1;
    tx_seq = 2; /* the request's seq on this connection; fee batches follow */
    /* hello -> auth -> auth_ok -> request: states of the handshake */
    int stage = 0; /* WAIT_HELLO */
    char session[2 * 2 * NONCE_BYTES + 1] = "";
    long long rx_seq = 0;
    while (verdict < 0) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            fprintf(stderr, "ecr-send: no final reply within %ld s\n", timeout_s);
            verdict = 1;
            break;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int rc = poll(&pfd, 1, left > 1000 ? 1000 : (int)left);
        if (rc < 0 && errno != EINTR) {
            fprintf(stderr, "ecr-send: poll: %s\n", strerror(errno));
            verdict = 1;
            break;
        }
        if (rc <= 0) {
            continue;
        }
        ssize_t n = recv(fd, buf + fill, MAX_REPLY - fill, 0);
        if (n <= 0) {
            fprintf(stderr, "ecr-send: connection closed before the final reply\n");
            verdict = 1;
            break;
        }
        fill += (size_t)n;
        char *nl;
        while (verdict < 0 && (nl = memchr(buf, '\n', fill)) != NULL) {
            *nl = '\0';
            if (nl > buf && nl[-1] == '\r') {
                nl[-1] = '\0';
            }
            printf("%s\n", buf);
            fflush(stdout);
            verdict = handshake_step(fd, key, buf, &stage, session, &rx_seq, signed_request);
            size_t used = (size_t)(nl - buf) + 1;
            memmove(buf, nl + 1, fill - used);
            fill -= used;
        }
        if (fill == MAX_REPLY) {
            fprintf(stderr, "ecr-send: reply line longer than %d bytes\n", MAX_REPLY);
            verdict = 1;
        }
    }
    close(fd);
    return verdict;
}
