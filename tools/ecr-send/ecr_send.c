/*
 * ecr-send: plays the pharmacy's POS for one request on the terminal's ECR link
 * (docs/ecr-link.md). Sends one JSON line, prints every reply line as it arrives, and stops at
 * the final reply ("result" or "error"; "ack" only means the sale was accepted).
 *
 * Exit status: 0 when the final reply is a settled result, 1 for anything else (refused,
 * failed, unknown, busy, error reply, timeout, connection trouble), 2 for usage errors.
 * Host tool: POSIX sockets and libcjson (only to check the request before sending).
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

#define MAX_REQUEST (16 * 1024)
#define MAX_REPLY   (64 * 1024)

static void usage(FILE *out)
{
    fprintf(out, "usage: ecr-send --port P [--host 127.0.0.1] (--order FILE.json | --json TEXT)\n"
                 "                [--timeout SECONDS]\n"
                 "Sends one ECR request (sale or status) and prints the reply lines until the\n"
                 "final one. Exit 0: settled; 1: anything else; 2: usage error.\n"
                 "Default timeout 180 s (a sale waits for the cashier and the customer).\n");
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

/* Returns -1 to keep waiting, otherwise the exit status the reply line decides. */
static int judge_reply(const char *line)
{
    cJSON *root = cJSON_Parse(line);
    int verdict = 1;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "ack") == 0) {
        verdict = -1;
    } else if (cJSON_IsString(type) && strcmp(type->valuestring, "result") == 0) {
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
        verdict = cJSON_IsString(status) && strcmp(status->valuestring, "settled") == 0 ? 0 : 1;
    } else if (root == NULL) {
        fprintf(stderr, "ecr-send: reply is not JSON\n");
    }
    cJSON_Delete(root);
    return verdict;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    const char *port = NULL;
    const char *order_file = NULL;
    const char *json = NULL;
    long timeout_s = 180;
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
    if (port == NULL || end == port || *end != '\0' || port_no < 1 || port_no > 65535 ||
        (order_file == NULL) == (json == NULL)) {
        usage(stderr);
        return 2;
    }

    size_t len = 0;
    char *request;
    if (order_file != NULL) {
        request = read_file(order_file, &len);
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
    cJSON_Delete(check);
    request[len++] = '\n';

    int fd = connect_to(host, port, 5000);
    if (fd < 0) {
        free(request);
        return 1;
    }
    bool sent = send_all(fd, request, len);
    free(request);
    if (!sent) {
        close(fd);
        return 1;
    }

    static char buf[MAX_REPLY + 1];
    size_t fill = 0;
    long long deadline = now_ms() + timeout_s * 1000;
    int verdict = -1;
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
            verdict = judge_reply(buf);
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
