/* evt_journal twin records: one value under two keys, for records that guard money.
 * See journal.h ("Twin records") and docs/journal.md. */
#include <stdio.h>
#include <string.h>

#include "evt/journal.h"
#include "evt/log.h"

#define LOG_MODULE      "journal"
#define TWIN_REV_BYTES  4u
#define TWIN_RECORD_MAX (EVT_JOURNAL_TWIN_VALUE_MAX + TWIN_REV_BYTES)
#define SEP_PRIMARY     '/'
#define SEP_COPY        '#'

_Static_assert(TWIN_RECORD_MAX <= EVT_JOURNAL_VALUE_MAX, "twin record must fit a journal value");

/* One copy as read back: its state, its revision and its bytes (revision stripped). */
typedef struct twin_copy {
    evt_err err; /* EVT_OK, EVT_ERR_NOT_FOUND, EVT_ERR_JOURNAL_CORRUPT, other: hard error */
    uint32_t rev;
    size_t len;
    uint8_t bytes[TWIN_RECORD_MAX];
} twin_copy;

static bool valid_name(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (n == 0 || n > EVT_JOURNAL_TWIN_NAME_MAX) {
        return false;
    }
    return strchr(name, SEP_PRIMARY) == NULL && strchr(name, SEP_COPY) == NULL;
}

static evt_err twin_key(const char *name, char sep, const char *id,
                        char key[EVT_JOURNAL_KEY_MAX + 1])
{
    if (!valid_name(name) || id == NULL || id[0] == '\0') {
        return EVT_ERR_ARG;
    }
    int n = snprintf(key, EVT_JOURNAL_KEY_MAX + 1, "%s%c%s", name, sep, id);
    return n > 0 && n <= EVT_JOURNAL_KEY_MAX ? EVT_OK : EVT_ERR_ARG;
}

