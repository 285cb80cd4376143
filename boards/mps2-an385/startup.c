/*
 * mps2-an385 runtime: vector table, reset, fault handlers. Used by the image and by the target
 * unit tests.
 *
 * Reset copies .data, zeroes .bss, paints the stack (so evt_board_stack_unused can tell its
 * high-water mark), enables the configurable faults (MemManage, BusFault, UsageFault,
 * divide-by-zero) so they are reported as what they are, runs the C library's constructors
 * and calls main; main's return value is the exit status (target tests: through
 * semihosting).
 *
 * A fault prints the exception, the faulting PC and LR from the stacked frame and the fault
 * status registers on the console UART (polled, no driver state trusted), then calls
 * evt_board_fault_reset.
 */
#include <stdint.h>
#include <stdlib.h>

#include "board.h"
#include "evt_mps2/cmsdk_uart.h"

extern uint32_t __evt_data_start[], __evt_data_end[], __evt_data_load[];
extern uint32_t __evt_bss_start[], __evt_bss_end[];
extern uint32_t __evt_stack_limit[], __evt_stack_top[];

int main(void);
void __libc_init_array(void);
void evt_reset_handler(void);
void evt_fault_report(const uint32_t *frame, uint32_t exc_return);
void evt_fault_entry(void);

#define STACK_PAINT 0xA5A5A5A5u

#define SCB_AIRCR (*(volatile uint32_t *)0xE000ED0Cu)
#define SCB_CCR   (*(volatile uint32_t *)0xE000ED14u)
#define SCB_SHCSR (*(volatile uint32_t *)0xE000ED24u)
#define SCB_CFSR  (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR  (*(volatile uint32_t *)0xE000ED2Cu)
#define SCB_MMFAR (*(volatile uint32_t *)0xE000ED34u)
#define SCB_BFAR  (*(volatile uint32_t *)0xE000ED38u)
#define SCB_ICSR  (*(volatile uint32_t *)0xE000ED04u)
#define NVIC_ISER ((volatile uint32_t *)0xE000E100u)

void evt_reset_handler(void)
{
    uint32_t *src = __evt_data_load;
    for (uint32_t *dst = __evt_data_start; dst < __evt_data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = __evt_bss_start; dst < __evt_bss_end;) {
        *dst++ = 0;
    }
    /* Paint the stack below the current frame (a few words are in use already). */
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = __evt_stack_limit; p < sp - 16; p++) {
        *p = STACK_PAINT;
    }
    SCB_SHCSR |= (1u << 16) | (1u << 17) | (1u << 18); /* MemManage, BusFault, UsageFault */
    SCB_CCR |= (1u << 4);                              /* trap divide by zero */
    __libc_init_array();
    exit(main());
}

/* newlib's __libc_init_array calls these (crti/crtn are not linked: -nostartfiles). */
void _init(void);
void _fini(void);
void _init(void) {}

void _fini(void) {}

size_t evt_board_stack_size(void)
{
    return (size_t)((uintptr_t)__evt_stack_top - (uintptr_t)__evt_stack_limit);
}

size_t evt_board_stack_unused(void)
{
    const uint32_t *p = __evt_stack_limit;
    while (p < __evt_stack_top && *p == STACK_PAINT) {
        p++;
    }
    return (size_t)((uintptr_t)p - (uintptr_t)__evt_stack_limit);
}

void evt_board_nvic_enable(unsigned irq)
{
    NVIC_ISER[irq / 32u] = 1u << (irq % 32u);
}

__attribute__((weak)) void evt_board_fault_reset(void)
{
    __asm__ volatile("dsb" ::: "memory");
    SCB_AIRCR = (0x5FAu << 16) | (1u << 2); /* VECTKEY | SYSRESETREQ */
    __asm__ volatile("dsb" ::: "memory");
    for (;;) {
    }
}

static void put_hex(const char *label, uint32_t v)
{
    char s[20];
    unsigned n = 0;
    s[n++] = ' ';
    while (*label != '\0' && n < 8) {
        s[n++] = *label++;
    }
    s[n++] = '=';
    for (int shift = 28; shift >= 0; shift -= 4) {
        s[n++] = "0123456789abcdef"[(v >> shift) & 0xFu];
    }
    s[n] = '\0';
    evt_mps2_uart_raw_puts(MPS2_UART0_BASE, s);
}

