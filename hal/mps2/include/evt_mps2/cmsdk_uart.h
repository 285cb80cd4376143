/*
 * evt_mps2_uart: the ARM CMSDK APB UART (MPS2 FPGA images, QEMU's cmsdk-apb-uart).
 *
 * TX is polled (wait while STATE.TXFULL, then write DATA): the firmware's output is small
 * and the main loop has nothing better to do. RX is interrupt driven: the board's RX vector
 * calls evt_mps2_uart_rx_irq, which moves the one-byte holding register into a ring buffer
 * the main loop drains, so bytes arriving while the firmware works (a scan during a TLS
 * handshake) are not lost. The ring is single-producer (the IRQ) single-consumer (the main
 * loop); 32-bit index stores are atomic on Cortex-M. A full ring drops the new byte and counts
 * it (rx_dropped).
 */
#ifndef EVT_MPS2_CMSDK_UART_H
#define EVT_MPS2_CMSDK_UART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct evt_mps2_uart {
    uintptr_t base;
    uint8_t *ring; /* rx_cap bytes, a power of two */
    uint32_t rx_cap;
    volatile uint32_t rx_head; /* written by the IRQ */
    volatile uint32_t rx_tail; /* written by the main loop */
    volatile uint32_t rx_dropped;
} evt_mps2_uart;

/* Programs the baud divider (pclk_hz / baud, at least 16), enables TX, RX and the RX
 * interrupt. The caller enables the UART's RX line in the NVIC. ring_cap: power of two. */
void evt_mps2_uart_init(evt_mps2_uart *u, uintptr_t base, uint32_t pclk_hz, uint32_t baud,
                        uint8_t *ring, uint32_t ring_cap);
/* From the UART's RX interrupt handler. */
void evt_mps2_uart_rx_irq(evt_mps2_uart *u);
void evt_mps2_uart_write(evt_mps2_uart *u, const void *data, size_t len);
void evt_mps2_uart_puts(evt_mps2_uart *u, const char *s);
/* Takes one received byte; false when none is waiting. */
bool evt_mps2_uart_getc(evt_mps2_uart *u, uint8_t *out);

/* Polled TX without a driver object, for fault handlers (nothing else may be trusted then). */
void evt_mps2_uart_raw_puts(uintptr_t base, const char *s);

#endif /* EVT_MPS2_CMSDK_UART_H */
