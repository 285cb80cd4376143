/*
 * evt_receipt: the settlement receipt (医保结算单) as one complete ESC/POS job.
 *
 * The job (init, Chinese mode, text in GB18030, QR code, cut) is streamed: written through a
 * staging buffer of EVT_RECEIPT_STAGE_BYTES on the stack to a sink (evt_receipt_print: the
 * printer HAL; evt_receipt_build: a caller buffer), so printing takes the same memory for one
 * order line as for EVT_ORDER_MAX_ITEMS. Nothing is allocated by this module; libqrencode
 * allocates the symbol (modules, not dots) for the raster mode while the job streams.
 *
 * Personal data: the builder takes the patient's and the holder's name and ID number in
 * clear and prints only their evt_mask_* forms; nothing of them is logged.
 *
 * The QR code carries a settlement reference ("EVTS1|..."; evt_receipt_ref_*) so a later
 * refund (2103) or reprint can start from scanning the receipt. Layout and format:
 * docs/receipts.md.
 */
#ifndef EVT_RECEIPT_H
#define EVT_RECEIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evt/err.h"
#include "evt/hal_printer.h"
#include "evt/sale.h"

typedef enum evt_receipt_paper {
    EVT_RECEIPT_PAPER_58MM, /* 384 dots, 32 ASCII columns of font A (12x24) */
    EVT_RECEIPT_PAPER_80MM, /* 576 dots, 48 columns */
} evt_receipt_paper;

typedef enum evt_receipt_qr_mode {
    /* Symbol made here with libqrencode and sent as a GS v 0 raster image: works on every
     * printer, costs ~7-10 KB of job. */
    EVT_RECEIPT_QR_RASTER,
    /* GS ( k: the printer draws the symbol itself (model 2, level M); short job. */
    EVT_RECEIPT_QR_NATIVE,
} evt_receipt_qr_mode;

typedef enum evt_receipt_kind {
    EVT_RECEIPT_SALE,   /* 2102 settled */
    EVT_RECEIPT_REFUND, /* 2103/2208 (退费): the settlement holds what went back, as positive
                           amounts, and where each part goes is printed beside it */
    EVT_RECEIPT_CLINIC, /* 2207 settled: the outpatient visit's 门诊结算单 (its fee lines are on
                           the hospital's list, not on the receipt) */
    EVT_RECEIPT_CLINIC_REFUND, /* 2208 (门诊退费): a refund (as EVT_RECEIPT_REFUND) of a visit */
} evt_receipt_kind;

/* Everything one receipt shows. Strings are UTF-8, NUL-terminated; NULL is read as "". */
typedef struct evt_receipt {
    evt_receipt_paper paper;
    evt_receipt_qr_mode qr_mode;
    evt_receipt_kind kind;
    bool reprint;               /* a copy of a receipt printed before: marked 重打印 */
    const char *fixmedins_name; /* 定点机构名称 */
    const char *fixmedins_code; /* 12 characters; required (QR) */
    const char *terminal_id;
    const char *operator_name; /* opter_name, or opter when there is no name */
    const char *datetime;      /* "yyyy-MM-dd HH:mm:ss": when this receipt is printed */
    const char *msgid;         /* msgid of the settling request; required (QR) */
    /* Items; NULL: none printed. A reprint or a refund without them says the items are on the
     * original receipt (docs/receipts.md, "Reprints"). */
    const evt_order *order;
    const evt_settlement *settlement; /* required; setl_id must be non-empty */
    const char *patient_name;         /* clear text; printed masked */
    const char *patient_id_no;        /* clear text; printed masked */
    const char *insutype;             /* "310" / "390"; others printed as the code */
    const char *insured_region;       /* insuplc_admdvs, 6 digits */
    bool via_family_account;          /* code shown through a family account (亲情账户) */
    const char *holder_name;          /* clear text; printed masked when via_family_account */
    const char *original_setl_id;     /* REFUND: the settlement it cancels (optional) */
    /* REFUND: the supervisor operator who authorised it (授权主管), printed as the name and the
     * id (staff, in clear like operator_name); only the id when the name is empty; no line
     * without the id (supervisor_pin). */
    const char *approver_id;
    const char *approver_name;
} evt_receipt;

