/*
 * Project adjustments on top of mbedTLS 3.6's default configuration
 * (passed as MBEDTLS_USER_CONFIG_FILE when mbedTLS and the firmware are built).
 *
 * Why each line is here:
 * - the firmware's heap is one bounded arena (evt_arena), implemented with mbedTLS's own
 *   buffer allocator, so mbedTLS, PSA and cJSON all draw from it and its peak is measurable;
 * - the client only sends small JSON requests, so the outgoing record buffer is cut to 4 KiB
 *   (the incoming one must stay 16 KiB: the server chooses its record size);
 * - entropy and time come from the board's HAL (evt_hal_sys) in EVERY build, the host one
 *   included, so the sim exercises exactly the code path a bare-metal board runs. The
 *   firmware (firmware/https/tls_platform.c) provides mbedtls_hardware_poll(),
 *   mbedtls_ms_time() and mbedtls_platform_gmtime_r(), and registers the wall clock with
 *   mbedtls_platform_set_time(); evt_https_platform_init() wires them to the HAL. A program
 *   that links mbedTLS's entropy, X.509 or TLS code must therefore link evt_core and call
 *   evt_https_platform_init() first;
 * - bare-metal builds have no file system, sockets or OS threads: the HAL provides I/O
 *   instead (the cross toolchain defines EVT_MBEDTLS_BARE_METAL);
 * - the TLS profile (docs/https-client.md): the client offers only ECDHE with AES-GCM or
 *   ChaCha20-Poly1305 (TLS 1.2) and the GCM/ChaCha20 suites of TLS 1.3, over x25519,
 *   secp256r1 or secp384r1. What the product must never negotiate is not built at all, so no
 *   later change of the client's lists can bring it back.
 */
#ifndef EVT_MBEDTLS_CONFIG_H
#define EVT_MBEDTLS_CONFIG_H

#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C
#define MBEDTLS_MEMORY_DEBUG
/* The arena also serves cJSON and PSA structures holding 64-bit fields: 8-byte alignment
 * (the allocator's default of 4 is misaligned for them on 64-bit hosts and for LDRD/STRD). */
#define MBEDTLS_MEMORY_ALIGN_MULTIPLE 8

#undef MBEDTLS_SSL_OUT_CONTENT_LEN
#define MBEDTLS_SSL_OUT_CONTENT_LEN 4096

/* Entropy: only the HAL source (no /dev/urandom or getrandom inside mbedTLS). */
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_ENTROPY_HARDWARE_ALT

/* Time: wall clock for certificate validity and a monotonic clock for TLS 1.3 ticket ages,
 * both from the HAL; gmtime_r is POSIX, so the firmware brings a portable one. */
#define MBEDTLS_PLATFORM_TIME_ALT
#define MBEDTLS_PLATFORM_MS_TIME_ALT
#define MBEDTLS_PLATFORM_GMTIME_R_ALT

/* Key exchanges without forward secrecy (RSA key transport, static ECDH, pure PSK), finite-
 * field DHE (server-chosen groups, slow on a Cortex-M) and PSK variants (never provisioned). */
#undef MBEDTLS_KEY_EXCHANGE_RSA_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_DHE_RSA_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_ECDH_ECDSA_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_ECDH_RSA_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_PSK_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_DHE_PSK_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_ECDHE_PSK_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_RSA_PSK_ENABLED
#undef MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_ENABLED
#undef MBEDTLS_DHM_C

/* Record protection: AEAD only. No CBC (MAC-then-encrypt: Lucky 13, padding oracles; it is
 * also the only mode with SHA-1 MACs), no CCM/CCM_8 (CCM_8 truncates the tag), no DES,
 * Camellia or ARIA. AES stays for GCM and for the DRBG. */
#undef MBEDTLS_CIPHER_MODE_CBC
#undef MBEDTLS_CIPHER_MODE_CFB
#undef MBEDTLS_CIPHER_MODE_OFB
#undef MBEDTLS_CIPHER_MODE_XTS
#undef MBEDTLS_CCM_C
#undef MBEDTLS_DES_C
#undef MBEDTLS_CAMELLIA_C
#undef MBEDTLS_ARIA_C

/* Hashes: SHA-2 only. Certificate chains are verified with SHA-256/384/512 signatures (the
 * default X.509 profile refuses SHA-1 anyway), TLS 1.2 uses the suite's SHA-256/384 PRF. */
#undef MBEDTLS_SHA1_C
#undef MBEDTLS_MD5_C
#undef MBEDTLS_RIPEMD160_C

/* Curves: x25519 and secp256r1/secp384r1 for key exchange, the last two also for ECDSA
 * certificates. Platform CAs on secp521r1 or Brainpool curves would need them back. */
#undef MBEDTLS_ECP_DP_SECP192R1_ENABLED
#undef MBEDTLS_ECP_DP_SECP224R1_ENABLED
#undef MBEDTLS_ECP_DP_SECP521R1_ENABLED
#undef MBEDTLS_ECP_DP_SECP192K1_ENABLED
#undef MBEDTLS_ECP_DP_SECP224K1_ENABLED
#undef MBEDTLS_ECP_DP_SECP256K1_ENABLED
#undef MBEDTLS_ECP_DP_BP256R1_ENABLED
#undef MBEDTLS_ECP_DP_BP384R1_ENABLED
#undef MBEDTLS_ECP_DP_BP512R1_ENABLED
#undef MBEDTLS_ECP_DP_CURVE448_ENABLED

#if defined(EVT_MBEDTLS_BARE_METAL)
#undef MBEDTLS_NET_C
#undef MBEDTLS_TIMING_C
#undef MBEDTLS_FS_IO
#undef MBEDTLS_PSA_ITS_FILE_C
#undef MBEDTLS_PSA_CRYPTO_STORAGE_C
#endif

#endif /* EVT_MBEDTLS_CONFIG_H */
