/* evt_hal_net over POSIX sockets; contract in evt/hal_net.h, mapping in evt_sim/net_posix.h. */
#include "evt_sim/net_posix.h"

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sim_util.h"
#include "evt/log.h"

#define MOD "net"

struct evt_net_sock {
    int fd;
};

/* Waits for events on fd until deadline; EINTR restarts with the time that is left.
 * Returns >0 when ready, 0 on timeout, -1 with errno on error. */
static int wait_fd(int fd, short events, uint64_t deadline, short *revents)
{
    for (;;) {
        uint64_t now = evt_sim_util_now_ms();
        int wait = now >= deadline
                       ? 0
                       : (int)((deadline - now) > 0x7fffffff ? 0x7fffffff : deadline - now);
        struct pollfd pfd = {.fd = fd, .events = events};
        int rc = poll(&pfd, 1, wait);
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc > 0 && revents) {
            *revents = pfd.revents;
        }
        return rc;
    }
}

static evt_net_sock *wrap_fd(int fd)
{
    evt_net_sock *s = malloc(sizeof(*s));
    if (!s) {
        close(fd);
        return NULL;
    }
    s->fd = fd;
    return s;
}

static void set_nodelay(int fd)
{
    int one = 1;
    /* Best effort: small request/response exchanges should not wait for Nagle. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* A corrupt host setting must fail as "cannot resolve" without ever reaching a resolver
 * (which could mean a DNS query for garbage). Allows names, IPv4 and IPv6 literals. */
static bool host_syntax_ok(const char *host)
{
    size_t len = strlen(host);
    if (len == 0 || len > 253 || host[0] == '.' || host[0] == '-') {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = host[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == ':' || c == '%' || c == '_';
        if (!ok || (c == '.' && host[i + 1] == '.')) {
            return false;
        }
    }
    return true;
}

static evt_err map_connect_errno(int e)
{
    switch (e) {
    case ECONNREFUSED:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EADDRNOTAVAIL:
    case ECONNRESET:
    case EAFNOSUPPORT:
        return EVT_ERR_NET_CONNECT;
    case ETIMEDOUT:
        return EVT_ERR_NET_TIMEOUT;
    default:
        return EVT_ERR_NET_IO;
    }
}

/* One address: non-blocking connect bounded by deadline. */
static evt_err connect_one(const struct addrinfo *ai, uint64_t deadline, int *out_fd)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        return map_connect_errno(errno);
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            int e = errno;
            close(fd);
            return map_connect_errno(e);
        }
        short rev = 0;
        int rc = wait_fd(fd, POLLOUT, deadline, &rev);
        if (rc == 0) {
            close(fd);
            return EVT_ERR_NET_TIMEOUT;
        }
        if (rc < 0) {
            int e = errno;
            close(fd);
            return map_connect_errno(e);
        }
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) {
            soerr = errno;
        }
        if (soerr != 0) {
            close(fd);
            return map_connect_errno(soerr);
        }
    }
    set_nodelay(fd);
    *out_fd = fd;
    return EVT_OK;
}

/* getaddrinfo for a TCP stream to a numeric port, any address family; extra_flags are added to
 * AI_NUMERICSERV. */
static int resolve_tcp(const char *host, uint16_t port, int extra_flags, struct addrinfo **res)
{
    char service[8];
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | extra_flags;
    return getaddrinfo(host, service, &hints, res);
}

