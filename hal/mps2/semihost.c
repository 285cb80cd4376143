/* evt_mps2_semihost: ARM semihosting; see semihost.h. */
#include "evt_mps2/semihost.h"

#include <string.h>

enum {
    SYS_OPEN = 0x01,
    SYS_CLOSE = 0x02,
    SYS_WRITE = 0x05,
    SYS_READ = 0x06,
    SYS_SEEK = 0x0A,
    SYS_FLEN = 0x0C,
    SYS_TIME = 0x11,
    SYS_GET_CMDLINE = 0x15,
    SYS_EXIT = 0x18,
    SYS_EXIT_EXTENDED = 0x20,
};
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static intptr_t semihost(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return (intptr_t)(int32_t)r0;
}

int evt_mps2_sh_open(const char *path, int mode)
{
    uintptr_t args[3] = {(uintptr_t)path, (uintptr_t)mode, strlen(path)};
    return (int)semihost(SYS_OPEN, args);
}

int evt_mps2_sh_close(int handle)
{
    uintptr_t args[1] = {(uintptr_t)handle};
    return (int)semihost(SYS_CLOSE, args);
}

size_t evt_mps2_sh_write(int handle, const void *buf, size_t len)
{
    uintptr_t args[3] = {(uintptr_t)handle, (uintptr_t)buf, len};
    return (size_t)semihost(SYS_WRITE, args);
}

size_t evt_mps2_sh_read(int handle, void *buf, size_t len)
{
    uintptr_t args[3] = {(uintptr_t)handle, (uintptr_t)buf, len};
    return (size_t)semihost(SYS_READ, args);
}

int evt_mps2_sh_seek(int handle, uint32_t pos)
{
    uintptr_t args[2] = {(uintptr_t)handle, pos};
    return (int)semihost(SYS_SEEK, args);
}

long evt_mps2_sh_flen(int handle)
{
    uintptr_t args[1] = {(uintptr_t)handle};
    return (long)semihost(SYS_FLEN, args);
}

int64_t evt_mps2_sh_time(void)
{
    /* Unsigned 32-bit seconds: good until 2106. */
    return (int64_t)(uint32_t)semihost(SYS_TIME, NULL);
}

int evt_mps2_sh_cmdline(char *buf, size_t cap)
{
    uintptr_t args[2] = {(uintptr_t)buf, cap};
    if (cap == 0 || semihost(SYS_GET_CMDLINE, args) != 0) {
        return -1;
    }
    buf[cap - 1] = '\0';
    return 0;
}

_Noreturn void evt_mps2_sh_exit(int status)
{
    uintptr_t args[2] = {ADP_STOPPED_APPLICATION_EXIT, (uintptr_t)status};
    semihost(SYS_EXIT_EXTENDED, args);
    /* A host without the extension: the plain exit only tells success from failure. */
    semihost(SYS_EXIT, (const void *)(uintptr_t)(status == 0 ? ADP_STOPPED_APPLICATION_EXIT : 0));
    for (;;) {
    }
}
