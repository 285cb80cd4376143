/* delay_proxy; see delay_proxy.h. */
#include "delay_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PIECE_BYTES (16u * 1024u)

struct delay_proxy {
    int listen_fd;
    int port;
    int target_port;
    uint32_t one_way_ms;
    pthread_t thread;
    volatile bool stop;
};

typedef struct piece {
    uint64_t due_ms;
    size_t len, off;
    uint8_t data[PIECE_BYTES];
} piece;

/* One direction: bytes read from src, written to dst once due. */
typedef struct lane {
    int src, dst;
    piece q[DELAY_PROXY_QUEUE];
    unsigned head, count;
    bool src_eof;
    bool dst_shut;
} lane;

typedef struct conn {
    lane up, down;
    uint32_t one_way_ms;
} conn;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void lane_read(lane *l, uint32_t one_way_ms)
{
    piece *p = &l->q[(l->head + l->count) % DELAY_PROXY_QUEUE];
    ssize_t n = recv(l->src, p->data, sizeof p->data, 0);
    if (n <= 0) {
        l->src_eof = true;
        return;
    }
    p->len = (size_t)n;
    p->off = 0;
    p->due_ms = now_ms() + one_way_ms;
    l->count++;
}

/* Writes what is due; false when the destination failed. */
static bool lane_write(lane *l)
{
    uint64_t now = now_ms();
    while (l->count > 0 && l->q[l->head].due_ms <= now) {
        piece *p = &l->q[l->head];
        ssize_t n = send(l->dst, p->data + p->off, p->len - p->off, MSG_NOSIGNAL);
        if (n < 0) {
            return errno == EAGAIN || errno == EINTR;
        }
        p->off += (size_t)n;
        if (p->off < p->len) {
            return true;
        }
        l->head = (l->head + 1) % DELAY_PROXY_QUEUE;
        l->count--;
    }
    if (l->src_eof && l->count == 0 && !l->dst_shut) {
        shutdown(l->dst, SHUT_WR);
        l->dst_shut = true;
    }
    return true;
}

static int next_wait_ms(const lane *a, const lane *b)
{
    uint64_t now = now_ms(), due = UINT64_MAX;
    if (a->count > 0 && a->q[a->head].due_ms < due) {
        due = a->q[a->head].due_ms;
    }
    if (b->count > 0 && b->q[b->head].due_ms < due) {
        due = b->q[b->head].due_ms;
    }
    if (due == UINT64_MAX) {
        return 1000;
    }
    return due <= now ? 0 : (int)(due - now);
}

static void *conn_main(void *arg)
{
    conn *c = arg;
    for (;;) {
        if (c->up.dst_shut && c->down.dst_shut) {
            break;
        }
        struct pollfd pf[2] = {{.fd = c->up.src, .events = 0}, {.fd = c->down.src, .events = 0}};
        if (!c->up.src_eof && c->up.count < DELAY_PROXY_QUEUE) {
            pf[0].events = POLLIN;
        }
        if (!c->down.src_eof && c->down.count < DELAY_PROXY_QUEUE) {
            pf[1].events = POLLIN;
        }
        int rc = poll(pf, 2, next_wait_ms(&c->up, &c->down));
        if (rc < 0 && errno != EINTR) {
            break;
        }
        if (pf[0].events != 0 && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            lane_read(&c->up, c->one_way_ms);
        }
        if (pf[1].events != 0 && (pf[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            lane_read(&c->down, c->one_way_ms);
        }
        if (!lane_write(&c->up) || !lane_write(&c->down)) {
            break;
        }
    }
    close(c->up.src);
    close(c->down.src);
    free(c);
    return NULL;
}

static int connect_target(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

static void *accept_main(void *arg)
{
    delay_proxy *p = arg;
    while (!p->stop) {
        struct pollfd pf = {.fd = p->listen_fd, .events = POLLIN};
        if (poll(&pf, 1, 100) <= 0) {
            continue;
        }
        int cfd = accept(p->listen_fd, NULL, NULL);
        if (cfd < 0) {
            continue;
        }
        int tfd = connect_target(p->target_port);
        conn *c = tfd >= 0 ? calloc(1, sizeof *c) : NULL;
        if (c == NULL) {
            close(cfd);
            if (tfd >= 0) {
                close(tfd);
            }
            continue;
        }
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(tfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->one_way_ms = p->one_way_ms;
        c->up = (lane){.src = cfd, .dst = tfd};
        c->down = (lane){.src = tfd, .dst = cfd};
        pthread_t th;
        if (pthread_create(&th, NULL, conn_main, c) != 0) {
            close(cfd);
            close(tfd);
            free(c);
            continue;
        }
        pthread_detach(th);
    }
    return NULL;
}

delay_proxy *delay_proxy_start(int target_port, uint32_t one_way_ms)
{
    delay_proxy *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    p->target_port = target_port;
    p->one_way_ms = one_way_ms;
    p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (p->listen_fd < 0 || bind(p->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(p->listen_fd, 16) != 0 || getsockname(p->listen_fd, (struct sockaddr *)&a, &len)) {
        if (p->listen_fd >= 0) {
            close(p->listen_fd);
        }
        free(p);
        return NULL;
    }
    p->port = ntohs(a.sin_port);
    if (pthread_create(&p->thread, NULL, accept_main, p) != 0) {
        close(p->listen_fd);
        free(p);
        return NULL;
    }
    return p;
}

int delay_proxy_port(const delay_proxy *p)
{
    return p->port;
}

void delay_proxy_stop(delay_proxy *p)
{
    if (p == NULL) {
        return;
    }
    p->stop = true;
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
    free(p);
}
