/*
 * newlib's system calls on the mps2-an385 board, over semihosting: what the target unit
 * tests need (stdout/stderr for cmocka, fopen of source-tree files, the exit status) and a
 * bounded C heap.
 *
 * The product's heap is the arena; nothing of the firmware calls malloc. newlib itself does
 * for a few internals (strtod's big-number freelist, which cJSON's number parsing reaches),
 * so _sbrk hands out the linker's fixed .libc_heap region (__evt_libc_heap_start/_end) and
 * never more: past it, _sbrk fails with ENOMEM and calls evt_board_sbrk_refused, which the
 * board makes loud (a log line on the console UART). The map file shows the region's size.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "evt_mps2/semihost.h"

/* newlib's prototypes for these live in its private headers; declared here for -Wall. */
void *_sbrk(ptrdiff_t incr);
int _write(int fd, const void *buf, size_t len);
int _read(int fd, void *buf, size_t len);
int _open(const char *path, int flags, ...);
int _close(int fd);
off_t _lseek(int fd, off_t off, int whence);
int _fstat(int fd, struct stat *st);
int _isatty(int fd);
void _exit(int status);
int _kill(int pid, int sig);
int _getpid(void);
void evt_board_sbrk_refused(ptrdiff_t incr);

extern char __evt_libc_heap_start[];
extern char __evt_libc_heap_end[];
static char *heap_top = __evt_libc_heap_start;

__attribute__((weak)) void evt_board_sbrk_refused(ptrdiff_t incr)
{
    (void)incr;
}

void *_sbrk(ptrdiff_t incr)
{
    char *prev = heap_top;
    if (incr < 0 ? (uintptr_t)(prev - __evt_libc_heap_start) < (uintptr_t)-incr
                 : (uintptr_t)(__evt_libc_heap_end - prev) < (uintptr_t)incr) {
        evt_board_sbrk_refused(incr);
        errno = ENOMEM;
        return (void *)-1;
    }
    heap_top = prev + incr;
    return prev;
}

/* The break only grows as newlib asks: its distance from the start is the high-water mark. */
size_t evt_board_libc_heap_used(void);
size_t evt_board_libc_heap_used(void)
{
    return (size_t)(heap_top - __evt_libc_heap_start);
}

size_t evt_board_libc_heap_size(void);
size_t evt_board_libc_heap_size(void)
{
    return (size_t)(__evt_libc_heap_end - __evt_libc_heap_start);
}

/* newlib descriptors -> semihosting handles; 0..2 are opened on first use as ":tt". */
#define FD_MAX 8
static int fd_handle[FD_MAX] = {-1, -1, -1, -1, -1, -1, -1, -1};

static int handle_of(int fd)
{
    if (fd < 0 || fd >= FD_MAX) {
        return -1;
    }
    if (fd_handle[fd] < 0 && fd <= 2) {
        static const int tt_mode[3] = {0 /* "r" */, EVT_SH_MODE_W, EVT_SH_MODE_A};
        fd_handle[fd] = evt_mps2_sh_open(":tt", tt_mode[fd]);
    }
    return fd_handle[fd];
}

int _write(int fd, const void *buf, size_t len)
{
    int h = handle_of(fd);
    if (h < 0) {
        errno = EBADF;
        return -1;
    }
    size_t left = evt_mps2_sh_write(h, buf, len);
    if (left > len) {
        errno = EIO;
        return -1;
    }
    return (int)(len - left);
}

int _read(int fd, void *buf, size_t len)
{
    int h = handle_of(fd);
    if (h < 0) {
        errno = EBADF;
        return -1;
    }
    size_t left = evt_mps2_sh_read(h, buf, len);
    if (left > len) {
        errno = EIO;
        return -1;
    }
    return (int)(len - left);
}

int _open(const char *path, int flags, ...)
{
    int mode;
    int acc = flags & O_ACCMODE;
    if (acc == O_RDONLY) {
        mode = EVT_SH_MODE_RB;
    } else if (flags & O_APPEND) {
        mode = acc == O_RDWR ? 11 /* "a+b" */ : 9 /* "ab" */;
    } else if (flags & O_TRUNC) {
        mode = acc == O_RDWR ? EVT_SH_MODE_WPLUSB : 5 /* "wb" */;
    } else {
        mode = EVT_SH_MODE_RPLUSB;
    }
    for (int fd = 3; fd < FD_MAX; fd++) {
        if (fd_handle[fd] < 0) {
            int h = evt_mps2_sh_open(path, mode);
            if (h < 0) {
                errno = ENOENT;
                return -1;
            }
            fd_handle[fd] = h;
            return fd;
        }
    }
    errno = EMFILE;
    return -1;
}

int _close(int fd)
{
    if (fd < 3 || fd >= FD_MAX || fd_handle[fd] < 0) {
        return 0;
    }
    evt_mps2_sh_close(fd_handle[fd]);
    fd_handle[fd] = -1;
    return 0;
}

off_t _lseek(int fd, off_t off, int whence)
{
    int h = handle_of(fd);
    if (h < 0 || fd <= 2) {
        errno = ESPIPE;
        return -1;
    }
    /* Semihosting seeks only to absolute positions; newlib asks SEEK_CUR 0 to learn where
     * it is, which the stdio layer also tracks, so only SEEK_SET and SEEK_END are served. */
    if (whence == SEEK_END) {
        long len = evt_mps2_sh_flen(h);
        if (len < 0) {
            errno = EIO;
            return -1;
        }
        off += len;
    } else if (whence != SEEK_SET) {
        errno = EINVAL;
        return -1;
    }
    if (off < 0 || evt_mps2_sh_seek(h, (uint32_t)off) != 0) {
        errno = EINVAL;
        return -1;
    }
    return off;
}

int _fstat(int fd, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_mode = fd <= 2 ? S_IFCHR : S_IFREG;
    return 0;
}

int _isatty(int fd)
{
    return fd <= 2;
}

void _exit(int status)
{
    evt_mps2_sh_exit(status);
}

int _kill(int pid, int sig)
{
    (void)pid;
    (void)sig;
    errno = EINVAL;
    return -1;
}

int _getpid(void)
{
    return 1;
}
