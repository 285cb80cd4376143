/*
 * lwIP netif driver for the SMSC LAN9118 Ethernet controller (MPS2 boards; QEMU's mps2-an385
 * maps it at 0x40200000), polled from the firmware's loop: no interrupts, no DMA, PIO through
 * the chip's TX/RX data FIFOs in 32-bit mode.
 *
 * Bounded work: one call of evt_lan9118_poll() moves at most EVT_LAN9118_POLL_FRAMES received
 * frames into lwIP; every wait on the chip (reset, MAC/PHY register access, TX FIFO space) is a
 * bounded number of register reads, after which the operation fails and is counted.
 * Memory: received frames go straight into lwIP's pool pbufs; a frame that finds no pbuf is
 * read out of the FIFO and dropped (TCP retransmits it), never buffered elsewhere.
 */
#ifndef EVT_LWIP_LAN9118_H
#define EVT_LWIP_LAN9118_H

#include <stdbool.h>
#include <stdint.h>

#include "lwip/err.h"

struct netif;

#define EVT_LAN9118_POLL_FRAMES 8u

typedef struct evt_lan9118 {
    uintptr_t base; /* register block */
    /* counters for the technician's network check */
    uint32_t rx_frames, rx_dropped, rx_errors;
    uint32_t tx_frames, tx_errors;
    uint32_t last_link_check_ms;
} evt_lan9118;

/* netif init callback for netif_add(); netif->state must point at an evt_lan9118 with base set.
 * Probes the chip (byte-order test register), resets it, reads its MAC address and enables
 * the transmitter and receiver. ERR_IF when no LAN9118 answers at base. */
err_t evt_lan9118_netif_init(struct netif *netif);

/* Moves received frames into lwIP (netif->input) and follows the PHY's link state (at most
 * every 500 ms). Call from the board's service function. Returns the frames taken from the
 * chip (0: nothing arrived, the board may sleep until the next interrupt). */
uint32_t evt_lan9118_poll(struct netif *netif);

#endif /* EVT_LWIP_LAN9118_H */