static uint32_t rev_of(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void read_copy(evt_journal *j, const char *key, twin_copy *c)
{
    c->rev = 0;
    c->len = 0;
    size_t len = 0;
    c->err = evt_journal_get(j, key, c->bytes, sizeof c->bytes, &len);
    if (c->err == EVT_ERR_OVERFLOW || (c->err == EVT_OK && len < TWIN_REV_BYTES)) {
        /* Not a twin record this code ever wrote: as unusable as a damaged one. */
        c->err = EVT_ERR_JOURNAL_CORRUPT;
    }
    if (c->err == EVT_OK) {
        c->rev = rev_of(c->bytes);
        c->len = len - TWIN_REV_BYTES;
    }
}

/* The copy to believe: the intact one with the higher revision; NULL if none is intact. */
static const twin_copy *newest(const twin_copy *a, const twin_copy *b)
{
    if (a->err != EVT_OK) {
        return b->err == EVT_OK ? b : NULL;
    }
    if (b->err != EVT_OK) {
        return a;
    }
    return b->rev > a->rev ? b : a;
}

static bool same(const twin_copy *a, const twin_copy *b)
{
    return a->err == EVT_OK && b->err == EVT_OK && a->rev == b->rev && a->len == b->len &&
           memcmp(a->bytes, b->bytes, a->len + TWIN_REV_BYTES) == 0;
}

typedef struct twin_pair {
    char key[2][EVT_JOURNAL_KEY_MAX + 1];
    twin_copy copy[2];
} twin_pair;

static evt_err read_pair(evt_journal *j, const char *name, const char *id, twin_pair *p)
{
    evt_err err = twin_key(name, SEP_PRIMARY, id, p->key[0]);
    if (err == EVT_OK) {
        err = twin_key(name, SEP_COPY, id, p->key[1]);
    }
    if (err != EVT_OK) {
        return err;
    }
    for (int i = 0; i < 2; i++) {
        read_copy(j, p->key[i], &p->copy[i]);
        evt_err e = p->copy[i].err;
        if (e != EVT_OK && e != EVT_ERR_NOT_FOUND && e != EVT_ERR_JOURNAL_CORRUPT) {
            return e;
        }
    }
    return EVT_OK;
}

evt_err evt_journal_twin_put(evt_journal *j, const char *name, const char *id, const void *value,
                             size_t len)
{
    if (len > EVT_JOURNAL_TWIN_VALUE_MAX || (value == NULL && len > 0)) {
        return EVT_ERR_ARG;
    }
    twin_pair *p = &(twin_pair){0};
    evt_err err = read_pair(j, name, id, p);
    if (err != EVT_OK) {
        return err;
    }
    /* Above every revision still readable, so the read after a cut between the two writes
     * prefers the new value. */
    uint32_t rev = p->copy[0].rev > p->copy[1].rev ? p->copy[0].rev : p->copy[1].rev;
    rev++;
    uint8_t *rec = p->copy[0].bytes;
    rec[0] = (uint8_t)rev;
    rec[1] = (uint8_t)(rev >> 8);
    rec[2] = (uint8_t)(rev >> 16);
    rec[3] = (uint8_t)(rev >> 24);
    if (len > 0) {
        memcpy(rec + TWIN_REV_BYTES, value, len);
    }
    for (int i = 0; i < 2; i++) {
        err = evt_journal_put(j, p->key[i], rec, len + TWIN_REV_BYTES);
        if (err != EVT_OK) {
            return err;
        }
    }
    return EVT_OK;
}

evt_err evt_journal_twin_get(evt_journal *j, const char *name, const char *id, void *buf,
                             size_t cap, size_t *len, bool *repaired)
{
    if (repaired != NULL) {
        *repaired = false;
    }
    if (len == NULL || (buf == NULL && cap > 0)) {
        return EVT_ERR_ARG;
    }
    twin_pair *p = &(twin_pair){0};
    evt_err err = read_pair(j, name, id, p);
    if (err != EVT_OK) {
        return err;
    }
    const twin_copy *best = newest(&p->copy[0], &p->copy[1]);
    if (best == NULL) {
        bool none = p->copy[0].err == EVT_ERR_NOT_FOUND && p->copy[1].err == EVT_ERR_NOT_FOUND;
        if (!none) {
            EVT_LOGE(LOG_MODULE, "journal: no intact copy of twin record %s", p->key[0]);
        }
        return none ? EVT_ERR_NOT_FOUND : EVT_ERR_JOURNAL_CORRUPT;
    }
    *len = best->len;
    if (cap < best->len) {
        return EVT_ERR_OVERFLOW;
    }
    memcpy(buf, best->bytes + TWIN_REV_BYTES, best->len);
    if (same(&p->copy[0], &p->copy[1]) || j->iterating) {
        return EVT_OK;
    }
    /* One copy is missing, older or damaged: make the pair whole again, so that the next
     * damaged record still leaves one good copy. Failing to repair loses nothing now. */
    int other = best == &p->copy[0] ? 1 : 0;
    evt_err rerr = evt_journal_put(j, p->key[other], best->bytes, best->len + TWIN_REV_BYTES);
    EVT_LOGW(LOG_MODULE, "journal: twin record %s: copy %s rewritten (%s)", p->key[0],
             p->copy[other].err == EVT_OK ? "older" : evt_err_log_text(p->copy[other].err),
             evt_err_name(rerr));
    if (repaired != NULL) {
        *repaired = rerr == EVT_OK;
    }
    return EVT_OK;
}

evt_err evt_journal_twin_del(evt_journal *j, const char *name, const char *id)
{
    char key[2][EVT_JOURNAL_KEY_MAX + 1];
    evt_err err = twin_key(name, SEP_PRIMARY, id, key[0]);
    if (err == EVT_OK) {
        err = twin_key(name, SEP_COPY, id, key[1]);
    }
    if (err != EVT_OK) {
        return err;
    }
    bool any = false;
    for (int i = 0; i < 2; i++) {
        err = evt_journal_del(j, key[i]);
        if (err == EVT_OK) {
            any = true;
        } else if (err != EVT_ERR_NOT_FOUND) {
            return err;
        }
    }
    return any ? EVT_OK : EVT_ERR_NOT_FOUND;
}

typedef struct twin_walk {
    evt_journal *j;
    const char *name;
    size_t prefix_len;
    bool copies; /* second pass: visit an id only when its primary is gone */
    evt_journal_twin_visit_fn visit;
    void *arg;
} twin_walk;

static evt_err twin_walk_visit(void *arg, const char *key, size_t value_len)
{
    (void)value_len;
    twin_walk *w = arg;
    const char *id = key + w->prefix_len;
    if (id[0] == '\0') {
        return EVT_OK;
    }
    if (w->copies) {
        char primary[EVT_JOURNAL_KEY_MAX + 1];
        size_t len = 0;
        if (twin_key(w->name, SEP_PRIMARY, id, primary) == EVT_OK &&
            evt_journal_get(w->j, primary, NULL, 0, &len) != EVT_ERR_NOT_FOUND) {
            return EVT_OK; /* visited in the first pass */
        }
    }
    return w->visit(w->arg, id);
}

evt_err evt_journal_twin_iterate(evt_journal *j, const char *name, evt_journal_twin_visit_fn visit,
                                 void *arg)
{
    if (!valid_name(name) || visit == NULL) {
        return EVT_ERR_ARG;
    }
    char prefix[EVT_JOURNAL_TWIN_NAME_MAX + 2];
    twin_walk w = {
        .j = j, .name = name, .prefix_len = strlen(name) + 1, .visit = visit, .arg = arg};
    snprintf(prefix, sizeof prefix, "%s%c", name, SEP_PRIMARY);
    evt_err err = evt_journal_iterate(j, prefix, twin_walk_visit, &w);
    if (err == EVT_OK) {
        w.copies = true;
        snprintf(prefix, sizeof prefix, "%s%c", name, SEP_COPY);
        err = evt_journal_iterate(j, prefix, twin_walk_visit, &w);
    }
    return err;
}
