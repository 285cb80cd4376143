/*
 * lwIP's architecture hooks for the terminal: standard C types from the compiler, assertions
 * and random numbers routed to the port (hal/lwip/lwip_port.c), no diagnostic output.
 */
#ifndef EVT_LWIP_ARCH_CC_H
#define EVT_LWIP_ARCH_CC_H

#include <stdint.h>

void evt_lwip_assert_failed(const char *message, const char *file, int line);
uint32_t evt_lwip_rand(void);
void evt_lwip_sntp_set_time(unsigned long unix_seconds);

#define LWIP_PLATFORM_DIAG(x)                                                                      \
    do {                                                                                           \
    } while (0)
#define LWIP_PLATFORM_ASSERT(x) evt_lwip_assert_failed((x), __FILE__, __LINE__)
#define LWIP_RAND()             evt_lwip_rand()

#endif /* EVT_LWIP_ARCH_CC_H */
