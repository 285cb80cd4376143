/*
 * Fuzz target: the provisioning file (evt_config_parse, include/evt/config.h).
 *
 * - the result is OK, CONFIG_INVALID or CONFIG_MISSING; on error the struct is all zero;
 * - an accepted config holds what docs/provisioning.md promises (required fields set, every
 *   string terminated inside its field, numbers in their ranges, https path, items priced);
 * - the message fits any buffer (the input picks a small one too) and never contains the
 *   paas_token's or the ecr_key's value;
 * - the syntax rules hold: the same file with blanks added around every line and CR LF line
 *   ends parses to the same result, the same message and the same struct.
 *
 * The value buffers the parser checks are the fuzzer's own (exactly the file's size): a read
 * past a value's end that reaches the end of the file is an ASan report.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "evt/config.h"
#include "fuzz_support.h"

#define MSG_BYTES 160

static bool terminated(const char *field, size_t size)
{
    return memchr(field, '\0', size) != NULL;
}

#define TERMINATED(field) terminated((field), sizeof(field))

static void check_accepted(const evt_config *c)
{
    FUZZ_CHECK(TERMINATED(c->platform_url) && TERMINATED(c->host) && TERMINATED(c->path) &&
                   TERMINATED(c->tls_server_name) && TERMINATED(c->ca_file) &&
                   TERMINATED(c->fixmedins_code) && TERMINATED(c->fixmedins_name) &&
                   TERMINATED(c->mdtrtarea_admvs) && TERMINATED(c->recer_sys_code) &&
                   TERMINATED(c->dev_no) && TERMINATED(c->opter) && TERMINATED(c->opter_name) &&
                   TERMINATED(c->paas_id) && TERMINATED(c->paas_token) && TERMINATED(c->infver) &&
                   TERMINATED(c->ecr_bind) && TERMINATED(c->office_id) &&
                   TERMINATED(c->office_name) && TERMINATED(c->business_type),
               "a string field is not terminated");
    const char *required[] = {
        c->platform_url,   c->host,      c->tls_server_name, c->ca_file,    c->fixmedins_name,
        c->recer_sys_code, c->dev_no,    c->paas_id,         c->paas_token, c->infver,
        c->ecr_bind,       c->office_id, c->office_name};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        FUZZ_CHECK(required[i][0] != '\0', "required field %zu empty", i);
    }
    /* Either the legacy single operator or operator lines, never both, never neither. */
    FUZZ_CHECK(c->operator_count <= EVT_CONFIG_MAX_OPERATORS, "operator count");
    FUZZ_CHECK(c->operator_count > 0 ? c->opter[0] == '\0' && c->opter_name[0] == '\0'
                                     : c->opter[0] != '\0' && c->opter_name[0] != '\0',
               "operators and the legacy opter");
    /* Every operator the parser accepted reads back from the text, whole; supervisor_count
     * counts the supervisors among them, and excludes the shared supervisor_pin. */
    unsigned supervisors = 0;
    for (unsigned i = 0; i <= c->operator_count; i++) {
        evt_config_operator op;
        evt_err err = evt_config_operator_get(c, i, &op);
        supervisors += err == EVT_OK && op.role == EVT_OPERATOR_SUPERVISOR;
        FUZZ_CHECK(TERMINATED(op.id) && TERMINATED(op.name), "operator %u not terminated", i);
        FUZZ_CHECK(i < c->operator_count
                       ? err == EVT_OK && op.id[0] != '\0' && op.name[0] != '\0' && op.pin.set &&
                             (op.role == EVT_OPERATOR_CASHIER || op.role == EVT_OPERATOR_SUPERVISOR)
                       : err == EVT_ERR_NOT_FOUND && op.id[0] == '\0',
                   "operator %u: %s", i, evt_err_name(err));
    }
    FUZZ_CHECK(c->supervisor_count == supervisors, "supervisor_count %u of %u supervisors",
               (unsigned)c->supervisor_count, supervisors);
    FUZZ_CHECK(c->supervisor_count == 0 || !c->supervisor_pin.set,
               "supervisor_pin beside supervisor operators");
    FUZZ_CHECK(strlen(c->fixmedins_code) == 12 && strlen(c->mdtrtarea_admvs) == 6 &&
                   strlen(c->business_type) == 5,
               "fixed-length field of another length");
    FUZZ_CHECK(strncasecmp(c->platform_url, "https://", 8) == 0, "platform_url scheme");
    FUZZ_CHECK(c->path[0] == '/' && c->port >= 1, "path or port");
    FUZZ_CHECK(c->msgid_slot <= 9 && c->opter_type >= 1 && c->opter_type <= 3, "slot/type");
    FUZZ_CHECK(c->paper_width_mm == 58 || c->paper_width_mm == 80, "paper width");
    FUZZ_CHECK(c->http_timeout_ms >= 1000 && c->http_timeout_ms <= 600000 &&
                   c->connect_timeout_ms >= 100 && c->connect_timeout_ms <= 600000,
               "timeouts");
    FUZZ_CHECK(c->ecr_port == 0 || c->ecr_key_set, "ECR link on without its pairing key");
    uint8_t any = 0;
    for (size_t i = 0; i < sizeof c->ecr_key; i++) {
        any |= c->ecr_key[i];
    }
    FUZZ_CHECK(c->ecr_key_set == (any != 0), "ecr_key set but all zero, or bytes without it");
    FUZZ_CHECK(c->order_max_total > 0 && evt_money_in_range(c->order_max_total), "order_max_total");
    FUZZ_CHECK(c->order_keep_days >= 1 && c->order_keep_days <= 366, "order_keep_days");
    FUZZ_CHECK(!c->supervisor_pin.set ||
                   (c->supervisor_pin.iterations >= 1000 &&
                    c->supervisor_pin.iterations <= 1000000 && c->supervisor_pin.salt_len >= 8 &&
                    c->supervisor_pin.salt_len <= EVT_PIN_SALT_MAX),
               "supervisor_pin");
    for (size_t i = 0; i < EVT_CONFIG_MAX_ITEMS; i++) {
        const evt_config_item *it = &c->items[i];
        FUZZ_CHECK(TERMINATED(it->med_list_codg) && TERMINATED(it->medins_list_codg) &&
                       TERMINATED(it->name),
                   "item %zu: field not terminated", i);
        if (it->med_list_codg[0] != '\0') {
            FUZZ_CHECK(it->name[0] != '\0' && it->price > 0 && evt_money_in_range(it->price),
                       "item %zu: no name or no positive price", i);
        }
    }
}

