/*
 * journal_seal: makes hand-edited journal flash read as intact again — recomputes the CRCs of
 * sector headers and records (docs/journal.md's format) after a test or the journal fuzzer
 * changed a field. Written from the format description with a bitwise CRC-32, not from
 * firmware/journal/journal.c, so a test built on it checks the journal rather than repeats it.
 */
#ifndef EVT_JOURNAL_SEAL_H
#define EVT_JOURNAL_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CRC-32 (IEEE 802.3, reflected), as the journal's format uses. */
uint32_t journal_seal_crc32(const uint8_t *p, size_t n);

/* The record starting at rec, at most space bytes to the sector end: header CRC, then (when
 * the lengths fit in space) the body CRC and, with commit, the commit word. Returns the
 * record's size, or 0 when its lengths do not fit. */
uint32_t journal_seal_record(uint8_t *rec, uint32_t space, bool commit);

/* Every sector with the journal's magic: header CRCs, then each record from the first on
 * (a byte other than the record magic is skipped 4 bytes at a time). */
void journal_seal_image(uint8_t *image, uint32_t sectors, uint32_t sector_size, bool commit);

#endif /* EVT_JOURNAL_SEAL_H */
