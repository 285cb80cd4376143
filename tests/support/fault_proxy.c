/* fault_proxy: see fault_proxy.h. */
#include "fault_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK           16384
#define WRITE_WAIT_MS   2000  /* a peer that takes nothing for this long is treated as gone */
#define DRAIN_WAIT_MS   15000 /* the target must close within this after our half-close */
#define LOOP_WAIT_MS    20    /* the thread looks at stalls and the stop flag this often */
#define CONNECT_WAIT_MS 2000

typedef struct pair {
    bool used;
    int fd[2]; /* [FAULT_UP] the client's socket, [FAULT_DOWN] the target's */
    unsigned index;
    bool counted; /* accepted after the current arming */
    uint64_t count[2];
    bool eof[2]; /* the source of that direction sent FIN */
    bool faulty;
    fault_spec fault;
    uint8_t *dup;
    size_t dup_len;
    bool stalled;
    uint64_t stall_until;
    bool draining; /* client side closed; reading the target until it closes */
    uint64_t drain_until;
} pair;

struct fault_proxy {
    int listen_fd;
    int port;
    int target_port;
    pthread_t thread;
    pthread_mutex_t lock;
    bool stop;
    fault_spec spec;
    bool fired;
    unsigned accepted;
    uint64_t bytes[FAULT_PROXY_MAX_CONNS][2];
    fault_turn turns[FAULT_PROXY_MAX_CONNS][FAULT_PROXY_MAX_TURNS];
    unsigned turn_count[FAULT_PROXY_MAX_CONNS];
    unsigned open;
    pair pairs[FAULT_PROXY_MAX_OPEN];
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void set_nonblocking(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void pair_free(fault_proxy *p, pair *c)
{
    close_fd(&c->fd[FAULT_UP]);
    close_fd(&c->fd[FAULT_DOWN]);
    free(c->dup);
    memset(c, 0, sizeof *c);
    c->fd[0] = c->fd[1] = -1;
    p->open--;
}

/* The client side goes at once; the target gets a FIN and is read until it closes, so that
 * whatever it was processing has finished when the pair is gone. */
static void pair_end(pair *c)
{
    close_fd(&c->fd[FAULT_UP]);
    if (c->fd[FAULT_DOWN] >= 0) {
        shutdown(c->fd[FAULT_DOWN], SHUT_WR);
    }
    c->stalled = false;
    c->draining = true;
    c->drain_until = now_ms() + DRAIN_WAIT_MS;
}

static bool write_all(int fd, const uint8_t *data, size_t len)
{
    uint64_t deadline = now_ms() + WRITE_WAIT_MS;
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            return false;
        }
        uint64_t now = now_ms();
        if (now >= deadline) {
            return false;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        poll(&pfd, 1, (int)(deadline - now));
    }
    return true;
}

static void keep_prefix(pair *c, const uint8_t *data, size_t len)
{
    if (c->dup == NULL) {
        return;
    }
    size_t room = FAULT_PROXY_MAX_DUP - c->dup_len;
    size_t n = len < room ? len : room;
    memcpy(c->dup + c->dup_len, data, n);
    c->dup_len += n;
}

static void note_turn(fault_proxy *p, unsigned conn, fault_dir d, uint64_t from, uint64_t to)
{
    unsigned *n = &p->turn_count[conn];
    fault_turn *last = *n > 0 ? &p->turns[conn][*n - 1] : NULL;
    if (last != NULL && last->dir == d) {
        last->to = to;
    } else if (*n < FAULT_PROXY_MAX_TURNS) {
        p->turns[conn][(*n)++] = (fault_turn){.dir = d, .from = from, .to = to};
    }
}

/* Forwards one chunk read in direction d, applying the fault if its byte is in it. Returns
 * false when the pair must end. */
static bool forward(fault_proxy *p, pair *c, fault_dir d, uint8_t *buf, size_t n)
{
    int dst = c->fd[d == FAULT_UP ? FAULT_DOWN : FAULT_UP];
    uint64_t start = c->count[d];
    c->count[d] += n;
    if (c->counted && c->index < FAULT_PROXY_MAX_CONNS) {
        p->bytes[c->index][d] += n;
        note_turn(p, c->index, d, start, start + n);
    }
    bool here = c->faulty && !p->fired && c->fault.dir == d && c->fault.offset >= start &&
                c->fault.offset < start + n;
    if (!here) {
        if (c->faulty && !p->fired && c->fault.dir == d) {
            keep_prefix(c, buf, n);
        }
        return write_all(dst, buf, n);
    }
    size_t k = (size_t)(c->fault.offset - start);
    p->fired = true;
    switch (c->fault.kind) {
    case FAULT_CUT:
        write_all(dst, buf, k);
        return false;
    case FAULT_STALL:
        if (!write_all(dst, buf, k)) {
            return false;
        }
        c->stalled = true;
        c->stall_until = now_ms() + c->fault.stall_ms;
        return true;
    case FAULT_CORRUPT:
        buf[k] ^= (uint8_t)(1u << (c->fault.offset % 8));
        return write_all(dst, buf, n);
    case FAULT_DUPLICATE:
        keep_prefix(c, buf, k + 1);
        return write_all(dst, buf, k + 1) && write_all(dst, c->dup, c->dup_len) &&
               write_all(dst, buf + k + 1, n - k - 1);
    case FAULT_NONE:
        break;
    }
    return write_all(dst, buf, n);
}

static int connect_target(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    set_nonblocking(fd);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int err = 0;
    socklen_t len = sizeof err;
    if (poll(&pfd, 1, CONNECT_WAIT_MS) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void accept_all(fault_proxy *p)
{
    for (;;) {
        int cfd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0) {
            return;
        }
        pair *c = NULL;
        for (int i = 0; i < FAULT_PROXY_MAX_OPEN && c == NULL; i++) {
            c = p->pairs[i].used ? NULL : &p->pairs[i];
        }
        int sfd = c != NULL ? connect_target(p->target_port) : -1;
        if (sfd < 0) {
            fprintf(stderr, "fault_proxy: connection refused (%s)\n",
                    c == NULL ? "too many open" : "target unreachable");
            close(cfd);
            continue;
        }
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        memset(c, 0, sizeof *c);
        c->used = true;
        c->fd[FAULT_UP] = cfd;
        c->fd[FAULT_DOWN] = sfd;
        c->index = p->accepted++;
        c->counted = true;
        c->fault = p->spec;
        c->faulty = p->spec.kind != FAULT_NONE && p->spec.conn == c->index;
        if (c->faulty && p->spec.kind == FAULT_DUPLICATE) {
            c->dup = malloc(FAULT_PROXY_MAX_DUP);
        }
        p->open++;
    }
}

/* Reads what arrived in direction d and forwards it; handles FIN and errors. */
static void serve(fault_proxy *p, pair *c, fault_dir d)
{
    static uint8_t buf[CHUNK];
    int src = c->fd[d];
    int dst = c->fd[d == FAULT_UP ? FAULT_DOWN : FAULT_UP];
    ssize_t n = recv(src, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return;
    }
    if (n < 0) {
        pair_end(c);
        return;
    }
    if (n == 0) {
        c->eof[d] = true;
        shutdown(dst, SHUT_WR);
        if (c->eof[FAULT_UP] && c->eof[FAULT_DOWN]) {
            pair_free(p, c);
        }
        return;
    }
    if (!forward(p, c, d, buf, (size_t)n)) {
        pair_end(c);
    }
}

static void drain(fault_proxy *p, pair *c)
{
    static uint8_t sink[CHUNK];
    ssize_t n = recv(c->fd[FAULT_DOWN], sink, sizeof sink, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return;
    }
    pair_free(p, c); /* the target closed (or failed): it is done with this connection */
}

static void *proxy_main(void *arg)
{
    fault_proxy *p = arg;
    struct pollfd fds[1 + 2 * FAULT_PROXY_MAX_OPEN];
    pair *owner[1 + 2 * FAULT_PROXY_MAX_OPEN];
    int role[1 + 2 * FAULT_PROXY_MAX_OPEN];
    for (;;) {
        pthread_mutex_lock(&p->lock);
        if (p->stop) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        int n = 0;
        fds[n++] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
        for (int i = 0; i < FAULT_PROXY_MAX_OPEN; i++) {
            pair *c = &p->pairs[i];
            if (!c->used || c->stalled) {
                continue;
            }
            for (int d = 0; d < 2; d++) {
                bool want = c->draining ? d == FAULT_DOWN : !c->eof[d];
                if (want && c->fd[d] >= 0) {
                    owner[n] = c;
                    role[n] = d;
                    fds[n++] = (struct pollfd){.fd = c->fd[d], .events = POLLIN};
                }
            }
        }
        pthread_mutex_unlock(&p->lock);
        poll(fds, (nfds_t)n, LOOP_WAIT_MS);
        pthread_mutex_lock(&p->lock);
        if (fds[0].revents & POLLIN) {
            accept_all(p);
        }
        for (int i = 1; i < n; i++) {
            pair *c = owner[i];
            if (!c->used || c->fd[role[i]] != fds[i].fd || fds[i].revents == 0) {
                continue; /* ended earlier in this pass */
            }
            if (c->draining) {
                drain(p, c);
            } else if (!c->stalled) {
                serve(p, c, (fault_dir)role[i]);
            }
        }
        uint64_t now = now_ms();
        for (int i = 0; i < FAULT_PROXY_MAX_OPEN; i++) {
            pair *c = &p->pairs[i];
            if (c->used && c->stalled && now >= c->stall_until) {
                pair_end(c);
            } else if (c->used && c->draining && now >= c->drain_until) {
                fprintf(stderr, "fault_proxy: target did not close connection %u\n", c->index);
                pair_free(p, c);
            }
        }
        pthread_mutex_unlock(&p->lock);
    }
}

fault_proxy *fault_proxy_start(int target_port)
{
    fault_proxy *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    for (int i = 0; i < FAULT_PROXY_MAX_OPEN; i++) {
        p->pairs[i].fd[0] = p->pairs[i].fd[1] = -1;
    }
    p->target_port = target_port;
    p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (p->listen_fd < 0 || bind(p->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(p->listen_fd, 64) != 0 ||
        getsockname(p->listen_fd, (struct sockaddr *)&sa, &len) != 0) {
        if (p->listen_fd >= 0) {
            close(p->listen_fd);
        }
        free(p);
        return NULL;
    }
    p->port = ntohs(sa.sin_port);
    pthread_mutex_init(&p->lock, NULL);
    if (pthread_create(&p->thread, NULL, proxy_main, p) != 0) {
        close(p->listen_fd);
        free(p);
        return NULL;
    }
    return p;
}

void fault_proxy_stop(fault_proxy *p)
{
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    for (int i = 0; i < FAULT_PROXY_MAX_OPEN; i++) {
        if (p->pairs[i].used) {
            pair_free(p, &p->pairs[i]);
        }
    }
    close(p->listen_fd);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

int fault_proxy_port(const fault_proxy *p)
{
    return p->port;
}

void fault_proxy_arm(fault_proxy *p, const fault_spec *spec)
{
    pthread_mutex_lock(&p->lock);
    p->spec = spec != NULL ? *spec : (fault_spec){.kind = FAULT_NONE};
    p->fired = false;
    p->accepted = 0;
    memset(p->bytes, 0, sizeof p->bytes);
    memset(p->turn_count, 0, sizeof p->turn_count);
    for (int i = 0; i < FAULT_PROXY_MAX_OPEN; i++) {
        p->pairs[i].counted = false; /* numbered under the previous arming */
    }
    pthread_mutex_unlock(&p->lock);
}

void fault_proxy_disarm(fault_proxy *p)
{
    pthread_mutex_lock(&p->lock);
    p->spec = (fault_spec){.kind = FAULT_NONE};
    for (int i = 0; i < FAULT_PROXY_MAX_OPEN; i++) {
        p->pairs[i].faulty = false;
    }
    pthread_mutex_unlock(&p->lock);
}

bool fault_proxy_fired(fault_proxy *p)
{
    pthread_mutex_lock(&p->lock);
    bool fired = p->fired;
    pthread_mutex_unlock(&p->lock);
    return fired;
}

unsigned fault_proxy_connections(fault_proxy *p)
{
    pthread_mutex_lock(&p->lock);
    unsigned n = p->accepted;
    pthread_mutex_unlock(&p->lock);
    return n;
}

uint64_t fault_proxy_bytes(fault_proxy *p, unsigned conn, fault_dir dir)
{
    pthread_mutex_lock(&p->lock);
    uint64_t n = conn < FAULT_PROXY_MAX_CONNS ? p->bytes[conn][dir] : 0;
    pthread_mutex_unlock(&p->lock);
    return n;
}

unsigned fault_proxy_turns(fault_proxy *p, unsigned conn, fault_turn *out, unsigned max)
{
    pthread_mutex_lock(&p->lock);
    unsigned n = conn < FAULT_PROXY_MAX_CONNS ? p->turn_count[conn] : 0;
    n = n < max ? n : max;
    if (n > 0) {
        memcpy(out, p->turns[conn], n * sizeof *out);
    }
    pthread_mutex_unlock(&p->lock);
    return n;
}

bool fault_proxy_wait_idle(fault_proxy *p, int timeout_ms)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        struct pollfd pfd = {.fd = p->listen_fd, .events = POLLIN};
        bool idle = p->open == 0 && poll(&pfd, 1, 0) == 0;
        pthread_mutex_unlock(&p->lock);
        if (idle) {
            return true;
        }
        if (now_ms() >= deadline) {
            return false;
        }
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL); /* waits on the proxy thread's progress, bounded by timeout_ms */
    }
}

static const char *const kind_names[] = {"none", "cut", "stall", "corrupt", "duplicate"};

const char *fault_kind_name(fault_kind kind)
{
    return (unsigned)kind < sizeof kind_names / sizeof kind_names[0] ? kind_names[kind] : "?";
}

fault_kind fault_kind_parse(const char *name)
{
    for (unsigned i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++) {
        if (strcmp(name, kind_names[i]) == 0) {
            return (fault_kind)i;
        }
    }
    return FAULT_NONE;
}
