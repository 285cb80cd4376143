/*
 * lwIP configuration of the terminal's bare-metal boards: NO_SYS (one cooperative loop, the
 * raw API), IPv4 with ARP, DHCP and DNS, TCP for the platform and the ECR link, UDP only for
 * DHCP, DNS and SNTP. Pools are sized for what the terminal keeps open at once — one platform
 * connection, the ECR listener, the paired POS and EVT_ECR_PENDING_MAX connections waiting to
 * authenticate — and nothing grows with traffic: unread data is bounded by the TCP receive
 * window, unsent data by TCP_SND_BUF (docs/board-lwip.md has the budget).
 */
#ifndef EVT_LWIPOPTS_H
#define EVT_LWIPOPTS_H

/* --- system ------------------------------------------------------------------------------- */
#define NO_SYS               1
#define SYS_LIGHTWEIGHT_PROT 0 /* lwIP is only ever entered from the main loop */
#define LWIP_SOCKET          0
#define LWIP_NETCONN         0
#define LWIP_TIMERS          1
#define LWIP_ERRNO_STDINCLUDE 1

/* --- memory: everything static, sized below; MEM_SIZE holds copied TCP send data ---------- */
/* A pointer's alignment: 4 on the Cortex-M boards, 8 for the host test (pools hold pointers). */
#define MEM_ALIGNMENT __SIZEOF_POINTER__
/* What is sent and not yet acknowledged: at most TCP_SND_BUF (2 frames) on the platform's
 * connection plus an ECR reply (< 1.5 KiB) and a few small UDP packets. The emulated sale uses
 * 2 KiB at most; when the heap is short, tcp_write's ERR_MEM makes net_lwip wait for the
 * acknowledgements that free it (a slower send, never a failed one). */
#define MEM_SIZE      (4 * 1024)

/* Sockets of the terminal (hal/lwip/net_lwip.c EVT_LWIP_NET_SOCKETS) plus TIME_WAIT ones,
 * which lwIP recycles first when the pool runs out. */
#define MEMP_NUM_TCP_PCB        10
#define MEMP_NUM_TCP_PCB_LISTEN 2
#define MEMP_NUM_TCP_SEG        24
#define MEMP_NUM_UDP_PCB        4 /* DHCP, DNS, SNTP */
#define MEMP_NUM_PBUF           16
#define MEMP_NUM_ARP_QUEUE      4
#define MEMP_NUM_SYS_TIMEOUT    (LWIP_NUM_SYS_TIMEOUT_INTERNAL + 2)

/* Received frames land in pool buffers of one full Ethernet frame each. A full receive window
 * (TCP_WND, 4 frames) on each of the two connections a terminal has open at once (the
 * platform's and the POS's): 8. A frame that finds no buffer is dropped and retransmitted by
 * its sender, so more only buys speed on a congested LAN; the emulated sale of a 100-line order
 * uses at most 3 (the board logs the high-water mark, bench/footprint.sh prints it). */
#define PBUF_POOL_SIZE    8
#define PBUF_POOL_BUFSIZE LWIP_MEM_ALIGN_SIZE(TCP_MSS + 40 + PBUF_LINK_ENCAPSULATION_HLEN + PBUF_LINK_HLEN)

/* --- protocols ---------------------------------------------------------------------------- */
#define LWIP_IPV4     1
#define LWIP_IPV6     0 /* the platform and QEMU's user network are IPv4; see docs */
#define LWIP_ARP      1
#define LWIP_ETHERNET 1
#define LWIP_ICMP     1
#define LWIP_RAW      0
#define LWIP_UDP      1
#define LWIP_TCP      1
#define LWIP_IGMP     0
#define IP_REASSEMBLY 0 /* TCP segments fit one frame (MSS); nothing else needs fragments */
#define IP_FRAG       0

#define LWIP_DHCP                1
#define LWIP_DHCP_DOES_ACD_CHECK 0 /* a counter LAN hands out its own leases; no 2 s ARP probe */
#define LWIP_AUTOIP              0
#define LWIP_DNS                 1
#define DNS_TABLE_SIZE           2
#define DNS_MAX_NAME_LENGTH      128
#define LWIP_NETIF_HOSTNAME      0
#define LWIP_NETIF_STATUS_CALLBACK 0
#define LWIP_NETIF_LINK_CALLBACK 0

#define TCP_MSS             1460
#define TCP_WND             (4 * TCP_MSS) /* bounds unread data per connection */
#define TCP_SND_BUF         (2 * TCP_MSS)
#define TCP_SND_QUEUELEN    (4 * TCP_SND_BUF / TCP_MSS)
#define TCP_LISTEN_BACKLOG  0 /* the driver keeps its own bounded accept queue */
#define LWIP_TCP_KEEPALIVE  0
#define LWIP_CALLBACK_API   1
#define LWIP_WND_SCALE      0
#define LWIP_RANDOMIZE_INITIAL_LOCAL_PORTS 1

/* SNTP (apps/sntp): unicast to the provisioned server; the answer sets the board's clock. */
#define SNTP_SERVER_DNS            1
#define SNTP_MAX_SERVERS           1
#define SNTP_SET_SYSTEM_TIME(sec)  evt_lwip_sntp_set_time((unsigned long)(sec))
#define SNTP_STARTUP_DELAY         0
#define SNTP_UPDATE_DELAY          (3600u * 1000u)

/* --- statistics: the footprint report reads the pools' high-water marks ------------------ */
#define LWIP_STATS         1
#define LWIP_STATS_DISPLAY 0
#define LINK_STATS         0
#define ETHARP_STATS       0
#define IP_STATS           0
#define ICMP_STATS         0
#define UDP_STATS          0
#define TCP_STATS          0
#define MEM_STATS          1
#define MEMP_STATS         1
#define SYS_STATS          0

/* --- loopback: only the host unit test of the driver uses it --------------------------------- */
#ifdef EVT_LWIP_LOOPBACK
#define LWIP_HAVE_LOOPIF       1
#define LWIP_NETIF_LOOPBACK    1
#define LWIP_LOOPBACK_MAX_PBUFS 64
/* Loopback copies every segment into the heap: make the heap large so that in the test the
 * receive window, not a shortage of memory, is what bounds the data waiting to be read. */
#undef MEM_SIZE
#define MEM_SIZE (128 * 1024)
#endif

#endif /* EVT_LWIPOPTS_H */
