/*
 * pin-hash: turns a supervisor PIN into the line a terminal's provisioning file stores
 * (docs/provisioning.md, supervisor_pin), so the PIN itself is never written anywhere:
 *
 *   printf '%s\n' 246810 | pin-hash [--iterations N]
 *   supervisor_pin = pbkdf2-sha256$20000$<salt hex>$<hash hex>
 *
 * The part after "supervisor_pin = " is also the last field of an operator_N line (a cashier's
 * or a supervisor's own PIN).
 *
 * The PIN is read from stdin (a command-line argument would show in the process list). The
 * salt is 16 random bytes from GnuTLS; the hash is PBKDF2-HMAC-SHA256, GnuTLS's — the
 * terminal checks it with mbedTLS, an independent implementation of the same standard.
 * Exit 0 ok, 2 usage or a PIN that is not 4-12 digits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

/* About 20 ms on a PC and a fraction of a second on a Cortex-M4: each guess costs as much. */
#define DEFAULT_ITERATIONS 20000

static void hex(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        printf("%02x", b[i]);
    }
}

int main(int argc, char **argv)
{
    long iterations = DEFAULT_ITERATIONS;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
            char *end = NULL;
            iterations = strtol(argv[++i], &end, 10);
            if (*end != '\0' || iterations < 1000 || iterations > 1000000) {
                fprintf(stderr, "pin-hash: --iterations must be 1000..1000000\n");
                return 2;
            }
        } else {
            fprintf(stderr, "usage: printf '%%s\\n' PIN | pin-hash [--iterations N]\n");
            return 2;
        }
    }
    char pin[64];
    if (fgets(pin, sizeof pin, stdin) == NULL) {
        fprintf(stderr, "pin-hash: no PIN on stdin\n");
        return 2;
    }
    size_t n = strcspn(pin, "\r\n");
    pin[n] = '\0';
    if (n < 4 || n > 12 || strspn(pin, "0123456789") != n) {
        fprintf(stderr, "pin-hash: a PIN is 4 to 12 digits\n");
        return 2;
    }
    unsigned char salt[16], hash[32];
    if (gnutls_rnd(GNUTLS_RND_KEY, salt, sizeof salt) != 0) {
        fprintf(stderr, "pin-hash: no randomness\n");
        return 1;
    }
    gnutls_datum_t key = {(unsigned char *)pin, (unsigned)n};
    gnutls_datum_t s = {salt, sizeof salt};
    if (gnutls_pbkdf2(GNUTLS_MAC_SHA256, &key, &s, (unsigned)iterations, hash, sizeof hash) != 0) {
        fprintf(stderr, "pin-hash: PBKDF2 failed\n");
        return 1;
    }
    memset(pin, 0, sizeof pin);
    printf("supervisor_pin = pbkdf2-sha256$%ld$", iterations);
    hex(salt, sizeof salt);
    printf("$");
    hex(hash, sizeof hash);
    printf("\n");
    return 0;
}
