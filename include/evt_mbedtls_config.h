/*
 * Project adjustments on top of mbedTLS 3.6's default configuration
 * (passed as MBEDTLS_USER_CONFIG_FILE when mbedTLS and the firmware are built).
 *
 * Why each line is here:
 * - the firmware's heap is one bounded arena (evt_arena), implemented with mbedTLS's own
 *   buffer allocator, so mbedTLS, PSA and cJSON all draw from it and its peak is measurable;
 * - the client only sends small JSON requests, so the outgoing record buffer is cut to 4 KiB
 *   (the incoming one must stay 16 KiB: the server chooses its record size);
 * - bare-metal builds have no file system, sockets or OS entropy: the HAL provides I/O and
 *   entropy instead (the cross toolchain defines EVT_MBEDTLS_BARE_METAL).
 */
#ifndef EVT_MBEDTLS_CONFIG_H
#define EVT_MBEDTLS_CONFIG_H

#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C
#define MBEDTLS_MEMORY_DEBUG

#undef MBEDTLS_SSL_OUT_CONTENT_LEN
#define MBEDTLS_SSL_OUT_CONTENT_LEN 4096

#if defined(EVT_MBEDTLS_BARE_METAL)
#undef MBEDTLS_NET_C
#undef MBEDTLS_TIMING_C
#undef MBEDTLS_FS_IO
#undef MBEDTLS_PSA_ITS_FILE_C
#undef MBEDTLS_PSA_CRYPTO_STORAGE_C
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_ENTROPY_HARDWARE_ALT
#endif

#endif /* EVT_MBEDTLS_CONFIG_H */