/* The job leaves in pieces of at most this many bytes, staged on the stack. Measured: a 58 mm
 * raster receipt (8 755 B) is 35 writes, a native-QR one (1 664 B) 7, the 32-line worst case
 * 50; each is a USB transfer or a UART burst on a printer (docs/receipts.md). */
#define EVT_RECEIPT_STAGE_BYTES 256u

/* A sink of the job: takes the next len bytes, in order. An error ends the job: nothing more
 * is written to the sink, and evt_receipt_stream returns that error. */
typedef evt_err (*evt_receipt_write_fn)(void *ctx, const uint8_t *data, size_t len);

/*
 * Streams the job to write(ctx, ...) in pieces of at most EVT_RECEIPT_STAGE_BYTES.
 * Everything is checked, and the raster QR symbol made, before the first byte is written:
 * EVT_ERR_ARG (NULL receipt/settlement/write, empty fixmedins_code, msgid or setl_id, a
 * reference field with '|' or control characters, bad enum values or item_count) and
 * EVT_ERR_NOMEM (libqrencode could not make the symbol) write nothing.
 * Otherwise EVT_OK or the sink's error (the job then ends where the sink refused it).
 */
evt_err evt_receipt_stream(const evt_receipt *receipt, evt_receipt_write_fn write, void *ctx);

/*
 * Prints the job on the printer: begin(job_name), the job streamed through write, end.
 * An invalid receipt or an unmade QR (the errors of evt_receipt_stream) never begins a job.
 * begin's error is returned (no write, no end). A write error stops the job: no further
 * write, end is still called (the printer drops or cuts what it got) and the write's error is
 * returned; else end's. *written (optional) gets the bytes the printer accepted.
 */
evt_err evt_receipt_print(const evt_receipt *receipt, const evt_hal_printer *printer,
                          const char *job_name, size_t *written);

/* One line of a report: label and value (value flush right), label alone (value NULL), or a
 * separator (label "", value NULL). */
typedef struct evt_receipt_line {
    const char *label;
    const char *value;
} evt_receipt_line;

/* A report (the daily close's batch report) printed like a receipt: the title, then the lines,
 * streamed through the same stage (no job buffer). */
evt_err evt_receipt_print_report(evt_receipt_paper paper, const char *title,
                                 const evt_receipt_line *lines, size_t count,
                                 const evt_hal_printer *printer, const char *job_name);

/*
 * The job into out[0..cap) (tests, tools); *len gets its length. The errors of
 * evt_receipt_stream, EVT_ERR_ARG for NULL out/len, and EVT_ERR_OVERFLOW when cap is too
 * small (nothing usable in out, *len 0).
 */
evt_err evt_receipt_build(const evt_receipt *receipt, uint8_t *out, size_t cap, size_t *len);

/* Columns of font A on the paper (32 or 48); 0 for an unknown paper. */
unsigned evt_receipt_columns(evt_receipt_paper paper);
/* Printable width in dots (384 or 576); 0 for an unknown paper. */
unsigned evt_receipt_dots(evt_receipt_paper paper);

/* The settlement reference the receipt's QR carries:
 * "EVTS1|<fixmedins_code>|<setl_id>|<mdtrt_id>|<psn_no>|<msgid>". */
#define EVT_RECEIPT_REF_PREFIX "EVTS1|"
#define EVT_RECEIPT_REF_MAX    160 /* longest text incl. NUL (platform field sizes) */

typedef struct evt_receipt_ref {
    char fixmedins_code[13];
    char setl_id[31];
    char mdtrt_id[31]; /* may be empty */
    char psn_no[31];   /* may be empty */
    char msgid[31];
} evt_receipt_ref;

/*
 * Formats the reference text. Fields must be printable ASCII without '|' and within the
 * sizes above; fixmedins_code, setl_id and msgid non-empty. EVT_ERR_ARG otherwise,
 * EVT_ERR_OVERFLOW when out is too small.
 */
evt_err evt_receipt_ref_format(const evt_receipt_ref *ref, char *out, size_t cap);

/*
 * Parses a scanned text (len bytes) back into a reference with the same rules.
 * EVT_ERR_RECEIPT_REF_INVALID for anything else (another QR, a damaged or foreign one).
 */
evt_err evt_receipt_ref_parse(const char *text, size_t len, evt_receipt_ref *out);

#endif /* EVT_RECEIPT_H */
