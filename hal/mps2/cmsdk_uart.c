/* evt_mps2_uart: CMSDK APB UART, polled TX, RX interrupt into a ring; see cmsdk_uart.h. */
#include "evt_mps2/cmsdk_uart.h"

#define REG(base, off) (*(volatile uint32_t *)((base) + (off)))
#define UART_DATA      0x00u
#define UART_STATE     0x04u
#define UART_CTRL      0x08u
#define UART_INTSTATUS 0x0Cu
#define UART_BAUDDIV   0x10u

#define STATE_TXFULL   (1u << 0)
#define STATE_RXFULL   (1u << 1)
#define STATE_OVERRUNS (3u << 2)
#define CTRL_TX_EN     (1u << 0)
#define CTRL_RX_EN     (1u << 1)
#define CTRL_RX_INTEN  (1u << 3)
#define INT_RX         (1u << 1)

void evt_mps2_uart_init(evt_mps2_uart *u, uintptr_t base, uint32_t pclk_hz, uint32_t baud,
                        uint8_t *ring, uint32_t ring_cap)
{
    u->base = base;
    u->ring = ring;
    u->rx_cap = ring_cap;
    u->rx_head = 0;
    u->rx_tail = 0;
    u->rx_dropped = 0;
    uint32_t div = baud != 0 ? pclk_hz / baud : 16u;
    REG(base, UART_CTRL) = 0;
    REG(base, UART_BAUDDIV) = div < 16u ? 16u : div;
    REG(base, UART_STATE) = STATE_OVERRUNS;
    REG(base, UART_INTSTATUS) = 0xFu;
    REG(base, UART_CTRL) = CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INTEN;
}

void evt_mps2_uart_rx_irq(evt_mps2_uart *u)
{
    /* Acknowledge before draining: a byte that arrives after the last RXFULL check raises the
     * interrupt again. Acknowledged after the drain, such a byte would have its interrupt
     * cleared with RXFULL still set: the UART accepts nothing more and the line is dead. */
    REG(u->base, UART_INTSTATUS) = INT_RX;
    while (REG(u->base, UART_STATE) & STATE_RXFULL) {
        uint8_t c = (uint8_t)REG(u->base, UART_DATA);
        uint32_t head = u->rx_head;
        if (head - u->rx_tail < u->rx_cap) {
            u->ring[head & (u->rx_cap - 1u)] = c;
            u->rx_head = head + 1u;
        } else {
            u->rx_dropped++;
        }
    }
}

static void put_byte(uintptr_t base, uint8_t c)
{
    while (REG(base, UART_STATE) & STATE_TXFULL) {
    }
    REG(base, UART_DATA) = c;
}

void evt_mps2_uart_write(evt_mps2_uart *u, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        put_byte(u->base, p[i]);
    }
}

void evt_mps2_uart_puts(evt_mps2_uart *u, const char *s)
{
    while (*s != '\0') {
        put_byte(u->base, (uint8_t)*s++);
    }
}

bool evt_mps2_uart_getc(evt_mps2_uart *u, uint8_t *out)
{
    uint32_t tail = u->rx_tail;
    if (tail == u->rx_head) {
        return false;
    }
    *out = u->ring[tail & (u->rx_cap - 1u)];
    u->rx_tail = tail + 1u;
    return true;
}

void evt_mps2_uart_raw_puts(uintptr_t base, const char *s)
{
    /* The UART may never have been set up (a fault during start-up). */
    if ((REG(base, UART_CTRL) & CTRL_TX_EN) == 0u) {
        REG(base, UART_BAUDDIV) = 16u;
        REG(base, UART_CTRL) = CTRL_TX_EN;
    }
    while (*s != '\0') {
        put_byte(base, (uint8_t)*s++);
    }
}
