/* ECR link authentication: see ecr_auth.h. */
#include "ecr_auth.h"

#include <string.h>

#include <mbedtls/md.h>

#define MAC_DOMAIN "EVT-ECR-2\n"

bool evt_ecr_auth_mac(const uint8_t key[ECR_AUTH_KEY_BYTES], char dir, const char *session,
                      const uint8_t *text, size_t len, char out[ECR_AUTH_MAC_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    out[0] = '\0';
    const mbedtls_md_info_t *sha256 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    mbedtls_md_context_t md;
    mbedtls_md_init(&md);
    const char head[2] = {dir, '\n'};
    uint8_t mac[32];
    int rc = mbedtls_md_setup(&md, sha256, 1);
    rc = rc != 0 ? rc : mbedtls_md_hmac_starts(&md, key, ECR_AUTH_KEY_BYTES);
    rc =
        rc != 0 ? rc : mbedtls_md_hmac_update(&md, (const uint8_t *)MAC_DOMAIN, strlen(MAC_DOMAIN));
    rc = rc != 0 ? rc : mbedtls_md_hmac_update(&md, (const uint8_t *)head, sizeof head);
    rc = rc != 0 ? rc : mbedtls_md_hmac_update(&md, (const uint8_t *)session, strlen(session));
    rc = rc != 0 ? rc : mbedtls_md_hmac_update(&md, (const uint8_t *)"\n", 1);
    rc = rc != 0 ? rc : mbedtls_md_hmac_update(&md, text, len);
    rc = rc != 0 ? rc : mbedtls_md_hmac_finish(&md, mac);
    mbedtls_md_free(&md);
    if (rc != 0) {
        return false;
    }
    for (size_t i = 0; i < sizeof mac; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 0x0F];
    }
    out[ECR_AUTH_MAC_HEX] = '\0';
    return true;
}

static bool lower_hex(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

bool evt_ecr_auth_open_line(const uint8_t key[ECR_AUTH_KEY_BYTES], char dir, const char *session,
                            uint8_t *line, size_t len, size_t *signed_len)
{
    static const char prefix[] = ",\"mac\":\"";
    const size_t plen = sizeof prefix - 1;
    if (len < ECR_AUTH_SUFFIX_LEN + 1) {
        return false;
    }
    size_t cut = len - ECR_AUTH_SUFFIX_LEN;
    uint8_t *suffix = line + cut;
    if (memcmp(suffix, prefix, plen) != 0 || !lower_hex(suffix + plen, ECR_AUTH_MAC_HEX) ||
        suffix[plen + ECR_AUTH_MAC_HEX] != '"' || suffix[plen + ECR_AUTH_MAC_HEX + 1] != '}') {
        return false;
    }
    char got[ECR_AUTH_MAC_HEX];
    memcpy(got, suffix + plen, sizeof got);
    /* The signed text is the line up to the mac member, closed again with '}'. */
    line[cut] = '}';
    char want[ECR_AUTH_MAC_HEX + 1];
    if (!evt_ecr_auth_mac(key, dir, session, line, cut + 1, want)) {
        return false;
    }
    /* Constant time: the comparison must not tell a stranger how much of a guess was right. */
    uint8_t diff = 0;
    for (size_t i = 0; i < ECR_AUTH_MAC_HEX; i++) {
        diff |= (uint8_t)(got[i] ^ want[i]);
    }
    if (diff != 0) {
        return false;
    }
    line[cut + 1] = '\0';
    *signed_len = cut + 1;
    return true;
}
