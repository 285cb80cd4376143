/*
 * SMSC LAN9118 netif driver: see include/evt_lwip/lan9118.h. Register map and FIFO formats
 * from the LAN9118 datasheet (SMSC DS00002266), checked against QEMU's model
 * (hw/net/lan9118.c), which the emulated board runs.
 */
#include "evt_lwip/lan9118.h"

#include <string.h>

#include "lwip/etharp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/sys.h"

/* System control and status registers (byte offsets). */
#define RX_DATA_FIFO   0x00u
#define TX_DATA_FIFO   0x20u
#define RX_STATUS_FIFO 0x40u
#define TX_STATUS_FIFO 0x48u
#define ID_REV         0x50u
#define IRQ_CFG        0x54u
#define INT_STS        0x58u
#define INT_EN         0x5cu
#define BYTE_TEST      0x64u
#define RX_CFG         0x6cu
#define TX_CFG         0x70u
#define HW_CFG         0x74u
#define RX_FIFO_INF    0x7cu
#define TX_FIFO_INF    0x80u
#define PMT_CTRL       0x84u
#define MAC_CSR_CMD    0xa4u
#define MAC_CSR_DATA   0xa8u

#define BYTE_TEST_VALUE    0x87654321u
#define HW_CFG_SRST        0x00000001u
#define PMT_CTRL_READY     0x00000001u
#define TX_CFG_TX_ON       0x00000002u
#define MAC_CSR_BUSY       0x80000000u
#define MAC_CSR_READ       0x40000000u
#define RX_STS_ES          0x00008000u /* error summary */
#define RX_STS_LEN(s)      (((s) >> 16) & 0x3fffu)
#define RX_INF_STATUSES(i) (((i) >> 16) & 0xffu)
#define TX_INF_STATUSES(i) (((i) >> 16) & 0xffu)
#define TX_INF_FREE(i)     ((i)&0xffffu)
#define TX_STS_ES          0x00008000u
#define TX_CMD_A_FIRST     0x00002000u
#define TX_CMD_A_LAST      0x00001000u

/* MAC registers, through MAC_CSR_CMD / MAC_CSR_DATA. */
#define MAC_CR        1u
#define MAC_ADDRH     2u
#define MAC_ADDRL     3u
#define MAC_MII_ACC   6u
#define MAC_MII_DATA  7u
#define MAC_CR_FDPX   0x00100000u
#define MAC_CR_TXEN   0x00000008u
#define MAC_CR_RXEN   0x00000004u
#define MII_ACC_BUSY  0x00000001u
#define MII_ACC_WRITE 0x00000002u
#define PHY_ADDRESS   1u /* the internal PHY */
#define PHY_BSR       1u
#define PHY_BSR_LINK  0x0004u

#define FRAME_MAX     1514u /* without the FCS */
#define FCS_BYTES     4u
#define SPIN_LIMIT    100000u /* register reads before a wait on the chip gives up */
#define LINK_CHECK_MS 500u

static uint32_t rd(const evt_lan9118 *lan, uint32_t reg)
{
    return *(volatile const uint32_t *)(lan->base + reg);
}

static void wr(const evt_lan9118 *lan, uint32_t reg, uint32_t value)
{
    *(volatile uint32_t *)(lan->base + reg) = value;
}

static bool mac_idle(const evt_lan9118 *lan)
{
    for (uint32_t i = 0; i < SPIN_LIMIT; i++) {
        if ((rd(lan, MAC_CSR_CMD) & MAC_CSR_BUSY) == 0) {
            return true;
        }
    }
    return false;
}

static bool mac_write(const evt_lan9118 *lan, uint32_t reg, uint32_t value)
{
    if (!mac_idle(lan)) {
        return false;
    }
    wr(lan, MAC_CSR_DATA, value);
    wr(lan, MAC_CSR_CMD, MAC_CSR_BUSY | reg);
    return mac_idle(lan);
}

static bool mac_read(const evt_lan9118 *lan, uint32_t reg, uint32_t *value)
{
    if (!mac_idle(lan)) {
        return false;
    }
    wr(lan, MAC_CSR_CMD, MAC_CSR_BUSY | MAC_CSR_READ | reg);
    if (!mac_idle(lan)) {
        return false;
    }
    *value = rd(lan, MAC_CSR_DATA);
    return true;
}

