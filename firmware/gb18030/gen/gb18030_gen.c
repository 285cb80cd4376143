/*
 * Build-time generator of the firmware's UTF-8 -> GB18030 table, run on the build host.
 *
 * The mapping is taken from glibc's iconv ("GB18030") rather than typed in, so the firmware
 * prints exactly what a Linux host would encode and nobody has to review 24 000 hand-made
 * pairs. The output is a C source in the build directory (never committed), in the compact
 * layout firmware/gb18030/gb18030_table.h describes (about 20 KB instead of 97 KB):
 *   - the dense block of CJK ideographs: a bitmap of those with a GB2312 code, those codes,
 *     and runs for the others (GBK/3 and GBK/4, in code-point order);
 *   - runs of the other two-byte code points;
 *   - runs of the BMP code points GB18030 encodes in four bytes (GB18030's own range
 *     arithmetic), so a few hundred entries cover ~40 000 code points.
 * One-byte (ASCII) and supplementary-plane code points are algorithmic; the generator checks
 * that iconv agrees with that arithmetic and fails the build if it does not. Any mapping
 * iconv produces is represented exactly (runs of one are allowed); the layout only decides
 * how small it is. tests/unit/test_gb18030.c compares every BMP code point with iconv.
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

/* The CJK Unified Ideographs that GBK (and so GB18030) encodes in two bytes. */
#define DENSE_FIRST 0x4E00u
#define DENSE_LAST  0x9FA5u
#define DENSE_COUNT (DENSE_LAST - DENSE_FIRST + 1u)

static unsigned two_byte_linear(uint16_t gb)
{
    unsigned trail = gb & 0xFFu;
    return ((gb >> 8) - 0x81u) * 190u + (trail - 0x40u) - (trail > 0x7Fu ? 1u : 0u);
}

static int in_gb2312(uint16_t gb)
{
    unsigned lead = gb >> 8, trail = gb & 0xFFu;
    return lead >= 0xA1u && lead <= 0xF7u && trail >= 0xA1u && trail <= 0xFEu;
}

typedef struct run {
    unsigned first, count, linear;
} run;

/* Appends key -> linear to the runs, extending the last run when both are consecutive. */
static size_t add_to_runs(run *runs, size_t n, unsigned key, unsigned linear)
{
    if (n > 0 && runs[n - 1].first + runs[n - 1].count == key &&
        runs[n - 1].linear + runs[n - 1].count == linear) {
        runs[n - 1].count++;
        return n;
    }
    runs[n].first = key;
    runs[n].count = 1;
    runs[n].linear = linear;
    return n + 1;
}

static void print_runs(FILE *f, const char *name, const char *count_name, const run *runs, size_t n)
{
    fprintf(f, "const evt_gb18030_run %s[%zu] = {\n", name, n);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "{0x%04X,%u,%u},%s", runs[i].first, runs[i].count, runs[i].linear,
                (i % 5 == 4) ? "\n" : "");
    }
    fprintf(f, "\n};\nconst size_t %s = %zu;\n\n", count_name, n);
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

    /* Split the two-byte pairs into the dense block and the runs outside it. */
    static run runs[0x10000], dense_runs[DENSE_COUNT];
    static uint32_t dense_bits[(DENSE_COUNT + 31u) / 32u];
    static uint16_t dense_codes[DENSE_COUNT];
    size_t run_count = 0, dense_run_count = 0, dense_code_count = 0, dense_seen = 0;
    unsigned other_rank = 0;
    for (size_t i = 0; i < pairs; i++) {
        unsigned cp = pair_ucs[i];
        if (cp < DENSE_FIRST || cp > DENSE_LAST) {
            run_count = add_to_runs(runs, run_count, cp, two_byte_linear(pair_gb[i]));
            continue;
        }
        dense_seen++;
        unsigned bit = cp - DENSE_FIRST;
        if (in_gb2312(pair_gb[i])) {
            dense_bits[bit / 32u] |= UINT32_C(1) << (bit % 32u);
            dense_codes[dense_code_count++] = pair_gb[i];
        } else {
            dense_run_count =
                add_to_runs(dense_runs, dense_run_count, other_rank++, two_byte_linear(pair_gb[i]));
        }
    }
    if (dense_seen != DENSE_COUNT) {
        fprintf(stderr, "gb18030_gen: only %zu of the %u ideographs U+4E00..U+9FA5 are two-byte\n",
                dense_seen, DENSE_COUNT);
        return 1;
    }

    FILE *f = fopen(argv[1], "w");
    if (f == NULL) {
        fprintf(stderr, "gb18030_gen: cannot write %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    fprintf(f, "/* Generated at build time by firmware/gb18030/gen/gb18030_gen.c from the host's\n"
               " * iconv GB18030 converter. Do not edit, do not commit. */\n"
               "#include \"gb18030_table.h\"\n\n");
    fprintf(f, "/* %zu two-byte code points outside the dense block, as runs. */\n",
            pairs - dense_seen);
    print_runs(f, "evt_gb18030_runs", "evt_gb18030_run_count", runs, run_count);

    fprintf(f, "const uint16_t evt_gb18030_dense_first = 0x%04X;\n", DENSE_FIRST);
    fprintf(f, "const uint16_t evt_gb18030_dense_count = %u;\n", DENSE_COUNT);
    size_t words = (DENSE_COUNT + 31u) / 32u;
    fprintf(f, "const uint32_t evt_gb18030_dense_bits[%zu] = {\n", words);
    for (size_t w = 0; w < words; w++) {
        fprintf(f, "0x%08X,%s", (unsigned)dense_bits[w], (w % 8 == 7) ? "\n" : "");
    }
    size_t blocks = (words + 7u) / 8u;
    fprintf(f, "\n};\nconst uint16_t evt_gb18030_dense_rank[%zu] = {\n", blocks);
    unsigned before = 0;
    for (size_t w = 0; w < words; w++) {
        if (w % 8u == 0) {
            fprintf(f, "%u,%s", before, (w / 8u % 12u == 11u) ? "\n" : "");
        }
        for (uint32_t v = dense_bits[w]; v != 0; v &= v - 1u) {
            before++;
        }
    }
    fprintf(f, "\n};\n/* %zu ideographs with a GB2312 code. */\n", dense_code_count);
    fprintf(f, "const uint16_t evt_gb18030_dense_codes[%zu] = {\n", dense_code_count);
    for (size_t i = 0; i < dense_code_count; i++) {
        fprintf(f, "0x%04X,%s", dense_codes[i], (i % 12 == 11) ? "\n" : "");
    }
    fprintf(f, "\n};\n/* The other %u ideographs, by rank. */\n", other_rank);
    print_runs(f, "evt_gb18030_dense_runs", "evt_gb18030_dense_run_count", dense_runs,
               dense_run_count);

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
    fprintf(stderr,
            "gb18030_gen: %zu two-byte code points (%zu runs; dense block: %zu codes, %zu runs), "
            "%zu four-byte ranges, %zu unmappable\n",
            pairs, run_count, dense_code_count, dense_run_count, ranges, unmappable);
    return 0;
}
