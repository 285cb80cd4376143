/*
 * evt_journal: the terminal's persistent journal — a power-safe, log-structured key/value
 * store on NOR flash (the evt_hal_storage contract). See docs/journal.md for the on-flash
 * format, recovery and garbage collection.
 *
 * Why it exists: a settlement request (2102, 2103, 2207, 2208) must be recorded durably
 * BEFORE it is sent, so that after a timeout, a reboot or a power cut the terminal still knows
 * it owes the platform a 2601 reversal. The journal also keeps the last msgid, settled sales
 * by ECR order id, the day's totals and the operator's sign_no.
 *
 * Guarantees:
 * - evt_journal_put / evt_journal_del returning EVT_OK means the change is on flash and
 *   survives any later power cut;
 * - a power cut at any byte during put, del or garbage collection leaves the key with either
 *   its old or its new value, and every other key unchanged;
 * - a record damaged on flash (torn write, bit flip) is skipped and counted; it never hides
 *   the records around it.
 *
 * Memory: no heap. The caller owns the evt_journal struct and one work buffer (from the arena
 * or static) that holds the per-sector table and the key index (EVT_JOURNAL_WORK_SIZE).
 * Not thread-safe: the firmware runs one main loop.
 */
#ifndef EVT_JOURNAL_H
#define EVT_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evt/err.h"
#include "evt/hal_storage.h"

/* Keys: 1..48 printable ASCII characters (0x20..0x7E). Values: 0..1024 bytes. */
#define EVT_JOURNAL_KEY_MAX   48
#define EVT_JOURNAL_VALUE_MAX 1024

/* Sectors must be a power of two of at least this size (two largest records plus headers). */
#define EVT_JOURNAL_SECTOR_MIN 2048u
/* At least two sectors: one holds data, one is the spare that makes GC power-safe. */
#define EVT_JOURNAL_SECTORS_MIN 2u

/*
 * Keys the firmware uses, so the modules sharing the journal cannot collide and a technician's
 * dump reads naturally. The value layouts belong to the module named.
 *   msgid            proto/platform: last (time, counter) used
 *   pend/ pend#      platform: settlement-type request sent, outcome not decided (twin)
 *   rev/ rev#        platform: 2601 owed, by original msgid (twin)
 *   order/ order#    orders: every order's state and result, by POS order id (twin)
 *   close/           orders: days the daily close has closed
 *   auth/            auth: wrong-PIN counters by role
 */
#define EVT_JOURNAL_KEY_MSGID       "msgid"
#define EVT_JOURNAL_PREFIX_PENDING  "pend/"
#define EVT_JOURNAL_PREFIX_REVERSAL "rev/"

/* Bytes of work buffer per sector and per key (both multiples of 4). */
#define EVT_JOURNAL_SECTOR_WORK_BYTES 12u
#define EVT_JOURNAL_KEY_WORK_BYTES    12u
/* Work buffer for a storage area of `sectors` sectors holding up to `max_keys` live keys. */
#define EVT_JOURNAL_WORK_SIZE(sectors, max_keys)                                                   \
    ((size_t)(sectors)*EVT_JOURNAL_SECTOR_WORK_BYTES +                                             \
     (size_t)(max_keys)*EVT_JOURNAL_KEY_WORK_BYTES)

/* Private state; fields may change. Callers allocate it and only pass its address. */
typedef struct evt_journal {
    const evt_hal_storage *storage;
    void *sectors; /* per-sector table, in the work buffer */
    void *index;   /* live-key index sorted by key hash, in the work buffer */
    uint32_t sector_count;
    uint32_t index_capacity;
    uint32_t index_used;
    uint32_t active;     /* sector being appended to */
    uint32_t write_off;  /* next free byte in the active sector */
    uint32_t next_gen;   /* generation for the next sector opened */
    uint32_t next_seq;   /* sequence number for the next record */
    uint32_t live_bytes; /* flash bytes of the live records */
    uint32_t records;    /* committed records on flash (live, superseded, tombstones) */
    uint32_t corrupt_skipped;
    uint32_t gc_runs;
    uint64_t bytes_programmed;
    uint64_t bytes_erased;
    uint32_t erases;
    bool opened;
    bool iterating;
} evt_journal;

typedef struct evt_journal_stats {
    uint32_t sector_count;
    uint32_t sector_size;
    uint32_t records;         /* committed records on flash, superseded ones included */
    uint32_t live_keys;       /* keys with a value */
    uint32_t index_capacity;  /* live keys the work buffer can index */
    uint32_t live_bytes;      /* flash bytes the live records occupy */
    uint32_t capacity_bytes;  /* flash bytes available to live records (spare excluded) */
    uint32_t free_bytes;      /* capacity_bytes - live_bytes: room left after GC */
    uint32_t append_bytes;    /* bytes appendable now before a GC is needed */
    uint32_t corrupt_skipped; /* damaged records skipped since open */
    uint32_t gc_runs;         /* sectors collected since open */
    uint32_t erase_count_min; /* lifetime erases of the least / most worn sector */
    uint32_t erase_count_max;
    uint32_t erases;           /* sector erases since open */
    uint64_t bytes_programmed; /* since open: for write-amplification figures */
    uint64_t bytes_erased;
} evt_journal_stats;