/* The value the file gives key (first line that sets it), if any. */
static bool value_of(const uint8_t *t, size_t n, const char *key, const uint8_t **v, size_t *vlen)
{
    size_t klen = strlen(key);
    size_t pos = 0;
    while (pos < n) {
        const uint8_t *nl = memchr(t + pos, '\n', n - pos);
        size_t end = nl != NULL ? (size_t)(nl - t) : n;
        size_t s = pos, e = end;
        pos = end + 1;
        while (s < e && (t[s] == ' ' || t[s] == '\t')) {
            s++;
        }
        if (e - s < klen || memcmp(t + s, key, klen) != 0) {
            continue;
        }
        s += klen;
        while (s < e && (t[s] == ' ' || t[s] == '\t')) {
            s++;
        }
        if (s == e || t[s] != '=') {
            continue;
        }
        s++;
        while (e > s && (t[e - 1] == ' ' || t[e - 1] == '\t' || t[e - 1] == '\r')) {
            e--;
        }
        while (s < e && (t[s] == ' ' || t[s] == '\t')) {
            s++;
        }
        *v = t + s;
        *vlen = e - s;
        return true;
    }
    return false;
}

/* True when text (n bytes) holds needle somewhere. */
static bool contains(const char *text, const uint8_t *needle, size_t n)
{
    size_t tl = strlen(text);
    for (size_t i = 0; n > 0 && i + n <= tl; i++) {
        if (memcmp(text + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

static void check_secrets_not_in_message(const uint8_t *data, size_t len, const char *msg)
{
    const uint8_t *v;
    size_t vlen;
    if (value_of(data, len, "paas_token", &v, &vlen) && vlen >= 6) {
        /* Only tokens with a character no message text uses (messages use letters, digits,
         * blanks and ( ) [ ] < > - . , : / | # = $): such a token in a message came from the
         * file. */
        bool distinctive = false;
        for (size_t i = 0; i < vlen; i++) {
            distinctive |= v[i] != '\0' && strchr("!%&*+;?@^`{}~'\"\\", v[i]) != NULL;
        }
        FUZZ_CHECK(!distinctive || !contains(msg, v, vlen), "the message quotes the paas_token: %s",
                   msg);
    }
    if (value_of(data, len, "ecr_key", &v, &vlen) && vlen >= 16) {
        /* No message has 16 hex digits in a row of its own. */
        bool hex = true;
        for (size_t i = 0; i < vlen; i++) {
            hex = hex && ((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f') ||
                          (v[i] >= 'A' && v[i] <= 'F'));
        }
        FUZZ_CHECK(!hex || !contains(msg, v, vlen), "the message quotes the ecr_key: %s", msg);
    }
}

/* Blanks around every line and CR LF ends: the same file under the documented syntax. */
static uint8_t *reformat(const uint8_t *t, size_t n, size_t *out_len)
{
    uint8_t *out = malloc(6 * n + 8); /* 5 bytes more per line, at most n + 1 lines */
    FUZZ_CHECK(out != NULL, "host out of memory");
    size_t w = 0, pos = 0;
    if (n >= 3 && memcmp(t, "\xEF\xBB\xBF", 3) == 0) {
        memcpy(out, t, 3);
        w = pos = 3;
    }
    while (pos < n) {
        const uint8_t *nl = memchr(t + pos, '\n', n - pos);
        size_t end = nl != NULL ? (size_t)(nl - t) : n;
        size_t line_end = end > pos && t[end - 1] == '\r' ? end - 1 : end;
        out[w++] = ' ';
        out[w++] = '\t';
        memcpy(out + w, t + pos, line_end - pos);
        w += line_end - pos;
        memcpy(out + w, " \r\n", 3);
        w += 3;
        pos = end + 1;
    }
    *out_len = w;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    fuzz_setup(FUZZ_ARENA_BYTES);
    static evt_config cfg, again;
    char *msg = malloc(MSG_BYTES); /* exact size: ASan sees a write past it */
    FUZZ_CHECK(msg != NULL, "host out of memory");
    evt_err err = evt_config_parse((const char *)data, len, &cfg, msg, MSG_BYTES);
    FUZZ_CHECK(err == EVT_OK || err == EVT_ERR_CONFIG_INVALID || err == EVT_ERR_CONFIG_MISSING,
               "parse: %s", evt_err_name(err));
    FUZZ_CHECK(memchr(msg, '\0', MSG_BYTES) != NULL, "message not terminated");
    FUZZ_CHECK((err == EVT_OK) == (msg[0] == '\0'), "message \"%s\" with %s", msg,
               evt_err_name(err));
    if (err == EVT_OK) {
        check_accepted(&cfg);
    } else {
        static const evt_config zero;
        FUZZ_CHECK(memcmp(&cfg, &zero, sizeof cfg) == 0, "refused config half-filled");
        check_secrets_not_in_message(data, len, msg);
    }

    size_t small_cap = len > 0 ? data[0] % 24u : 0;
    char *small = small_cap > 0 ? malloc(small_cap) : NULL;
    evt_err err_small = evt_config_parse((const char *)data, len, &again, small, small_cap);
    FUZZ_CHECK(err_small == err, "result depends on the message buffer");
    if (small != NULL) {
        FUZZ_CHECK(strlen(small) < small_cap && strncmp(small, msg, small_cap - 1) == 0,
                   "message cut wrongly into %zu bytes", small_cap);
        free(small);
    }

    size_t rlen = 0;
    uint8_t *reformatted = reformat(data, len, &rlen);
    char *msg2 = malloc(MSG_BYTES);
    FUZZ_CHECK(msg2 != NULL, "host out of memory");
    evt_err err2 = evt_config_parse((const char *)reformatted, rlen, &again, msg2, MSG_BYTES);
    FUZZ_CHECK(err2 == err && strcmp(msg2, msg) == 0,
               "blanks and CR LF change the result: %s \"%s\" vs %s \"%s\"", evt_err_name(err), msg,
               evt_err_name(err2), msg2);
    for (unsigned i = 0; err == EVT_OK && i < cfg.operator_count; i++) {
        evt_config_operator a, b;
        evt_config_operator_get(&cfg, i, &a);
        evt_config_operator_get(&again, i, &b);
        FUZZ_CHECK(memcmp(&a, &b, sizeof a) == 0, "blanks and CR LF change operator %u", i);
    }
    /* Which text each was read from (operator lines are read from it again) may differ. */
    again.text = cfg.text;
    again.text_len = cfg.text_len;
    FUZZ_CHECK(memcmp(&cfg, &again, sizeof cfg) == 0, "blanks and CR LF change the config");
    free(reformatted);
    free(msg2);
    free(msg);
    fuzz_arena_check_empty("config");
    return 0;
}
