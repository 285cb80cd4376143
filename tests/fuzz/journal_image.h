/*
 * Input layout of the journal target (fuzz_journal.c), shared with the generator of its seeds
 * (gen_journal_seeds.c):
 *
 *   byte 0     sectors - 2 in bits 0..2 (taken modulo 7: 2..8 sectors of 2 KiB), and flags:
 *              JOURNAL_FIX_CRC rewrites every CRC the mutated image gets wrong, so a mutated
 *              length, sequence number or key still reads as intact; JOURNAL_FIX_COMMIT also
 *              writes the commit word where a record now ends;
 *   bytes 1-4  seed of the operations run after the mount;
 *   byte 5     number of operations (modulo 25);
 *   bytes 6-   the flash image, cut or padded with erased bytes (0xFF) to the area's size.
 */
#ifndef EVT_FUZZ_JOURNAL_IMAGE_H
#define EVT_FUZZ_JOURNAL_IMAGE_H

#define JOURNAL_SECTOR_BYTES 2048u
#define JOURNAL_MAX_SECTORS  8u
#define JOURNAL_HDR_BYTES    6u
#define JOURNAL_FIX_CRC      0x80u
#define JOURNAL_FIX_COMMIT   0x40u

#endif /* EVT_FUZZ_JOURNAL_IMAGE_H */