static evt_err posix_connect(void *ctx, const char *host, uint16_t port, uint32_t timeout_ms,
                             evt_net_sock **out)
{
    (void)ctx;
    if (!host || !out || port == 0) {
        return EVT_ERR_ARG;
    }
    *out = NULL;
    if (!host_syntax_ok(host)) {
        EVT_LOGW(MOD, "connect: illegal host name syntax");
        return EVT_ERR_NET_RESOLVE;
    }
    uint64_t deadline = evt_sim_util_now_ms() + timeout_ms;
    struct addrinfo *res = NULL;
    int gai = resolve_tcp(host, port, AI_ADDRCONFIG, &res);
    if (gai == EAI_ADDRFAMILY || (gai == EAI_NONAME && strchr(host, ':'))) {
        /* AI_ADDRCONFIG hides ::1 on hosts whose only IPv6 address is loopback. */
        gai = resolve_tcp(host, port, 0, &res);
    }
    if (gai != 0) {
        EVT_LOGW(MOD, "connect: resolve failed (%s)", gai_strerror(gai));
        return gai == EAI_SYSTEM   ? EVT_ERR_NET_IO
               : gai == EAI_MEMORY ? EVT_ERR_NOMEM
                                   : EVT_ERR_NET_RESOLVE;
    }
    /* Try every address; report a timeout over a refusal, since a timeout means some
     * address might have answered with more time. */
    evt_err result = EVT_ERR_NET_CONNECT;
    int fd = -1;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        evt_err err = connect_one(ai, deadline, &fd);
        if (err == EVT_OK) {
            result = EVT_OK;
            break;
        }
        if (err == EVT_ERR_NET_TIMEOUT || result == EVT_ERR_NET_CONNECT) {
            result = err;
        }
        if (evt_sim_util_now_ms() >= deadline) {
            break;
        }
    }
    freeaddrinfo(res);
    if (result != EVT_OK) {
        EVT_LOGW(MOD, "connect to port %u failed: %s", (unsigned)port, evt_err_name(result));
        return result;
    }
    *out = wrap_fd(fd);
    return *out ? EVT_OK : EVT_ERR_NOMEM;
}

static evt_err posix_send(void *ctx, evt_net_sock *sock, const uint8_t *data, size_t len,
                          uint32_t timeout_ms, size_t *sent)
{
    (void)ctx;
    if (!sock || (!data && len) || !sent) {
        return EVT_ERR_ARG;
    }
    *sent = 0;
    if (len == 0) {
        return EVT_ERR_ARG; /* the contract promises *sent > 0 on EVT_OK */
    }
    uint64_t deadline = evt_sim_util_now_ms() + timeout_ms;
    for (;;) {
        ssize_t n = send(sock->fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            *sent = (size_t)n;
            return EVT_OK;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            short rev = 0;
            int rc = wait_fd(sock->fd, POLLOUT, deadline, &rev);
            if (rc == 0) {
                return EVT_ERR_NET_TIMEOUT;
            }
            if (rc < 0) {
                return EVT_ERR_NET_IO;
            }
            continue; /* writable, or an error that the next send() reports precisely */
        }
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
            return EVT_ERR_NET_CLOSED;
        }
        return EVT_ERR_NET_IO;
    }
}

static evt_err posix_recv(void *ctx, evt_net_sock *sock, uint8_t *buf, size_t cap,
                          uint32_t timeout_ms, size_t *got)
{
    (void)ctx;
    if (!sock || !buf || cap == 0 || !got) {
        return EVT_ERR_ARG;
    }
    *got = 0;
    uint64_t deadline = evt_sim_util_now_ms() + timeout_ms;
    for (;;) {
        ssize_t n = recv(sock->fd, buf, cap, 0);
        if (n > 0) {
            *got = (size_t)n;
            return EVT_OK;
        }
        if (n == 0) {
            return EVT_ERR_NET_CLOSED;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            short rev = 0;
            int rc = wait_fd(sock->fd, POLLIN, deadline, &rev);
            if (rc == 0) {
                return EVT_ERR_NET_TIMEOUT;
            }
            if (rc < 0) {
                return EVT_ERR_NET_IO;
            }
            continue; /* readable, EOF or error: the next recv() tells which */
        }
        /* ECONNRESET included: an abortive close is not the orderly end the contract
         * reserves EVT_ERR_NET_CLOSED for, since data in flight may have been dropped. */
        return EVT_ERR_NET_IO;
    }
}

static void posix_close(void *ctx, evt_net_sock *sock)
{
    (void)ctx;
    if (!sock) {
        return;
    }
    close(sock->fd);
    free(sock);
}

static evt_err posix_listen(void *ctx, const char *bind_addr, uint16_t port, evt_net_sock **out)
{
    (void)ctx;
    if (!out) {
        return EVT_ERR_ARG;
    }
    *out = NULL;
    const char *addr = bind_addr ? bind_addr : "127.0.0.1";
    if (!host_syntax_ok(addr)) {
        return EVT_ERR_NET_RESOLVE;
    }
    struct addrinfo *res = NULL;
    int gai = resolve_tcp(addr, port, AI_PASSIVE, &res);
    if (gai != 0) {
        return gai == EAI_SYSTEM ? EVT_ERR_NET_IO : EVT_ERR_NET_RESOLVE;
    }
    evt_err result = EVT_ERR_NET_IO;
    int fd = -1;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 8) == 0) {
            result = EVT_OK;
            break;
        }
        int e = errno;
        close(fd);
        fd = -1;
        result = (e == EADDRINUSE || e == EACCES || e == EADDRNOTAVAIL) ? EVT_ERR_NET_CONNECT
                                                                        : EVT_ERR_NET_IO;
    }
    freeaddrinfo(res);
    if (result != EVT_OK) {
        EVT_LOGW(MOD, "listen on port %u failed: %s", (unsigned)port, evt_err_name(result));
        return result;
    }
    *out = wrap_fd(fd);
    return *out ? EVT_OK : EVT_ERR_NOMEM;
}

