/*
 * fault_proxy: a TCP proxy on loopback that injects one network fault at a chosen byte.
 *
 * It listens on 127.0.0.1 (a free port), forwards every accepted connection to a target port
 * on 127.0.0.1 in its own thread, and counts the bytes of each connection and direction. Once
 * armed with a fault it numbers the connections it accepts from then on (0, 1, ...) and, on
 * connection `conn`, in direction `dir`, at byte `offset` (counted from the connection's first
 * byte in that direction) does one of:
 *   cut        forwards the bytes before the offset, then closes both sides;
 *   stall      forwards the bytes before the offset, then forwards nothing more in either
 *              direction for stall_ms (longer than the client's timeout), then closes;
 *   corrupt    flips one bit of that byte (bit offset % 8);
 *   duplicate  sends the bytes up to and including the offset twice.
 * Under TLS every one of these ends the connection sooner or later; the point is what the
 * endpoints make of it.
 *
 * Closing towards the target is a half-close (FIN) followed by draining until the target
 * closes too, so when fault_proxy_wait_idle returns the target has finished with every
 * request it received (the platform emulator closes a connection only after its handler
 * returned). Bounded: at most FAULT_PROXY_MAX_OPEN connections at once (more are refused),
 * statistics for the first FAULT_PROXY_MAX_CONNS connections after arming, duplicate prefixes
 * up to FAULT_PROXY_MAX_DUP bytes.
 */
#ifndef FAULT_PROXY_H
#define FAULT_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#define FAULT_PROXY_MAX_OPEN  32
#define FAULT_PROXY_MAX_CONNS 64
#define FAULT_PROXY_MAX_DUP   (256u * 1024u)
#define FAULT_PROXY_MAX_TURNS 32

typedef enum fault_kind {
    FAULT_NONE,
    FAULT_CUT,
    FAULT_STALL,
    FAULT_CORRUPT,
    FAULT_DUPLICATE,
} fault_kind;

typedef enum fault_dir {
    FAULT_UP,   /* client to target (the terminal's requests) */
    FAULT_DOWN, /* target to client (the platform's answers) */
} fault_dir;

typedef struct fault_spec {
    fault_kind kind;
    unsigned conn; /* connection number since arming */
    fault_dir dir;
    uint64_t offset;
    uint32_t stall_ms; /* FAULT_STALL */
} fault_spec;

/* A turn: bytes that flowed one way until the other side spoke. Request/answer protocols
 * show their messages as turns (a TLS handshake flight, a request, its answer). */
typedef struct fault_turn {
    fault_dir dir;
    uint64_t from, to; /* byte offsets in that direction, to exclusive */
} fault_turn;

typedef struct fault_proxy fault_proxy;

/* Starts the proxy thread in front of 127.0.0.1:target_port. NULL on failure (errno kept). */
fault_proxy *fault_proxy_start(int target_port);
void fault_proxy_stop(fault_proxy *p);
int fault_proxy_port(const fault_proxy *p);

/* Renumbers connections from 0 and clears the statistics; spec NULL (or FAULT_NONE) makes the
 * proxy a plain forwarder. Connections already open keep their old fault state. */
void fault_proxy_arm(fault_proxy *p, const fault_spec *spec);
/* No more faults (also none still pending on an open connection); numbering and statistics
 * go on. */
void fault_proxy_disarm(fault_proxy *p);
/* True once the armed fault was applied. */
bool fault_proxy_fired(fault_proxy *p);
/* Connections accepted since arming (all of them, also beyond the statistics). */
unsigned fault_proxy_connections(fault_proxy *p);
/* Bytes read from the source of connection conn in direction dir since arming (0 when
 * conn is beyond the statistics). */
uint64_t fault_proxy_bytes(fault_proxy *p, unsigned conn, fault_dir dir);
/* The turns of connection conn since arming (up to max; the first FAULT_PROXY_MAX_TURNS are
 * kept). Returns how many were written to out. */
unsigned fault_proxy_turns(fault_proxy *p, unsigned conn, fault_turn *out, unsigned max);
/* Waits until no connection is open and none waits to be accepted; false after timeout_ms. */
bool fault_proxy_wait_idle(fault_proxy *p, int timeout_ms);

/* "cut", "stall", "corrupt", "duplicate" ("none"); and back (FAULT_NONE when unknown). */
const char *fault_kind_name(fault_kind kind);
fault_kind fault_kind_parse(const char *name);

#endif /* FAULT_PROXY_H */
