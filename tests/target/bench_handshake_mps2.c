/*
 * bench.handshake_mps2: what the public-key operations of a TLS 1.3 handshake cost on the
 * Cortex-M3 of the mps2-an385 board, in instructions, with the image's own mbedTLS build
 * (docs/performance.md, "Cortex-M cost of a handshake").
 *
 * Run in QEMU with -icount shift=0: every instruction advances the virtual clock by 1 ns, and
 * SysTick (processor clock, free running, no interrupt) counts that clock at the board's
 * 25 MHz, so one tick is a fixed number of instructions; a loop of known length calibrates it.
 * QEMU does not model the DWT cycle counter of the M3 (DWT_CYCCNT reads 0), and it counts
 * instructions, not cycles: a real M3/M4 spends ~1.2-1.6 cycles per instruction here.
 *
 * Measured: ECDSA P-256 signature verification (a full handshake makes two: the CA's signature
 * on the server certificate and the server's CertificateVerify; the platform's certificates
 * are ECDSA P-256, so these are forced), and one ECDHE exchange (key generation + shared
 * secret) on X25519 and on secp256r1, all through PSA as mbedTLS's TLS 1.3 code calls them.
 *
 * For comparison, the same P-256 operations by p256-m, the small constant-time P-256 that
 * mbedTLS 3.6 ships in 3rdparty/ (MBEDTLS_PSA_P256M_DRIVER_ENABLED would route PSA to it):
 * its source file is compiled into this benchmark only, from the cached mbedTLS source (its
 * randomness comes from PSA, as in the driver).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <psa/crypto.h>

#include "evt/arena.h"
#include "evt/https.h"
#include "evt_mps2/nv_seed.h"
#include "evt_mps2/semihost.h"
#include "ram_nor.h"

#include "p256-m.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define ROUNDS   3

static unsigned char arena[192u * 1024u] __attribute__((aligned(16)));
static uint64_t ticks_total; /* SysTick ticks since start, folded at every read */
static uint32_t last_cvr;

static void systick_start(void)
{
    SYST_CSR = 0;
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = (1u << 2) | (1u << 0); /* processor clock, enabled, no interrupt */
    last_cvr = SYST_CVR;
}

/* Must be called more often than every 2^24 ticks (about 670 M instructions). */
static uint64_t ticks_now(void)
{
    uint32_t cvr = SYST_CVR;
    ticks_total += (last_cvr - cvr) & 0x00FFFFFFu; /* counts down */
    last_cvr = cvr;
    return ticks_total;
}

/* 2 instructions per iteration (subs, bne). */
static void known_loop(uint32_t iterations)
{
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(iterations)::"cc");
}

/* Calibration: CAL_INSTRUCTIONS took cal_ticks ticks (integers only, like the firmware). */
#define CAL_INSTRUCTIONS 10000000u
static uint64_t cal_ticks;

static uint64_t instructions_since(uint64_t t0)
{
    return (ticks_now() - t0) * CAL_INSTRUCTIONS / cal_ticks;
}

/* ---- a minimal sys HAL: the bench needs PSA's DRBG seeded, not good entropy ---------------- */

static uint64_t mono(void *ctx)
{
    (void)ctx;
    return ticks_now() / 25000u;
}

static int64_t unix_s(void *ctx)
{
    (void)ctx;
    return 1767225600; /* 2026-01-01 */
}

static evt_err entropy(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    static uint32_t x = 0x9E3779B9u;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
    return EVT_OK;
}

static const evt_hal_sys bench_sys = {
    .monotonic_ms = mono, .unix_seconds = unix_s, .entropy = entropy};

/* ---- the operations ------------------------------------------------------------------------- */

static int fail(const char *what, psa_status_t st)
{
    printf("bench_handshake_mps2: %s failed (psa %d)\n", what, (int)st);
    return 1;
}

static psa_key_id_t make_key(psa_ecc_family_t family, size_t bits, psa_key_usage_t usage,
                             psa_algorithm_t alg, psa_status_t *st)
{
    psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
    psa_set_key_type(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(family));
    psa_set_key_bits(&a, bits);
    psa_set_key_usage_flags(&a, usage);
    psa_set_key_algorithm(&a, alg);
    psa_key_id_t id = 0;
    *st = psa_generate_key(&a, &id);
    return id;
}