static bool phy_read(const evt_lan9118 *lan, uint32_t reg, uint16_t *value)
{
    uint32_t acc = 0, data = 0;
    if (!mac_write(lan, MAC_MII_ACC, PHY_ADDRESS << 11 | reg << 6 | MII_ACC_BUSY)) {
        return false;
    }
    for (uint32_t i = 0; i < SPIN_LIMIT; i++) {
        if (!mac_read(lan, MAC_MII_ACC, &acc)) {
            return false;
        }
        if ((acc & MII_ACC_BUSY) == 0) {
            if (!mac_read(lan, MAC_MII_DATA, &data)) {
                return false;
            }
            *value = (uint16_t)data;
            return true;
        }
    }
    return false;
}

static bool wait_bits(const evt_lan9118 *lan, uint32_t reg, uint32_t mask, uint32_t want)
{
    for (uint32_t i = 0; i < SPIN_LIMIT; i++) {
        if ((rd(lan, reg) & mask) == want) {
            return true;
        }
    }
    return false;
}

/* ---- transmit ---------------------------------------------------------------------------- */

/* Drains the TX status FIFO (it holds one word per frame sent and stops the transmitter
 * when full), counting frames the chip reports as failed. */
static void collect_tx_status(evt_lan9118 *lan)
{
    uint32_t pending = TX_INF_STATUSES(rd(lan, TX_FIFO_INF));
    while (pending-- > 0) {
        if (rd(lan, TX_STATUS_FIFO) & TX_STS_ES) {
            lan->tx_errors++;
        }
    }
}

static err_t lan9118_output(struct netif *netif, struct pbuf *p)
{
    evt_lan9118 *lan = netif->state;
    uint32_t len = p->tot_len;
    if (len > FRAME_MAX) {
        lan->tx_errors++;
        return ERR_IF;
    }
    collect_tx_status(lan);
    /* Room for the two command words and the data rounded up to whole words. */
    uint32_t need = 8u + ((len + 3u) & ~3u);
    bool room = false;
    for (uint32_t i = 0; i < SPIN_LIMIT && !room; i++) {
        room = TX_INF_FREE(rd(lan, TX_FIFO_INF)) >= need;
    }
    if (!room) {
        lan->tx_errors++;
        return ERR_IF;
    }
    /* One buffer for the whole frame: command A (first + last segment, its length),
     * command B (a tag, the frame length). */
    wr(lan, TX_DATA_FIFO, TX_CMD_A_FIRST | TX_CMD_A_LAST | len);
    wr(lan, TX_DATA_FIFO, (len << 16) | len);
    /* The FIFO takes little-endian words; the pbuf chain's pieces need not be aligned. */
    uint32_t word = 0, filled = 0;
    for (const struct pbuf *q = p; q != NULL; q = q->next) {
        const uint8_t *b = q->payload;
        for (uint16_t i = 0; i < q->len; i++) {
            word |= (uint32_t)b[i] << (8u * filled);
            if (++filled == 4u) {
                wr(lan, TX_DATA_FIFO, word);
                word = 0;
                filled = 0;
            }
        }
    }
    if (filled > 0) {
        wr(lan, TX_DATA_FIFO, word);
    }
    lan->tx_frames++;
    return ERR_OK;
}

/* ---- receive ----------------------------------------------------------------------------- */

static void discard_words(const evt_lan9118 *lan, uint32_t words)
{
    /* Read out rather than fast-forwarded (RX_DP_CTRL): a partly skipped frame would leave
     * the FIFO misaligned, and reading a frame out is cheap. */
    while (words-- > 0) {
        (void)rd(lan, RX_DATA_FIFO);
    }
}

/* Reads one frame of len bytes (with its FCS) from the data FIFO into p (len - FCS bytes). */
static void read_frame(const evt_lan9118 *lan, struct pbuf *p, uint32_t len)
{
    uint32_t words = (len + 3u) / 4u;
    struct pbuf *q = p;
    uint16_t at = 0;
    uint32_t stored = 0, keep = len - FCS_BYTES;
    for (uint32_t w = 0; w < words; w++) {
        uint32_t word = rd(lan, RX_DATA_FIFO);
        for (uint32_t k = 0; k < 4u && stored < keep; k++, stored++) {
            while (q != NULL && at == q->len) {
                q = q->next;
                at = 0;
            }
            if (q == NULL) {
                break;
            }
            ((uint8_t *)q->payload)[at++] = (uint8_t)(word >> (8u * k));
        }
    }
}

