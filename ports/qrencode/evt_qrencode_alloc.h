/*
 * Forced include (-include) for libqrencode's sources when tools/cross-deps.sh builds them
 * for a bare-metal board: their malloc/calloc/realloc/free/strdup go to the firmware's arena
 * (qrencode_alloc.c) instead of a libc heap the product does not have. The standard headers
 * are included first so their own declarations keep the standard names.
 */
#ifndef EVT_QRENCODE_ALLOC_H
#define EVT_QRENCODE_ALLOC_H

#include <stdlib.h>
#include <string.h>

void *evt_qr_malloc(size_t len);
void *evt_qr_calloc(size_t count, size_t size);
void *evt_qr_realloc(void *ptr, size_t len);
void evt_qr_free(void *ptr);
char *evt_qr_strdup(const char *s);

#define malloc  evt_qr_malloc
#define calloc  evt_qr_calloc
#define realloc evt_qr_realloc
#define free    evt_qr_free
#define strdup  evt_qr_strdup

#endif /* EVT_QRENCODE_ALLOC_H */