/* One ECDHE as a TLS 1.3 client does it: an ephemeral key pair, its public key for the
 * ClientHello, the shared secret with the server's share. */
static int ecdhe(psa_ecc_family_t family, size_t bits, const uint8_t *peer, size_t peer_len,
                 uint64_t *instructions)
{
    uint64_t t0 = ticks_now();
    psa_status_t st;
    psa_key_id_t k = make_key(family, bits, PSA_KEY_USAGE_DERIVE, PSA_ALG_ECDH, &st);
    if (st != PSA_SUCCESS) {
        return fail("ECDHE key generation", st);
    }
    uint8_t pub[PSA_EXPORT_PUBLIC_KEY_MAX_SIZE], secret[66];
    size_t pub_len = 0, secret_len = 0;
    st = psa_export_public_key(k, pub, sizeof pub, &pub_len);
    if (st == PSA_SUCCESS) {
        st = psa_raw_key_agreement(PSA_ALG_ECDH, k, peer, peer_len, secret, sizeof secret,
                                   &secret_len);
    }
    psa_destroy_key(k);
    *instructions = instructions_since(t0);
    return st == PSA_SUCCESS ? 0 : fail("ECDHE agreement", st);
}

static int peer_share(psa_ecc_family_t family, size_t bits, uint8_t *pub, size_t cap, size_t *len)
{
    psa_status_t st;
    psa_key_id_t k = make_key(family, bits, PSA_KEY_USAGE_DERIVE, PSA_ALG_ECDH, &st);
    if (st == PSA_SUCCESS) {
        st = psa_export_public_key(k, pub, cap, len);
    }
    psa_destroy_key(k);
    return st == PSA_SUCCESS ? 0 : fail("peer key share", st);
}

typedef struct p256m_cost {
    uint64_t verify, ecdhe;
} p256m_cost;

/* The same verification and ECDHE by p256-m (keys in its raw X||Y form: PSA's 0x04 dropped). */
static int p256m_measure(const uint8_t *signer_pub65, const uint8_t hash[32], const uint8_t sig[64],
                         const uint8_t *peer_pub65, p256m_cost *cost)
{
    uint64_t t0 = ticks_now();
    int rc = p256_ecdsa_verify(sig, signer_pub65 + 1, hash, 32);
    uint64_t v = instructions_since(t0);
    if (rc != P256_SUCCESS) {
        printf("p256-m verify failed: %d\n", rc);
        return 1;
    }
    uint8_t priv[32], pub[64], secret[32];
    t0 = ticks_now();
    rc = p256_gen_keypair(priv, pub);
    if (rc == P256_SUCCESS) {
        rc = p256_ecdh_shared_secret(secret, priv, peer_pub65 + 1);
    }
    uint64_t e = instructions_since(t0);
    if (rc != P256_SUCCESS) {
        printf("p256-m ECDHE failed: %d\n", rc);
        return 1;
    }
    cost->verify = v < cost->verify ? v : cost->verify;
    cost->ecdhe = e < cost->ecdhe ? e : cost->ecdhe;
    return 0;
}

