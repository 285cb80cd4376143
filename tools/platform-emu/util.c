/* Small helpers: identity-number check, time text, digests, randomness. */
#include "emu.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool emu_digits(const char *s, size_t len)
{
    if (s == NULL || strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static bool valid_date(int y, int m, int d)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1900 || y > 2199 || m < 1 || m > 12 || d < 1)
        return false;
    int max = days[m - 1] + (m == 2 && leap(y) ? 1 : 0);
    return d <= max;
}

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

bool emu_certno_valid(const char *c)
{
    static const int weight[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static const char check[] = "10X98765432";
    if (c == NULL || strlen(c) != 18)
        return false;
    int sum = 0;
    for (int i = 0; i < 17; i++) {
        if (c[i] < '0' || c[i] > '9')
            return false;
        sum += (c[i] - '0') * weight[i];
    }
    if (!valid_date(num(c + 6, 4), num(c + 10, 2), num(c + 12, 2)))
        return false;
    return c[17] == check[sum % 11];
}

void emu_time_text(time_t t, char out[20])
{
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm);
}

void emu_time_compact(time_t t, char out[15])
{
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, 15, "%Y%m%d%H%M%S", &tm);
}

static bool valid_hms(int h, int mi, int s)
{
    return h >= 0 && h <= 23 && mi >= 0 && mi <= 59 && s >= 0 && s <= 59;
}

bool emu_time_text_valid(const char *s)
{
    if (s == NULL || strlen(s) != 19)
        return false;
    static const char shape[] = "dddd-dd-dd dd:dd:dd";
    for (int i = 0; i < 19; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return false;
    }
    return valid_date(num(s, 4), num(s + 5, 2), num(s + 8, 2)) &&
           valid_hms(num(s + 11, 2), num(s + 14, 2), num(s + 17, 2));
}

bool emu_time_compact_valid(const char *s, size_t len)
{
    if (len != 14)
        return false;
    for (size_t i = 0; i < 14; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return valid_date(num(s, 4), num(s + 4, 2), num(s + 6, 2)) &&
           valid_hms(num(s + 8, 2), num(s + 10, 2), num(s + 12, 2));
}

void emu_sha256_hex(const char *s, size_t len, char out[65])
{
    unsigned char d[32];
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, s, len, d) != 0) {
        /* cannot happen with a working GnuTLS; never return a digest that could match */
        fprintf(stderr, "platform-emu: SHA-256 unavailable\n");
        abort();
    }
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void random_bytes(unsigned char *b, size_t n)
{
    if (gnutls_rnd(GNUTLS_RND_RANDOM, b, n) != 0) {
        fprintf(stderr, "platform-emu: no randomness\n");
        abort();
    }
}

void emu_random_base32(char *out, size_t chars)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char b[64];
    random_bytes(b, chars);
    for (size_t i = 0; i < chars; i++)
        out[i] = alphabet[b[i] & 31];
    out[chars] = '\0';
}

void emu_random_hex(char *out, size_t chars)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[64];
    random_bytes(b, chars);
    for (size_t i = 0; i < chars; i++)
        out[i] = hex[b[i] & 15];
    out[chars] = '\0';
}

void emu_code_check(const char *region_and_random, char out[17])
{
    /* Not a secret MAC — the platform itself is the only verifier; the check part just lets
     * the emulator tell a mistyped or truncated code from an unknown one. */
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char d[32];
    gnutls_hash_fast(GNUTLS_DIG_SHA256, region_and_random, strlen(region_and_random), d);
    for (int i = 0; i < 16; i++)
        out[i] = alphabet[d[i] & 31];
    out[16] = '\0';
}
