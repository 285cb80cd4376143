/*
 * mps2-an385 (ARM MPS2, AN385 FPGA image, Cortex-M3) as QEMU models it (hw/arm/mps2.c):
 * peripheral addresses, interrupt numbers and clocks, and what the board runtime
 * (startup.c) offers the board's main and the target tests.
 */
#ifndef EVT_BOARD_MPS2_AN385_H
#define EVT_BOARD_MPS2_AN385_H

#include <stddef.h>
#include <stdint.h>

#define MPS2_SYSCLK_HZ 25000000u

/* CMSDK APB UARTs; RX interrupt n, TX interrupt n + 1. */
#define MPS2_UART0_BASE   0x40004000u /* console: cashier screens and keys */
#define MPS2_UART1_BASE   0x40005000u /* serial scan engine */
#define MPS2_UART2_BASE   0x40006000u /* ESC/POS printer */
#define MPS2_UART3_BASE   0x40007000u /* firmware log */
#define MPS2_UART0_RX_IRQ 0
#define MPS2_UART1_RX_IRQ 2
#define MPS2_UART2_RX_IRQ 4
#define MPS2_UART3_RX_IRQ 18
/* LAN9118 Ethernet (the lwIP netif of the next step): registers and interrupt. */
#define MPS2_ETH_BASE 0x40200000u
#define MPS2_ETH_IRQ  13

#define MPS2_UART_BAUD 115200u

void evt_board_nvic_enable(unsigned irq);
/* Stack bytes never touched since reset (the stack is painted at reset). */
size_t evt_board_stack_unused(void);
size_t evt_board_stack_size(void);
/* Bytes of the C heap (.evt_libc_heap) handed out so far, and its size (newlib_syscalls.c). */
size_t evt_board_libc_heap_used(void);
size_t evt_board_libc_heap_size(void);

/* What a fault does after printing the faulting PC on the console: reset the board
 * (SYSRESETREQ). Weak: the target tests end the emulation with a failure instead. */
void evt_board_fault_reset(void);

#endif /* EVT_BOARD_MPS2_AN385_H */