int main(void)
{
    systick_start();
    uint64_t t0 = ticks_now();
    known_loop(CAL_INSTRUCTIONS / 2u);
    cal_ticks = ticks_now() - t0;

    evt_arena_init(arena, sizeof arena);
    /* The board's mbedTLS keeps an NV seed on flash: a RAM NOR model stands in for it. */
    static evt_ram_nor nor;
    if (evt_ram_nor_init(&nor, EVT_MPS2_NV_SEED_SECTORS * 4096u, 4096u) != EVT_OK ||
        evt_mps2_nv_seed_attach(&nor.hal) != EVT_OK ||
        evt_https_platform_init(&bench_sys) != EVT_OK) {
        puts("bench_handshake_mps2: evt_https_platform_init failed");
        return 1;
    }

    /* ECDSA P-256 verification of a SHA-256 hash. */
    psa_status_t st;
    const psa_algorithm_t ecdsa = PSA_ALG_ECDSA(PSA_ALG_SHA_256);
    psa_key_id_t signer = make_key(PSA_ECC_FAMILY_SECP_R1, 256,
                                   PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_VERIFY_HASH, ecdsa, &st);
    if (st != PSA_SUCCESS) {
        return fail("P-256 key generation", st);
    }
    uint8_t hash[32], sig[64];
    memset(hash, 0x5a, sizeof hash);
    size_t sig_len = 0;
    st = psa_sign_hash(signer, ecdsa, hash, sizeof hash, sig, sizeof sig, &sig_len);
    if (st != PSA_SUCCESS) {
        return fail("ECDSA sign", st);
    }
    uint64_t verify = UINT64_MAX, x25519 = UINT64_MAX, p256 = UINT64_MAX;
    uint8_t peer_x[PSA_EXPORT_PUBLIC_KEY_MAX_SIZE], peer_p[PSA_EXPORT_PUBLIC_KEY_MAX_SIZE];
    size_t peer_x_len = 0, peer_p_len = 0;
    if (peer_share(PSA_ECC_FAMILY_MONTGOMERY, 255, peer_x, sizeof peer_x, &peer_x_len) != 0 ||
        peer_share(PSA_ECC_FAMILY_SECP_R1, 256, peer_p, sizeof peer_p, &peer_p_len) != 0) {
        return 1;
    }
    uint8_t signer_pub[PSA_EXPORT_PUBLIC_KEY_MAX_SIZE];
    size_t signer_pub_len = 0;
    if (psa_export_public_key(signer, signer_pub, sizeof signer_pub, &signer_pub_len) !=
            PSA_SUCCESS ||
        signer_pub_len != 65 || peer_p_len != 65) {
        puts("bench_handshake_mps2: unexpected P-256 public key form");
        return 1;
    }
    p256m_cost p256m = {UINT64_MAX, UINT64_MAX};
    for (int r = 0; r < ROUNDS; r++) { /* the least of a few rounds: no warm-up effects */
        uint64_t v0 = ticks_now();
        st = psa_verify_hash(signer, ecdsa, hash, sizeof hash, sig, sig_len);
        uint64_t v = instructions_since(v0);
        if (st != PSA_SUCCESS) {
            return fail("ECDSA verify", st);
        }
        verify = v < verify ? v : verify;
        uint64_t x = 0, p = 0;
        if (ecdhe(PSA_ECC_FAMILY_MONTGOMERY, 255, peer_x, peer_x_len, &x) != 0 ||
            ecdhe(PSA_ECC_FAMILY_SECP_R1, 256, peer_p, peer_p_len, &p) != 0) {
            return 1;
        }
        x25519 = x < x25519 ? x : x25519;
        p256 = p < p256 ? p : p256;
        if (p256m_measure(signer_pub, hash, sig, peer_p, &p256m) != 0) {
            return 1;
        }
    }
    psa_destroy_key(signer);
    printf("Cortex-M3 (QEMU -icount shift=0), instructions, least of %d rounds:\n", ROUNDS);
    printf("  calibration: %u instructions in %lu SysTick ticks (25 MHz)\n", CAL_INSTRUCTIONS,
           (unsigned long)cal_ticks);
    printf("  ECDSA P-256 verify                 %10lu\n", (unsigned long)verify);
    printf("  ECDHE X25519 (keygen + secret)     %10lu\n", (unsigned long)x25519);
    printf("  ECDHE secp256r1 (keygen + secret)  %10lu\n", (unsigned long)p256);
    printf("  p256-m ECDSA P-256 verify          %10lu\n", (unsigned long)p256m.verify);
    printf("  p256-m ECDHE secp256r1             %10lu\n", (unsigned long)p256m.ecdhe);
    printf("  full handshake, X25519:  2 verifies + ECDHE = %lu\n",
           (unsigned long)(2 * verify + x25519));
    printf("  full handshake, P-256 (the terminal's first group): 2 verifies + ECDHE = %lu\n",
           (unsigned long)(2 * verify + p256));
    printf("  full handshake, P-256 by p256-m: 2 verifies + ECDHE = %lu\n",
           (unsigned long)(2 * p256m.verify + p256m.ecdhe));
    printf("  resumed handshake (psk_dhe_ke), P-256: ECDHE = %lu (X25519: %lu, p256-m: %lu)\n",
           (unsigned long)p256, (unsigned long)x25519, (unsigned long)p256m.ecdhe);
    fflush(stdout);
    return 0;
}
