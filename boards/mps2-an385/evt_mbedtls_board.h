/*
 * mbedTLS 3.6 configuration of the mps2-an385 image: the product's TLS profile
 * (include/evt_mbedtls_config.h, included first so both builds share one profile) cut down
 * to what a bare-metal client needs. tools/bootstrap.sh builds mbedTLS for Cortex-M3 with
 * this file as MBEDTLS_USER_CONFIG_FILE, and the board's CMake compiles the core with the
 * same file, so structure layouts agree.
 *
 * Why each group is here:
 * - a terminal is only ever a TLS client: no server code, no DTLS, no server-side session
 *   cache, ticket keys or cookies;
 * - no code that only makes keys, certificates or requests (the terminal parses a CA bundle
 *   and verifies the platform's chain; it never signs with a private key of its own);
 * - ROM tables: the AES tables live in flash, not in 8 KiB of RAM built at start-up;
 * - memory: the arena (evt_arena, mbedTLS's buffer allocator) is the only heap. With no
 *   standard functions, mbedTLS's calloc before evt_arena_init is a stub that fails, so no
 *   libc malloc is ever linked in through mbedTLS;
 * - entropy: the AN385 has no TRNG. The NV seed (64 bytes kept in flash, rewritten on every
 *   boot by mbedTLS's entropy module itself) plus the board's timer-jitter source behind
 *   mbedtls_hardware_poll (docs/board-mps2-an385.md says what a production board must use).
 *   The board registers the seed's read/write functions (MBEDTLS_PLATFORM_NV_SEED_ALT).
 */
#ifndef EVT_MBEDTLS_BOARD_H
#define EVT_MBEDTLS_BOARD_H

#include "../../include/evt_mbedtls_config.h"

/* Client only. */
#undef MBEDTLS_SSL_SRV_C
#undef MBEDTLS_SSL_CACHE_C
#undef MBEDTLS_SSL_TICKET_C
#undef MBEDTLS_SSL_COOKIE_C
#undef MBEDTLS_SSL_PROTO_DTLS
#undef MBEDTLS_SSL_DTLS_ANTI_REPLAY
#undef MBEDTLS_SSL_DTLS_HELLO_VERIFY
#undef MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE
#undef MBEDTLS_SSL_DTLS_CONNECTION_ID
#undef MBEDTLS_SSL_CONTEXT_SERIALIZATION
#undef MBEDTLS_SSL_ALPN

/* Nothing that creates keys, certificates, requests or other containers. */
#undef MBEDTLS_X509_CREATE_C
#undef MBEDTLS_X509_CRT_WRITE_C
#undef MBEDTLS_X509_CSR_WRITE_C
#undef MBEDTLS_X509_CSR_PARSE_C
#undef MBEDTLS_X509_CRL_PARSE_C
#undef MBEDTLS_PEM_WRITE_C
#undef MBEDTLS_PK_WRITE_C
#undef MBEDTLS_PKCS7_C
#undef MBEDTLS_PKCS12_C
#undef MBEDTLS_GENPRIME
#undef MBEDTLS_ECDSA_DETERMINISTIC
#undef MBEDTLS_HMAC_DRBG_C
#undef MBEDTLS_ECJPAKE_C
#undef MBEDTLS_CMAC_C
#undef MBEDTLS_NIST_KW_C
#undef MBEDTLS_LMS_C
#undef MBEDTLS_SHA3_C
#undef MBEDTLS_SHA224_C

/* Host-only accelerators and diagnostics. */
#undef MBEDTLS_AESNI_C
#undef MBEDTLS_AESCE_C
#undef MBEDTLS_PADLOCK_C
#undef MBEDTLS_SELF_TEST
#undef MBEDTLS_VERSION_FEATURES
#undef MBEDTLS_DEBUG_C
#undef MBEDTLS_ERROR_C

/* Records the terminal sends are small: requests are written out in 1 KiB pieces
 * (evt_json_writer) and the largest handshake message, the ClientHello (TLS 1.3 key shares,
 * SNI, a session ticket when one is offered), stays well under 2 KiB. 2 KiB instead of the
 * product's 4 KiB saves 2 KiB of arena during every sale; what the platform sends in is
 * unchanged (16 KiB, MBEDTLS_SSL_IN_CONTENT_LEN: no smaller record size can be negotiated
 * with every server). */
#undef MBEDTLS_SSL_OUT_CONTENT_LEN
#define MBEDTLS_SSL_OUT_CONTENT_LEN 2048

/* Tables in flash. */
#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_AES_FEWER_TABLES

/* No libc heap, no stdio files: the arena and the HAL. */
#define MBEDTLS_PLATFORM_NO_STD_FUNCTIONS
#define MBEDTLS_PLATFORM_SNPRINTF_MACRO  snprintf
#define MBEDTLS_PLATFORM_VSNPRINTF_MACRO vsnprintf
/* The buffer allocator's debug checks report heap corruption with mbedtls_fprintf(stderr):
 * the declarations come from <stdio.h>, the function is mbedTLS's failing stub (FPRINTF_ALT
 * with no standard functions), so newlib's stdio is not linked for it. */
#define MBEDTLS_PLATFORM_STD_MEM_HDR <stdio.h>
#define MBEDTLS_PLATFORM_FPRINTF_ALT

/* Entropy: NV seed in flash + the HAL's source (timer jitter on this board). */
#define MBEDTLS_ENTROPY_NV_SEED
#define MBEDTLS_PLATFORM_NV_SEED_ALT

#endif /* EVT_MBEDTLS_BOARD_H */
