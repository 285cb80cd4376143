/*
 * evt_sim_net_posix: the evt_hal_net contract over POSIX (BSD) sockets, for the sim board
 * and the Linux boards.
 *
 * Behaviour beyond the contract in evt/hal_net.h:
 * - connect: getaddrinfo (AF_UNSPEC, so names, IPv4 and IPv6 literals), then every address in
 *   resolver order with a non-blocking connect, all within the one timeout_ms. Host names are
 *   checked for legal characters first, so a corrupt configuration never reaches the resolver.
 * - sockets are non-blocking, close-on-exec, TCP_NODELAY (requests are small and answered);
 *   send uses MSG_NOSIGNAL, so a peer that went away gives an error, never SIGPIPE.
 * - listen: SO_REUSEADDR (the ECR port must be reusable right after a restart), bind_addr
 *   NULL means 127.0.0.1; port 0 picks a free port (see evt_sim_net_posix_local_port).
 *
 * errno mapping (precise, so the firmware can tell the cashier what happened):
 *   resolve   EAI_NONAME/EAI_AGAIN/EAI_FAIL/EAI_NODATA/illegal name -> EVT_ERR_NET_RESOLVE
 *   connect   ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL, ECONNRESET
 *                                                            -> EVT_ERR_NET_CONNECT
 *             nothing answered before timeout_ms              -> EVT_ERR_NET_TIMEOUT
 *   send      EPIPE, ECONNRESET                               -> EVT_ERR_NET_CLOSED
 *             socket buffer still full after timeout_ms       -> EVT_ERR_NET_TIMEOUT
 *   recv      orderly shutdown by the peer (FIN, read 0)      -> EVT_ERR_NET_CLOSED
 *             ECONNRESET (abortive close, data may be lost)   -> EVT_ERR_NET_IO
 *             nothing arrived in timeout_ms                   -> EVT_ERR_NET_TIMEOUT
 *   listen    EADDRINUSE, EACCES                              -> EVT_ERR_NET_CONNECT
 *   any other errno                                           -> EVT_ERR_NET_IO
 * Socket objects are malloc'ed: this is a host driver, not firmware.
 */
#ifndef EVT_SIM_NET_POSIX_H
#define EVT_SIM_NET_POSIX_H

#include <stdint.h>

#include "evt/hal_net.h"

/* Fills *out with the POSIX socket driver (stateless: ctx is NULL). */
void evt_sim_net_posix_init(evt_hal_net *out);

/* Local port a socket is bound to (a listener opened on port 0, for tests); 0 on error. */
uint16_t evt_sim_net_posix_local_port(const evt_net_sock *sock);

/* The underlying file descriptor, for tests that need to poke at the socket; -1 for NULL. */
int evt_sim_net_posix_fd(const evt_net_sock *sock);

#endif /* EVT_SIM_NET_POSIX_H */
