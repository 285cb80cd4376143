/*
 * Build-time generator of the firmware's UTF-8 -> GB18030 table, run on the build host.
 *
 * The mapping is taken from glibc's iconv ("GB18030") rather than typed in, so the firmware
 * prints exactly what a Linux host would encode and nobody has to review 24 000 hand-made
 * pairs. The output is a C source in the build directory (never committed):
 *   - evt_gb18030_pairs: sorted (unicode, gb) pairs of every BMP code point that GB18030
 *     encodes in two bytes;
 *   - evt_gb18030_ranges: the BMP code points GB18030 encodes in four bytes, as runs of
 *     consecutive code points with consecutive four-byte "linear" indices (GB18030's own
 *     range arithmetic), so a few hundred entries cover ~40 000 code points.
 * One-byte (ASCII) and supplementary-plane code points are algorithmic; the generator checks
 * that iconv agrees with that arithmetic and fails the build if it does not.
 *
 * Usage: gb18030_gen OUT.c
 */
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GB18030 four-byte sequences b0 b1 b2 b3 (b0,b2 in 0x81..0xFE; b1,b3 in 0x30..0x39) counted
 * from 0x81308130 = 0. */
static uint32_t four_byte_linear(const unsigned char *b)
{
    return (((uint32_t)(b[0] - 0x81) * 10u + (uint32_t)(b[1] - 0x30)) * 126u +
            (uint32_t)(b[2] - 0x81)) *
               10u +
           (uint32_t)(b[3] - 0x30);
}

/* Linear index of U+10000 (the sequence 0x90308130). */
#define SUPPLEMENTARY_LINEAR_BASE 0x2E248u

/* Returns the number of GB18030 bytes for cp (0 when iconv cannot encode it). */
static size_t encode_with_iconv(iconv_t cd, uint32_t cp, unsigned char out[8])
{
    unsigned char in[4] = {(unsigned char)(cp & 0xFF), (unsigned char)((cp >> 8) & 0xFF),
                           (unsigned char)((cp >> 16) & 0xFF), (unsigned char)(cp >> 24)};
    char *inp = (char *)in;
    char *outp = (char *)out;
    size_t inleft = sizeof in, outleft = 8;
    iconv(cd, NULL, NULL, NULL, NULL);
    if (iconv(cd, &inp, &inleft, &outp, &outleft) == (size_t)-1) {
        return 0;
    }
    /* Flush any shift state (GB18030 has none, but be exact). */
    if (iconv(cd, NULL, NULL, &outp, &outleft) == (size_t)-1) {
        return 0;
    }
    return 8 - outleft;
}

static int valid_four_byte(const unsigned char *b)
{
    return b[0] >= 0x81 && b[0] <= 0xFE && b[1] >= 0x30 && b[1] <= 0x39 && b[2] >= 0x81 &&
           b[2] <= 0xFE && b[3] >= 0x30 && b[3] <= 0x39;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT.c\n", argv[0]);
        return 2;
    }
    iconv_t cd = iconv_open("GB18030", "UTF-32LE");
    if (cd == (iconv_t)-1) {
        fprintf(stderr, "gb18030_gen: iconv has no GB18030 converter: %s\n", strerror(errno));
        return 1;
    }

    static uint16_t pair_ucs[0x10000], pair_gb[0x10000];
    static uint32_t range_first[0x10000], range_last[0x10000], range_linear[0x10000];
    size_t pairs = 0, ranges = 0, unmappable = 0;

    for (uint32_t cp = 0; cp <= 0xFFFF; cp++) {
        unsigned char out[8];
        size_t n = encode_with_iconv(cd, cp, out);
        if (n == 0) {
            unmappable++; /* surrogates: the firmware prints '?' */
            continue;
        }
        if (n == 1) {
            if (cp >= 0x80 || out[0] != cp) {
                fprintf(stderr, "gb18030_gen: U+%04X is one byte 0x%02X, expected ASCII\n",
                        (unsigned)cp, out[0]);
                return 1;
            }
            continue;
        }
        if (n == 2) {
            pair_ucs[pairs] = (uint16_t)cp;
            pair_gb[pairs] = (uint16_t)((out[0] << 8) | out[1]);
            pairs++;
            continue;
        }
        if (n != 4 || !valid_four_byte(out)) {
            fprintf(stderr, "gb18030_gen: U+%04X has an unexpected %zu-byte form\n", (unsigned)cp,
                    n);
            return 1;
        }
        uint32_t linear = four_byte_linear(out);
        if (ranges > 0 && range_last[ranges - 1] + 1 == cp &&
            range_linear[ranges - 1] + (cp - range_first[ranges - 1]) == linear) {
            range_last[ranges - 1] = cp;
        } else {
            range_first[ranges] = cp;
            range_last[ranges] = cp;
            range_linear[ranges] = linear;
            ranges++;
        }
    }

    /* The firmware computes supplementary planes; make sure iconv agrees at the edges and on
     * a spread of code points in between. */
    for (uint32_t cp = 0x10000; cp <= 0x10FFFF; cp += (cp < 0x10FF00 ? 0x3FB : 1)) {
        unsigned char out[8];
        size_t n = encode_with_iconv(cd, cp, out);
        if (n != 4 || !valid_four_byte(out) ||
            four_byte_linear(out) != SUPPLEMENTARY_LINEAR_BASE + (cp - 0x10000)) {
            fprintf(stderr, "gb18030_gen: U+%X does not follow the supplementary arithmetic\n",
                    (unsigned)cp);
            return 1;
        }
    }
    iconv_close(cd);

    FILE *f = fopen(argv[1], "w");
    if (f == NULL) {
        fprintf(stderr, "gb18030_gen: cannot write %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    fprintf(f, "/* Generated at build time by firmware/gb18030/gen/gb18030_gen.c from the host's\n"
               " * iconv GB18030 converter. Do not edit, do not commit. */\n"
               "#include \"gb18030_table.h\"\n\n");
    fprintf(f, "/* %zu BMP code points encoded in two bytes, sorted by code point. */\n", pairs);
    fprintf(f, "const evt_gb18030_pair evt_gb18030_pairs[%zu] = {\n", pairs);
    for (size_t i = 0; i < pairs; i++) {
        fprintf(f, "{0x%04X,0x%04X},%s", pair_ucs[i], pair_gb[i], (i % 6 == 5) ? "\n" : "");
    }
    fprintf(f, "\n};\nconst size_t evt_gb18030_pair_count = %zu;\n\n", pairs);
    fprintf(f,
            "/* BMP code points encoded in four bytes: runs with consecutive linear indices. */\n");
    fprintf(f, "const evt_gb18030_range evt_gb18030_ranges[%zu] = {\n", ranges);
    for (size_t i = 0; i < ranges; i++) {
        fprintf(f, "{0x%04X,0x%04X,0x%05X},%s", (unsigned)range_first[i], (unsigned)range_last[i],
                (unsigned)range_linear[i], (i % 4 == 3) ? "\n" : "");
    }
    fprintf(f, "\n};\nconst size_t evt_gb18030_range_count = %zu;\n", ranges);
    if (fclose(f) != 0) {
        fprintf(stderr, "gb18030_gen: write error on %s\n", argv[1]);
        return 1;
    }
    fprintf(stderr, "gb18030_gen: %zu two-byte pairs, %zu four-byte ranges, %zu unmappable\n",
            pairs, ranges, unmappable);
    return 0;
}