static void receive_one(struct netif *netif, evt_lan9118 *lan)
{
    uint32_t status = rd(lan, RX_STATUS_FIFO);
    uint32_t len = RX_STS_LEN(status);
    uint32_t words = (len + 3u) / 4u;
    if ((status & RX_STS_ES) != 0 || len < 14u + FCS_BYTES || len > FRAME_MAX + FCS_BYTES) {
        lan->rx_errors++;
        discard_words(lan, words);
        return;
    }
    struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)(len - FCS_BYTES), PBUF_POOL);
    if (p == NULL) {
        lan->rx_dropped++; /* no pool buffer: dropped, the sender retransmits */
        discard_words(lan, words);
        return;
    }
    read_frame(lan, p, len);
    lan->rx_frames++;
    if (netif->input(p, netif) != ERR_OK) {
        pbuf_free(p);
    }
}

static void follow_link(struct netif *netif, evt_lan9118 *lan)
{
    uint32_t now = sys_now();
    if (now - lan->last_link_check_ms < LINK_CHECK_MS) {
        return;
    }
    lan->last_link_check_ms = now;
    uint16_t bsr = 0;
    bool up = phy_read(lan, PHY_BSR, &bsr) && (bsr & PHY_BSR_LINK) != 0;
    if (up && !netif_is_link_up(netif)) {
        netif_set_link_up(netif);
    } else if (!up && netif_is_link_up(netif)) {
        netif_set_link_down(netif);
    }
}

uint32_t evt_lan9118_poll(struct netif *netif)
{
    evt_lan9118 *lan = netif->state;
    uint32_t frames = 0;
    while (frames < EVT_LAN9118_POLL_FRAMES && RX_INF_STATUSES(rd(lan, RX_FIFO_INF)) != 0) {
        receive_one(netif, lan);
        frames++;
    }
    follow_link(netif, lan);
    return frames;
}

/* ---- bring-up ---------------------------------------------------------------------------- */

err_t evt_lan9118_netif_init(struct netif *netif)
{
    evt_lan9118 *lan = netif->state;
    if (lan == NULL || rd(lan, BYTE_TEST) != BYTE_TEST_VALUE) {
        return ERR_IF;
    }
    wr(lan, HW_CFG, HW_CFG_SRST);
    if (!wait_bits(lan, HW_CFG, HW_CFG_SRST, 0) ||
        !wait_bits(lan, PMT_CTRL, PMT_CTRL_READY, PMT_CTRL_READY)) {
        return ERR_IF;
    }
    wr(lan, INT_EN, 0);            /* polled */
    wr(lan, INT_STS, 0xffffffffu); /* clear what the reset left */
    wr(lan, IRQ_CFG, 0);
    wr(lan, RX_CFG, 0); /* frames start at the first byte of a word, no end padding */
    wr(lan, TX_CFG, TX_CFG_TX_ON);

    uint32_t lo = 0, hi = 0;
    if (!mac_read(lan, MAC_ADDRL, &lo) || !mac_read(lan, MAC_ADDRH, &hi)) {
        return ERR_IF;
    }
    netif->hwaddr_len = ETH_HWADDR_LEN;
    for (int i = 0; i < 4; i++) {
        netif->hwaddr[i] = (uint8_t)(lo >> (8 * i));
    }
    netif->hwaddr[4] = (uint8_t)hi;
    netif->hwaddr[5] = (uint8_t)(hi >> 8);
    /* Perfect filtering on our address plus broadcast (ARP, DHCP offers), full duplex. */
    if (!mac_write(lan, MAC_CR, MAC_CR_TXEN | MAC_CR_RXEN | MAC_CR_FDPX)) {
        return ERR_IF;
    }

    netif->name[0] = 'e';
    netif->name[1] = 'n';
    netif->mtu = 1500;
    netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
    netif->output = etharp_output;
    netif->linkoutput = lan9118_output;
    lan->last_link_check_ms = sys_now() - LINK_CHECK_MS;
    return ERR_OK;
}
