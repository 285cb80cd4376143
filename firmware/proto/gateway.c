/* Gateway headers (x-tif-*): nonce from caller entropy, SHA-256 signature via mbedTLS. */
#include "evt/proto.h"

#include <string.h>

#include <mbedtls/sha256.h>

static void to_hex(const uint8_t *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0x0Fu];
    }
    out[2 * n] = '\0';
}

/* Decimal text of a positive int64 (newlib-nano's printf lacks %lld). */
static void put_decimal(int64_t value, char *out)
{
    char digits[21];
    size_t n = 0;
    uint64_t v = (uint64_t)value;
    do {
        digits[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0);
    size_t w = 0;
    while (n > 0) {
        out[w++] = digits[--n];
    }
    out[w] = '\0';
}

static bool header_safe(const char *s)
{
    /* Visible ASCII only: anything else could break the header line or smuggle another. */
    for (; *s != '\0'; s++) {
        if (*s < 0x21 || *s > 0x7E) {
            return false;
        }
    }
    return true;
}

evt_err evt_proto_gateway_sign(const evt_proto_identity *id, int64_t unix_seconds,
                               const uint8_t entropy[16], evt_proto_gateway *out)
{
    if (id == NULL || entropy == NULL || out == NULL || unix_seconds <= 0) {
        return EVT_ERR_ARG;
    }
    memset(out, 0, sizeof *out);
    const char *paas_id = id->paas_id != NULL ? id->paas_id : "";
    const char *token = id->paas_token != NULL ? id->paas_token : "";
    if (paas_id[0] == '\0' || token[0] == '\0') {
        return EVT_ERR_CONFIG_MISSING;
    }
    if (strlen(paas_id) >= sizeof out->paasid || !header_safe(paas_id)) {
        return EVT_ERR_CONFIG_INVALID;
    }
    memcpy(out->paasid, paas_id, strlen(paas_id) + 1);
    put_decimal(unix_seconds, out->timestamp);
    to_hex(entropy, 16, out->nonce);

    /* Hashed piecewise: no buffer holding the secret token is ever assembled. */
    uint8_t digest[32];
    mbedtls_sha256_context ctx;
    mbedtls_sha256_init(&ctx);
    size_t ts_len = strlen(out->timestamp);
    int rc = mbedtls_sha256_starts(&ctx, 0);
    if (rc == 0) {
        rc = mbedtls_sha256_update(&ctx, (const uint8_t *)out->timestamp, ts_len);
    }
    if (rc == 0) {
        rc = mbedtls_sha256_update(&ctx, (const uint8_t *)token, strlen(token));
    }
    if (rc == 0) {
        rc = mbedtls_sha256_update(&ctx, (const uint8_t *)out->nonce, 32);
    }
    if (rc == 0) {
        rc = mbedtls_sha256_update(&ctx, (const uint8_t *)out->timestamp, ts_len);
    }
    if (rc == 0) {
        rc = mbedtls_sha256_finish(&ctx, digest);
    }
    mbedtls_sha256_free(&ctx);
    if (rc != 0) {
        memset(out, 0, sizeof *out);
        return EVT_ERR_INTERNAL;
    }
    to_hex(digest, sizeof digest, out->signature);
    return EVT_OK;
}
