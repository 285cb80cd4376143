/* evt_mask: masking of names and ID numbers, and the strict UTF-8 decoder both rely on. */
#include "evt/mask.h"

#include <string.h>

/* Length in bytes of the UTF-8 sequence at s (at most avail bytes), 0 if it is invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned long cp;
    if (c == 0) {
        return 0;
    }
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07u;
    } else {
        return 0; /* continuation byte, overlong 2-byte lead, or beyond U+10FFFF */
    }
    if (n > avail) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0u) != 0x80u) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    /* Overlong forms would let the same text have two spellings; surrogates are not
     * characters. Both are refused so a masked name can never hide extra bytes. */
    if ((n == 3 && cp < 0x800u) || (n == 4 && cp < 0x10000u) || cp > 0x10FFFFu ||
        (cp >= 0xD800u && cp <= 0xDFFFu)) {
        return 0;
    }
    return n;
}

bool evt_mask_utf8_valid(const char *s, size_t len, size_t *chars)
{
    if (s == NULL && len > 0) {
        return false;
    }
    const unsigned char *p = (const unsigned char *)s;
    size_t count = 0;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_seq_len(p + i, len - i);
        if (n == 0) {
            return false;
        }
        i += n;
        count++;
    }
    if (chars != NULL) {
        *chars = count;
    }
    return true;
}

/* Appends len bytes; on overflow the output is emptied so nothing half-masked escapes. */
static bool put(char *out, size_t cap, size_t *pos, const char *src, size_t len)
{
    if (*pos + len + 1 > cap) {
        out[0] = '\0';
        return false;
    }
    memcpy(out + *pos, src, len);
    *pos += len;
    out[*pos] = '\0';
    return true;
}

static evt_err put_stars(char *out, size_t cap, size_t *pos, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (!put(out, cap, pos, "*", 1)) {
            return EVT_ERR_OVERFLOW;
        }
    }
    return EVT_OK;
}

/*
 * Keeps the first `head` and last `tail` characters of text and stars the rest. When the
 * text has `all_stars_upto` characters or fewer, every character is starred.
 */
static evt_err mask_keep(const char *text, size_t head, size_t tail, size_t all_stars_upto,
                         char *out, size_t cap)
{
    if (text == NULL || out == NULL || cap == 0) {
        return EVT_ERR_ARG;
    }
    out[0] = '\0';
    size_t len = strlen(text);
    size_t chars = 0;
    size_t pos = 0;
    if (!evt_mask_utf8_valid(text, len, &chars)) {
        return put(out, cap, &pos, "***", 3) ? EVT_OK : EVT_ERR_OVERFLOW;
    }
    if (chars <= all_stars_upto) {
        return put_stars(out, cap, &pos, chars);
    }
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0;
    for (size_t c = 0; c < chars; c++) {
        size_t n = utf8_seq_len(p + i, len - i);
        bool keep = c < head || c >= chars - tail;
        if (keep ? !put(out, cap, &pos, text + i, n) : !put(out, cap, &pos, "*", 1)) {
            return EVT_ERR_OVERFLOW;
        }
        i += n;
    }
    return EVT_OK;
}

evt_err evt_mask_name(const char *name, char *out, size_t cap)
{
    if (name == NULL || out == NULL || cap == 0) {
        return EVT_ERR_ARG;
    }
    size_t chars = 0;
    if (evt_mask_utf8_valid(name, strlen(name), &chars) && chars == 2) {
        /* Two characters: showing both ends would show the whole name. */
        return mask_keep(name, 1, 0, 1, out, cap);
    }
    return mask_keep(name, 1, 1, 1, out, cap);
}

evt_err evt_mask_id(const char *id, char *out, size_t cap)
{
    return mask_keep(id, 4, 4, 8, out, cap);
}
