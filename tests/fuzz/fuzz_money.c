/*
 * Fuzz target: amounts (evt_money, include/evt/money.h).
 *
 * - the input as amount text: evt_money_parse must accept exactly what the grammar of
 *   docs/money-and-json.md accepts (reference in fuzz_support.c), with the same fen;
 * - any text it accepts formats back to a text that parses to the same fen;
 * - the first 8 input bytes as an int64 fen: formatting gives the canonical text
 *   (-?digits.dd), which parses back to exactly that fen when it fits 16,2 and is refused when
 *   it does not; a buffer one byte too small gives 0 and "";
 * - through the JSON layer: evt_json_add_money, evt_json_print, evt_json_parse and
 *   evt_json_get_money give back the same fen.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evt/json.h"
#include "evt/money.h"
#include "fuzz_support.h"

static void check_text(const uint8_t *data, size_t len)
{
    evt_fen fen = 7;
    bool present = true;
    evt_err err = evt_money_parse((const char *)data, len, &fen, &present);
    int64_t ref = 0;
    bool ref_present = false;
    bool ok = fuzz_ref_money(data, len, &ref, &ref_present);
    FUZZ_CHECK((err == EVT_OK) == ok, "parse %s, the documented grammar says %s", evt_err_name(err),
               ok ? "valid" : "invalid");
    FUZZ_CHECK(err == EVT_OK || err == EVT_ERR_MONEY_INVALID, "parse %s", evt_err_name(err));
    FUZZ_CHECK(fen == ref && present == ref_present, "parsed %lld (present %d), want %lld",
               (long long)fen, present, (long long)ref);
    if (err != EVT_OK || !present) {
        return;
    }
    FUZZ_CHECK(evt_money_in_range(fen), "accepted %lld beyond 16,2", (long long)fen);
    char text[EVT_MONEY_TEXT_BYTES];
    size_t n = evt_money_format(fen, text, sizeof text);
    evt_fen back = 0;
    FUZZ_CHECK(n > 0 && evt_money_parse(text, n, &back, &present) == EVT_OK && back == fen,
               "%lld formats as \"%s\", which does not parse back", (long long)fen, text);
}

/* -?(0|[1-9][0-9]*)\.[0-9]{2} */
static bool canonical(const char *t, size_t n)
{
    size_t i = t[0] == '-' ? 1 : 0;
    size_t int_start = i;
    while (i < n && t[i] >= '0' && t[i] <= '9') {
        i++;
    }
    size_t int_len = i - int_start;
    return int_len >= 1 && !(int_len > 1 && t[int_start] == '0') && n - i == 3 && t[i] == '.' &&
           t[i + 1] >= '0' && t[i + 1] <= '9' && t[i + 2] >= '0' && t[i + 2] <= '9';
}

static void check_fen(evt_fen fen)
{
    char text[EVT_MONEY_TEXT_BYTES];
    size_t n = evt_money_format(fen, text, sizeof text);
    FUZZ_CHECK(n > 0 && n == strlen(text) && canonical(text, n), "%lld formats as \"%s\"",
               (long long)fen, text);
    /* The text is the value: digits without the point, read back as an unsigned magnitude. */
    uint64_t magnitude = 0;
    for (size_t i = text[0] == '-' ? 1 : 0; i < n; i++) {
        if (text[i] != '.') {
            magnitude = magnitude * 10u + (uint64_t)(text[i] - '0');
        }
    }
    uint64_t want = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;
    FUZZ_CHECK(magnitude == want && (text[0] == '-') == (fen < 0), "%lld formats as \"%s\"",
               (long long)fen, text);

    evt_fen back = 0;
    bool present = false;
    evt_err err = evt_money_parse(text, n, &back, &present);
    if (evt_money_in_range(fen)) {
        FUZZ_CHECK(err == EVT_OK && present && back == fen, "\"%s\" parses to %lld, not %lld", text,
                   (long long)back, (long long)fen);
    } else {
        FUZZ_CHECK(err == EVT_ERR_MONEY_INVALID, "\"%s\" beyond 16,2 accepted", text);
    }

    /* Exactly n + 1 bytes suffice, n do not (and leave ""). */
    char *exact = malloc(n + 1);
    FUZZ_CHECK(exact != NULL, "host out of memory");
    FUZZ_CHECK(evt_money_format(fen, exact, n + 1) == n && strcmp(exact, text) == 0,
               "format into %zu bytes", n + 1);
    FUZZ_CHECK(evt_money_format(fen, exact, n) == 0 && exact[0] == '\0', "format into %zu bytes",
               n);
    free(exact);
}

static void check_json_round_trip(evt_fen fen)
{
    cJSON *obj = NULL;
    FUZZ_CHECK(evt_json_new_object(&obj) == EVT_OK, "new object");
    evt_err err = evt_json_add_money(obj, "amt", fen);
    if (!evt_money_in_range(fen)) {
        FUZZ_CHECK(err == EVT_ERR_ARG, "add_money beyond 16,2: %s", evt_err_name(err));
        evt_json_free(obj);
        return;
    }
    FUZZ_CHECK(err == EVT_OK, "add_money: %s", evt_err_name(err));
    char text[64];
    size_t n = 0;
    FUZZ_CHECK(evt_json_print(obj, text, sizeof text, &n) == EVT_OK, "print");
    evt_json_free(obj);
    cJSON *root = NULL;
    FUZZ_CHECK(evt_json_parse(text, n, &root) == EVT_OK, "printed amount does not parse: %s", text);
    evt_fen back = 0;
    bool present = false;
    FUZZ_CHECK(evt_json_get_money(root, "amt", true, &back, &present, NULL) == EVT_OK && present &&
                   back == fen,
               "%s reads back as %lld, not %lld", text, (long long)back, (long long)fen);
    evt_json_free(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    fuzz_setup(FUZZ_ARENA_BYTES);
    check_text(data, len);
    fuzz_input in = {.data = data, .len = len};
    uint64_t raw = fuzz_take_u32(&in);
    raw |= (uint64_t)fuzz_take_u32(&in) << 32;
    evt_fen fen = (evt_fen)raw;
    check_fen(fen);
    /* Also a value inside 16,2 (most int64 values are not). */
    evt_fen in_range = (evt_fen)(raw % (2 * (uint64_t)EVT_FEN_MAX + 1)) - EVT_FEN_MAX;
    check_fen(in_range);
    check_json_round_trip(fen);
    check_json_round_trip(in_range);
    fuzz_arena_check_empty("money");
    return 0;
}