/* frame: r0 r1 r2 r3 r12 lr pc xpsr, as the core stacked them. */
void evt_fault_report(const uint32_t *frame, uint32_t exc_return)
{
    static const char *const names[] = {"?",         "reset",    "NMI",        "HardFault",
                                        "MemManage", "BusFault", "UsageFault", "?"};
    uint32_t exc = SCB_ICSR & 0x1FFu;
    evt_mps2_uart_raw_puts(MPS2_UART0_BASE, "\r\n*** FAULT ");
    evt_mps2_uart_raw_puts(MPS2_UART0_BASE, exc < 8u ? names[exc] : "IRQ");
    put_hex("pc", frame[6]);
    put_hex("lr", frame[5]);
    put_hex("xpsr", frame[7]);
    put_hex("cfsr", SCB_CFSR);
    put_hex("hfsr", SCB_HFSR);
    put_hex("bfar", SCB_BFAR);
    put_hex("mmfar", SCB_MMFAR);
    put_hex("exc", exc);
    put_hex("excret", exc_return);
    evt_mps2_uart_raw_puts(MPS2_UART0_BASE, "\r\n*** resetting\r\n");
    evt_board_fault_reset();
}

/* Which stack holds the frame is in EXC_RETURN bit 2; the C reporter gets its address. */
__attribute__((naked)) void evt_fault_entry(void)
{
    __asm__ volatile("tst lr, #4\n"
                     "ite eq\n"
                     "mrseq r0, msp\n"
                     "mrsne r0, psp\n"
                     "mov r1, lr\n"
                     "b evt_fault_report\n");
}

/* An interrupt nobody handles is a wiring mistake: reported like a fault. */
void SysTick_Handler(void) __attribute__((weak, alias("evt_fault_entry")));
void UART0RX_Handler(void) __attribute__((weak, alias("evt_fault_entry")));
void UART1RX_Handler(void) __attribute__((weak, alias("evt_fault_entry")));
void UART2RX_Handler(void) __attribute__((weak, alias("evt_fault_entry")));
void UART3RX_Handler(void) __attribute__((weak, alias("evt_fault_entry")));
void ETH_Handler(void) __attribute__((weak, alias("evt_fault_entry")));

typedef void (*vector)(void);

__attribute__((section(".vectors"), used)) static const vector vectors[16 + 32] = {
    [0] = (vector)(uintptr_t)__evt_stack_top,
    [1] = evt_reset_handler,
    [2] = evt_fault_entry,  /* NMI */
    [3] = evt_fault_entry,  /* HardFault */
    [4] = evt_fault_entry,  /* MemManage */
    [5] = evt_fault_entry,  /* BusFault */
    [6] = evt_fault_entry,  /* UsageFault */
    [11] = evt_fault_entry, /* SVCall: nothing here uses it */
    [12] = evt_fault_entry, /* DebugMonitor */
    [14] = evt_fault_entry, /* PendSV */
    [15] = SysTick_Handler,
    [16 + MPS2_UART0_RX_IRQ] = UART0RX_Handler,
    [16 + 1] = evt_fault_entry,
    [16 + MPS2_UART1_RX_IRQ] = UART1RX_Handler,
    [16 + 3] = evt_fault_entry,
    [16 + MPS2_UART2_RX_IRQ] = UART2RX_Handler,
    [16 + 5] = evt_fault_entry,
    [16 + 6] = evt_fault_entry,
    [16 + 7] = evt_fault_entry,
    [16 + 8] = evt_fault_entry,
    [16 + 9] = evt_fault_entry,
    [16 + 10] = evt_fault_entry,
    [16 + 11] = evt_fault_entry,
    [16 + 12] = evt_fault_entry,
    [16 + MPS2_ETH_IRQ] = ETH_Handler,
    [16 + 14] = evt_fault_entry,
    [16 + 15] = evt_fault_entry,
    [16 + 16] = evt_fault_entry,
    [16 + 17] = evt_fault_entry,
    [16 + MPS2_UART3_RX_IRQ] = UART3RX_Handler,
    [16 + 19] = evt_fault_entry,
    [16 + 20] = evt_fault_entry,
    [16 + 21] = evt_fault_entry,
    [16 + 22] = evt_fault_entry,
    [16 + 23] = evt_fault_entry,
    [16 + 24] = evt_fault_entry,
    [16 + 25] = evt_fault_entry,
    [16 + 26] = evt_fault_entry,
    [16 + 27] = evt_fault_entry,
    [16 + 28] = evt_fault_entry,
    [16 + 29] = evt_fault_entry,
    [16 + 30] = evt_fault_entry,
    [16 + 31] = evt_fault_entry,
};