static evt_err posix_accept(void *ctx, evt_net_sock *listener, uint32_t timeout_ms,
                            evt_net_sock **out)
{
    (void)ctx;
    if (!listener || !out) {
        return EVT_ERR_ARG;
    }
    *out = NULL;
    uint64_t deadline = evt_sim_util_now_ms() + timeout_ms;
    for (;;) {
        int fd = accept4(listener->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            set_nodelay(fd);
            *out = wrap_fd(fd);
            return *out ? EVT_OK : EVT_ERR_NOMEM;
        }
        /* A connection that was reset while queued is not an error of the listener. */
        if (errno == EINTR || errno == ECONNABORTED) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return EVT_ERR_NET_IO;
        }
        short rev = 0;
        int rc = wait_fd(listener->fd, POLLIN, deadline, &rev);
        if (rc == 0) {
            return EVT_ERR_NET_TIMEOUT;
        }
        if (rc < 0) {
            return EVT_ERR_NET_IO;
        }
    }
}

/* First interface that is up and not loopback: its IPv4 address and MAC. A host without one
 * (a CI sandbox) reports loopback and an all-zero MAC, which the platform accepts as text. */
static evt_err posix_local_identity(void *ctx, char *ip, size_t ip_cap, char *mac, size_t mac_cap)
{
    (void)ctx;
    snprintf(ip, ip_cap, "127.0.0.1");
    snprintf(mac, mac_cap, "00-00-00-00-00-00");
    struct ifaddrs *list = NULL;
    if (getifaddrs(&list) != 0) {
        return EVT_OK;
    }
    char chosen[IFNAMSIZ] = "";
    for (struct ifaddrs *ifa = list; ifa != NULL; ifa = ifa->ifa_next) {
        if (ifa->ifa_addr == NULL || (ifa->ifa_flags & IFF_LOOPBACK) ||
            !(ifa->ifa_flags & IFF_UP) || ifa->ifa_addr->sa_family != AF_INET) {
            continue;
        }
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ifa->ifa_addr;
        if (inet_ntop(AF_INET, &sin->sin_addr, ip, (socklen_t)ip_cap) != NULL) {
            snprintf(chosen, sizeof chosen, "%s", ifa->ifa_name);
            break;
        }
    }
    for (struct ifaddrs *ifa = list; chosen[0] && ifa != NULL; ifa = ifa->ifa_next) {
        if (ifa->ifa_addr != NULL && ifa->ifa_addr->sa_family == AF_PACKET &&
            strcmp(ifa->ifa_name, chosen) == 0) {
            const struct sockaddr_ll *ll = (const struct sockaddr_ll *)ifa->ifa_addr;
            if (ll->sll_halen == 6) {
                snprintf(mac, mac_cap, "%02X-%02X-%02X-%02X-%02X-%02X", ll->sll_addr[0],
                         ll->sll_addr[1], ll->sll_addr[2], ll->sll_addr[3], ll->sll_addr[4],
                         ll->sll_addr[5]);
            }
            break;
        }
    }
    freeifaddrs(list);
    return EVT_OK;
}

void evt_sim_net_posix_init(evt_hal_net *out)
{
    memset(out, 0, sizeof(*out));
    out->ctx = NULL;
    out->connect = posix_connect;
    out->send = posix_send;
    out->recv = posix_recv;
    out->close = posix_close;
    out->listen = posix_listen;
    out->accept = posix_accept;
    out->local_identity = posix_local_identity;
}

uint16_t evt_sim_net_posix_local_port(const evt_net_sock *sock)
{
    if (!sock) {
        return 0;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(sock->fd, (struct sockaddr *)&ss, &len) != 0) {
        return 0;
    }
    if (ss.ss_family == AF_INET) {
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    if (ss.ss_family == AF_INET6) {
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return 0;
}

int evt_sim_net_posix_fd(const evt_net_sock *sock)
{
    return sock ? sock->fd : -1;
}
