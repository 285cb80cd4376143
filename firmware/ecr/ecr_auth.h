/*
 * ECR link authentication (internal to evt_ecr): an HMAC-SHA256 on every line, keyed with the
 * pairing key both sides were provisioned with, bound to the connection's session and to the
 * direction, with a sequence number against replay. The wire format is in docs/ecr-link.md:
 *
 *   signed text   S = one JSON object on one line, ending with '}'
 *   on the wire       S without its final '}' + ,"mac":"<64 lowercase hex>"}
 *   mac             = HMAC-SHA256(key, "EVT-ECR-2\n" + dir + "\n" + session + "\n" + S)
 *
 * dir is 'P' for what the POS sends and 'T' for what the terminal sends; session is the
 * terminal's challenge (hex) for the POS's auth line, then challenge + the POS's nonce.
 */
#ifndef EVT_ECR_AUTH_H
#define EVT_ECR_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ECR_AUTH_KEY_BYTES 32
#define ECR_AUTH_MAC_HEX   64
/* ,"mac":"<64 hex>"} */
#define ECR_AUTH_SUFFIX_LEN (8 + ECR_AUTH_MAC_HEX + 2)

/* MAC of the signed text text[0..len) (which must end with '}'), as lowercase hex + NUL.
 * false when the crypto library fails (then out is empty). */
bool evt_ecr_auth_mac(const uint8_t key[ECR_AUTH_KEY_BYTES], char dir, const char *session,
                      const uint8_t *text, size_t len, char out[ECR_AUTH_MAC_HEX + 1]);

/*
 * Checks a received line in place: it must end with the mac member, and the mac must be the
 * one of the signed text. On success the line's buffer holds the signed text S, NUL-terminated
 * (*signed_len its length). Comparison in constant time.
 */
bool evt_ecr_auth_open_line(const uint8_t key[ECR_AUTH_KEY_BYTES], char dir, const char *session,
                            uint8_t *line, size_t len, size_t *signed_len);

#endif /* EVT_ECR_AUTH_H */