/*
 * Mounts the journal on `storage`: scans every sector, finishes or undoes an interrupted
 * garbage collection, rebuilds the key index in `work` (EVT_JOURNAL_WORK_SIZE bytes, 4-byte
 * aligned, must stay valid while the journal is used) and finds the write position.
 * Blank or foreign flash is accepted as an empty journal (sectors are erased when needed).
 * Damaged records are skipped; their number is in *corrupt_out (may be NULL) and in the stats,
 * and a warning "journal: N corrupt records skipped" is logged.
 * Errors: EVT_ERR_ARG (NULL, geometry not usable: sector size not a power of two or below
 * EVT_JOURNAL_SECTOR_MIN, fewer than 2 sectors, work too small for the sector table),
 * EVT_ERR_NOMEM (more live keys than the index holds; evt_journal_format still works),
 * EVT_ERR_STORAGE_IO (from the HAL).
 */
evt_err evt_journal_open(evt_journal *j, const evt_hal_storage *storage, void *work,
                         size_t work_len, uint32_t *corrupt_out);

/*
 * Stores value (len bytes, 0..EVT_JOURNAL_VALUE_MAX) under key, replacing any old value.
 * Durable when it returns EVT_OK. May run garbage collection (erases a sector).
 * Errors: EVT_ERR_ARG (bad key or length, journal not open), EVT_ERR_BUSY (called from an
 * iterate callback), EVT_ERR_JOURNAL_FULL (no room even after GC, or index full; the old
 * value stays), EVT_ERR_STORAGE_IO.
 */
evt_err evt_journal_put(evt_journal *j, const char *key, const void *value, size_t len);

/*
 * Copies key's value into buf (cap bytes) and sets *len to its length.
 * EVT_ERR_NOT_FOUND if the key has no value; EVT_ERR_OVERFLOW if cap is too small (then *len
 * is the needed length and buf is untouched; buf may be NULL with cap 0 to ask the length);
 * EVT_ERR_JOURNAL_CORRUPT if the record no longer reads back intact (flash decay);
 * EVT_ERR_ARG; EVT_ERR_STORAGE_IO.
 */
evt_err evt_journal_get(evt_journal *j, const char *key, void *buf, size_t cap, size_t *len);

/* Removes key. Durable on EVT_OK. EVT_ERR_NOT_FOUND if it had no value (nothing written). */
evt_err evt_journal_del(evt_journal *j, const char *key);

/*
 * Called once per live key starting with the prefix, in no particular order. key is
 * NUL-terminated and valid only during the call. The callback may call evt_journal_get but not
 * put or del (they return EVT_ERR_BUSY); collect keys and change them after iterating.
 * A non-EVT_OK return stops the iteration and is returned by evt_journal_iterate.
 */
typedef evt_err (*evt_journal_visit_fn)(void *arg, const char *key, size_t value_len);

/* prefix "" visits every key. */
evt_err evt_journal_iterate(evt_journal *j, const char *prefix, evt_journal_visit_fn visit,
                            void *arg);

evt_err evt_journal_stats_get(const evt_journal *j, evt_journal_stats *out);

/*
 * Twin records. A value that guards money — an order that settled or may have, a settlement
 * whose outcome is unknown, a reversal owed — must outlive one damaged record, which the log
 * alone cannot promise (a damaged newest record makes an older one, or none, visible). It is
 * stored twice, under "<name>/<id>" and "<name>#<id>"; each copy starts with a 32-bit revision
 * that grows with every put. A read takes the intact copy with the higher revision and, outside
 * an iteration, rewrites the other copy when it is missing, older or damaged.
 *
 * Writes go primary first, then the copy, so a power cut between them leaves the new value in
 * the primary with the higher revision: the read sees it. A delete removes the primary, then
 * the copy; a cut between them leaves the old value readable (owners must tolerate a record
 * that comes back after a cut during its delete: see docs/journal.md).
 *
 * name: 1..8 printable characters without '/' or '#'; id: printable, non-empty; the key
 * name + 1 + id must fit EVT_JOURNAL_KEY_MAX. Values up to EVT_JOURNAL_TWIN_VALUE_MAX.
 */
#define EVT_JOURNAL_TWIN_NAME_MAX  8
#define EVT_JOURNAL_TWIN_VALUE_MAX 252u

/* Stores value under both keys. Errors as evt_journal_put, EVT_ERR_ARG for a bad name/id/len. */
evt_err evt_journal_twin_put(evt_journal *j, const char *name, const char *id, const void *value,
                             size_t len);

/*
 * Reads the newest intact copy into buf (cap bytes), *len its length. EVT_ERR_NOT_FOUND when
 * neither copy exists; EVT_ERR_JOURNAL_CORRUPT when a copy exists but none reads back intact
 * (the caller cannot prove what the record said); EVT_ERR_OVERFLOW (then *len is the needed
 * length); EVT_ERR_ARG; EVT_ERR_STORAGE_IO. *repaired (may be NULL) tells whether the other copy
 * had to be rewritten.
 */
evt_err evt_journal_twin_get(evt_journal *j, const char *name, const char *id, void *buf,
                             size_t cap, size_t *len, bool *repaired);

/* Removes both copies. EVT_ERR_NOT_FOUND when neither existed. */
evt_err evt_journal_twin_del(evt_journal *j, const char *name, const char *id);

/* Called once per id that has at least one copy (NUL-terminated, valid during the call). The
 * rules of evt_journal_iterate apply: get (and twin_get, without repair) allowed, no writes. */
typedef evt_err (*evt_journal_twin_visit_fn)(void *arg, const char *id);
evt_err evt_journal_twin_iterate(evt_journal *j, const char *name, evt_journal_twin_visit_fn visit,
                                 void *arg);

/*
 * Technician's erase: erases every sector (keeping the wear counters) and leaves the journal
 * open and empty. Allowed after evt_journal_open returned EVT_OK or EVT_ERR_NOMEM.
 */
evt_err evt_journal_format(evt_journal *j);

#endif /* EVT_JOURNAL_H */
