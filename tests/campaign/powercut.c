/*
 * Power-cut campaign: a scripted day at the pharmacy counter (own codes, family account, 共济,
 * lost answers reversed at once or only later, a business refusal, a cashier's cancel, an
 * unusable answer, POS resends; enough sales to wrap the journal several times), with the
 * power cut at chosen points of the flash work, in every tear model of the storage model, on
 * the sim flash file and on the RAM NOR model. After each cut: reboot, recovery, reversals
 * delivered by the idle loop, the POS asks for every order of the day and re-sends the one in
 * flight — and the emulator's ledger is audited against what the terminal says:
 *   zero double  — no order has more than one settlement standing;
 *   zero lost    — an order has a settlement standing iff the terminal says it settled;
 *   zero unresolved — no reversal owed, no order in doubt, once the platform is reachable.
 *
 * How: one uncut golden run records, before every step, the flash image and the emulator's
 * ledger (SQLite backup) and how much flash work the step does; a case restores both for the
 * step its cut falls in, and replays that step alone (each step runs in a freshly started
 * terminal, in the golden run too, so the work counts correspond).
 *
 *   powercut [--storage sim|ram|both] [--stride N] [--offset K] [--max-cases N] [--sales N]
 *            [--flash-kib N]
 *
 * Prints one line per failing case and a summary; exit 0 only when every case held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evt/orders.h"
#include "harness.h"
#include "ram_nor.h"

#define AMOXICILLIN  "XJ01CAA040A001010100001"
#define AMLODIPINE   "XC08CAA077A001010100001"
#define CHILD_COLD   "XR05CBA086A001020100001"
#define FLASH_SECTOR 4096u
#define MAX_STEPS    64
#define HTTP_TIMEOUT 1500u

typedef struct fault {
    const char *infno, *kind, *value;
    int times;
} fault;

typedef struct day_step {
    const char *person, *holder; /* whose code is shown (holder: 亲情账户) */
    const char *med;
    evt_fen price;
    fault faults[2];  /* queued at the emulator before the step */
    const char *keys; /* the cashier; NULL: OK to everything */
    int resend_of;    /* >= 0: the POS re-sends that step's order instead */
    bool idle_after;  /* the counter idles after the step (owed reversals retried) */
} day_step;

static const char cancel_at_split[] = "请核对患者身份 => OK\n请确认结算金额 => CANCEL\n";

/* The day. Steps past the list repeat plain sales to wrap the journal. */
static const day_step scripted[] = {
    {.person = "employee", .med = AMOXICILLIN, .price = 1250, .resend_of = -1},
    {.person = "stranger", .med = AMOXICILLIN, .price = 1250, .resend_of = -1},
    {.person = "parent", .holder = "employee", .med = AMLODIPINE, .price = 2800, .resend_of = -1},
    {.person = "employee",
     .med = AMOXICILLIN,
     .price = 1250,
     .resend_of = -1,
     .faults = {{"2102", "close_mid", NULL, 1}}},
    {.person = "stranger",
     .med = AMOXICILLIN,
     .price = 1250,
     .resend_of = -1,
     .faults = {{"2102", "close_mid", NULL, 1}, {"2601", "close_before", NULL, 2}}},
    {.resend_of = 0},
    {.person = "child", .holder = "employee", .med = CHILD_COLD, .price = 1860, .resend_of = -1},
    {.person = "employee",
     .med = AMOXICILLIN,
     .price = 1250,
     .resend_of = -1,
     .faults = {{"2102", "business_error", "定点机构结算资格暂停", 1}}},
    {.person = "employee",
     .med = AMOXICILLIN,
     .price = 1250,
     .resend_of = -1,
     .keys = cancel_at_split},
    {.resend_of = 3, .person = "employee"},
    {.person = "stranger",
     .med = AMOXICILLIN,
     .price = 1250,
     .resend_of = -1,
     .faults = {{"2102", "status_body", "202", 1}},
     .idle_after = true},
    {.resend_of = 4, .person = "stranger"},
    {.resend_of = 10, .person = "stranger"},
};

static uint32_t FLASH_BYTES = 32u * 1024u; /* --flash-kib */

typedef struct options {
    bool sim, ram;
    unsigned stride, offset, max_cases, sales, flash_kib;
    bool verbose;
} options;

typedef struct golden {
    unsigned steps;
    uint64_t start[MAX_STEPS + 1];    /* campaign offset of each step's first unit of work */
    uint8_t *image[MAX_STEPS];        /* flash before each step */
    char ledger[MAX_STEPS][PATH_MAX]; /* emulator ledger before each step */
} golden;

typedef struct campaign {
    options opt;
    emu e;
    term t;
    evt_ram_nor nor;
    bool use_ram;
    day_step steps[MAX_STEPS];
    unsigned nsteps;
    evt_order orders[MAX_STEPS];
    char *ok_keys;
    unsigned cases, cut_fired, failures;
    unsigned settled_after, refused_after, blocked_after;
} campaign;

static void build_day(campaign *c)
{
    unsigned n = 0;
    for (; n < sizeof scripted / sizeof scripted[0]; n++) {
        c->steps[n] = scripted[n];
    }
    static const char *const people[] = {"employee", "stranger", "parent"};
    for (unsigned i = 0; n < c->opt.sales && n < MAX_STEPS; i++, n++) {
        c->steps[n] = (day_step){.person = people[i % 3],
                                 .med = i % 3 == 2 ? AMLODIPINE : AMOXICILLIN,
                                 .price = i % 3 == 2 ? 2800 : 1250,
                                 .resend_of = -1};
    }
    c->nsteps = n;
    for (unsigned i = 0; i < c->nsteps; i++) {
        const day_step *sale =
            c->steps[i].resend_of >= 0 ? &c->steps[c->steps[i].resend_of] : &c->steps[i];
        char id[40];
        snprintf(id, sizeof id, "PC-%02u",
                 c->steps[i].resend_of >= 0 ? (unsigned)c->steps[i].resend_of : i);
        order_make(&c->orders[i], id, sale->med, "药品", 2, sale->price);
    }
}

static const day_step *sale_step(const campaign *c, unsigned i)
{
    const day_step *s = &c->steps[i];
    return s->resend_of >= 0 ? &c->steps[s->resend_of] : s;
}

static int start_terminal(campaign *c, const char *keys)
{
    term_options opt = {
        .keys = keys != NULL ? keys : c->ok_keys,
        .reuse_flash = true,
        .http_timeout_ms = HTTP_TIMEOUT,
        .flash_bytes = FLASH_BYTES,
        .nor = c->use_ram ? &c->nor : NULL,
        .keys_no_wait = true,
    };
    if (term_start(&c->t, &c->e, c->use_ram ? "pc-ram" : "pc-sim", &opt) != 0) {
        fprintf(stderr, "powercut: terminal did not start: %s\n", c->t.start_msg);
        term_stop(&c->t);
        return -1;
    }
    return 0;
}

static void queue_faults(campaign *c, const day_step *s)
{
    for (int k = 0; k < 2; k++) {
        if (s->faults[k].kind != NULL) {
            emu_fault(&c->e, s->faults[k].infno, s->faults[k].kind, s->faults[k].value,
                      s->faults[k].times);
        }
    }
}

static void show_code(campaign *c, const day_step *s)
{
    char code[128];
    if (emu_code(&c->e, s->person, s->holder, 120, code, sizeof code) == 0) {
        term_scan(&c->t, code);
    }
}

/* Would the terminal start this order (and so need a code)? As a POS finds out: status. */
static bool would_start(campaign *c, unsigned i)
{
    evt_ecr_result st;
    if (evt_app_order_status(c->t.app, c->orders[i].order_id, &st) != EVT_OK) {
        return true;
    }
    return st.status != EVT_ECR_SETTLED && st.status != EVT_ECR_UNKNOWN && !st.blocked;
}

/* One step as the counter lives it. */
static void run_step(campaign *c, unsigned i, evt_ecr_result *r)
{
    if (would_start(c, i)) {
        show_code(c, sale_step(c, i));
        queue_faults(c, &c->steps[i]);
    }
    evt_app_sale(c->t.app, &c->orders[i], r);
    if (c->steps[i].idle_after) {
        for (int k = 0; k < 10; k++) {
            bool quit = false;
            evt_app_step(c->t.app, 20, &quit);
        }
    }
}

static char *flash_file(campaign *c)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/term-pc-sim/flash.img", c->e.dir);
    return path;
}

static void flash_save(campaign *c, uint8_t *image)
{
    if (c->use_ram) {
        evt_ram_nor_save(&c->nor, image);
        return;
    }
    FILE *f = fopen(flash_file(c), "rb");
    if (f == NULL) {
        memset(image, 0xFF, FLASH_BYTES); /* a new terminal: blank flash */
        return;
    }
    if (fread(image, 1, FLASH_BYTES, f) != FLASH_BYTES) {
        fprintf(stderr, "powercut: cannot read the flash image\n");
        exit(2);
    }
    fclose(f);
}

static void flash_load(campaign *c, const uint8_t *image)
{
    if (c->use_ram) {
        evt_ram_nor_power_on(&c->nor);
        evt_ram_nor_load(&c->nor, image);
        return;
    }
    FILE *f = fopen(flash_file(c), "wb");
    if (f == NULL || fwrite(image, 1, FLASH_BYTES, f) != FLASH_BYTES) {
        fprintf(stderr, "powercut: cannot write the flash image\n");
        exit(2);
    }
    fclose(f);
}

static void record_golden(campaign *c, golden *g)
{
    if (c->use_ram) {
        evt_ram_nor_init(&c->nor, FLASH_BYTES, FLASH_SECTOR);
    }
    g->steps = c->nsteps;
    g->start[0] = 0;
    for (unsigned i = 0; i < c->nsteps; i++) {
        g->image[i] = malloc(FLASH_BYTES);
        flash_save(c, g->image[i]);
        snprintf(g->ledger[i], PATH_MAX, "%s/golden-%s-%02u.db", c->e.dir,
                 c->use_ram ? "ram" : "sim", i);
        if (emu_snapshot(&c->e, g->ledger[i], true) != 0 ||
            start_terminal(c, c->steps[i].keys) != 0) {
            exit(2);
        }
        uint64_t w0 = term_flash_work(&c->t);
        evt_ecr_result r;
        run_step(c, i, &r);
        g->start[i + 1] = g->start[i] + (term_flash_work(&c->t) - w0);
        term_stop(&c->t);
        emu_fault_clear(&c->e);
        if (c->opt.verbose) {
            printf("golden step %2u %-8s %-8s %-26s %llu units\n", i, c->orders[i].order_id,
                   evt_ecr_status_name(r.status), evt_err_name(r.error),
                   (unsigned long long)(g->start[i + 1] - g->start[i]));
        }
    }
}

/* After a cut and a reboot: every order of the day so far, against the ledger. */
static bool audit(campaign *c, unsigned upto, const char *what)
{
    bool ok = true;
    evt_app_figures fig;
    evt_app_get_figures(c->t.app, &fig);
    if (fig.reversals_pending != 0) {
        printf("FAIL %s: %u reversals still owed\n", what, (unsigned)fig.reversals_pending);
        ok = false;
    }
    for (unsigned i = 0; i <= upto && i < c->nsteps; i++) {
        if (c->steps[i].resend_of >= 0) {
            continue;
        }
        const char *id = c->orders[i].order_id;
        int live = 0, reversed = 0, cancelled = 0;
        if (emu_order_money(&c->e, id, &live, &reversed, &cancelled) != 0) {
            printf("FAIL %s: ledger audit failed\n", what);
            return false;
        }
        evt_ecr_result st;
        evt_err err = evt_app_order_status(c->t.app, id, &st);
        bool settled = err == EVT_OK && st.status == EVT_ECR_SETTLED;
        bool in_doubt = err == EVT_OK && st.status == EVT_ECR_UNKNOWN;
        if (live > 1 || (live == 1) != settled || in_doubt) {
            printf("FAIL %s: order %s live=%d reversed=%d terminal=%s (%s)\n", what, id, live,
                   reversed, err == EVT_OK ? evt_ecr_status_name(st.status) : "no record",
                   err == EVT_OK ? evt_err_name(st.error) : evt_err_name(err));
            ok = false;
        }
    }
    return ok;
}

static void deliver_reversals(campaign *c)
{
    evt_app_figures fig;
    evt_app_get_figures(c->t.app, &fig);
    for (int k = 0; k < 40 && fig.reversals_pending > 0; k++) {
        bool quit = false;
        evt_app_step(c->t.app, 20, &quit);
        evt_app_get_figures(c->t.app, &fig);
    }
}

static void run_case(campaign *c, const golden *g, uint64_t cut, int mode)
{
    unsigned i = 0;
    while (i + 1 < g->steps && g->start[i + 1] <= cut) {
        i++;
    }
    c->cases++;
    /* the day so far, as the golden run left it: flash and ledger */
    flash_load(c, g->image[i]);
    if (emu_snapshot(&c->e, g->ledger[i], false) != 0 || start_terminal(c, c->steps[i].keys) != 0) {
        printf("FAIL cut %llu: could not restore step %u\n", (unsigned long long)cut, i);
        c->failures++;
        return;
    }
    uint64_t budget = cut - g->start[i];
    if (c->use_ram) {
        evt_ram_nor_arm_cut(&c->nor, budget, (evt_ram_nor_cut_mode)mode, (uint32_t)cut);
    } else {
        evt_sim_storage_inject_power_cut(c->t.flash, budget, (evt_sim_cut_mode)mode, (uint32_t)cut);
    }
    evt_ecr_result r;
    run_step(c, i, &r);
    c->cut_fired += c->use_ram ? c->nor.cuts > 0 : evt_sim_storage_is_cut(c->t.flash);
    /* power back: reboot from the flash as the cut left it; the platform is reachable */
    term_stop(&c->t);
    emu_fault_clear(&c->e);
    if (c->use_ram) {
        evt_ram_nor_power_on(&c->nor);
    }
    char what[96];
    snprintf(what, sizeof what, "%s cut %llu (step %u +%llu, mode %d)", c->use_ram ? "ram" : "sim",
             (unsigned long long)cut, i, (unsigned long long)budget, mode);
    if (start_terminal(c, NULL) != 0) {
        printf("FAIL %s: the terminal did not start after the cut\n", what);
        c->failures++;
        return;
    }
    deliver_reversals(c);
    bool ok = audit(c, i, what);
    /* the POS re-sends the order in flight: it ends settled, or provably without money */
    if (would_start(c, i)) {
        show_code(c, sale_step(c, i));
    }
    evt_ecr_result again;
    evt_app_sale(c->t.app, &c->orders[i], &again);
    deliver_reversals(c);
    ok = audit(c, i, what) && ok;
    c->settled_after += again.status == EVT_ECR_SETTLED;
    c->blocked_after += again.blocked;
    c->refused_after += again.status != EVT_ECR_SETTLED && !again.blocked;
    if (!ok) {
        c->failures++;
    }
    term_stop(&c->t);
}

static int parse_options(int argc, char **argv, options *o)
{
    *o = (options){
        .sim = true, .ram = true, .stride = 61, .max_cases = 0, .sales = 30, .flash_kib = 32};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--storage") == 0 && v) {
            o->sim = strcmp(v, "ram") != 0;
            o->ram = strcmp(v, "sim") != 0;
            i++;
        } else if (strcmp(a, "--stride") == 0 && v) {
            o->stride = (unsigned)atoi(v);
            i++;
        } else if (strcmp(a, "--offset") == 0 && v) {
            o->offset = (unsigned)atoi(v);
            i++;
        } else if (strcmp(a, "--max-cases") == 0 && v) {
            o->max_cases = (unsigned)atoi(v);
            i++;
        } else if (strcmp(a, "--flash-kib") == 0 && v) {
            o->flash_kib = (unsigned)atoi(v);
            i++;
        } else if (strcmp(a, "--sales") == 0 && v) {
            o->sales = (unsigned)atoi(v);
            i++;
        } else if (strcmp(a, "--verbose") == 0) {
            o->verbose = true;
        } else {
            fprintf(stderr, "usage: powercut [--storage sim|ram|both] [--stride N] [--offset K] "
                            "[--max-cases N] [--sales N] [--verbose]\n");
            return -1;
        }
    }
    if (o->stride == 0 || o->sales > MAX_STEPS || o->flash_kib < 16 || o->flash_kib > 1024 ||
        o->flash_kib % 4 != 0) {
        return -1;
    }
    FLASH_BYTES = o->flash_kib * 1024u;
    return 0;
}

int main(int argc, char **argv)
{
    static campaign c;
    if (parse_options(argc, argv, &c.opt) != 0) {
        return 2;
    }
    build_day(&c);
    c.ok_keys = malloc(8 * 200 + 1);
    c.ok_keys[0] = '\0';
    for (int i = 0; i < 200; i++) {
        strcat(c.ok_keys, " => OK\n");
    }
    if (emu_start(&c.e, "powercut") != 0) {
        return 2;
    }
    static char base_ledger[PATH_MAX];
    snprintf(base_ledger, sizeof base_ledger, "%s/base.db", c.e.dir);
    emu_snapshot(&c.e, base_ledger, true);
    for (int storage = 0; storage < 2; storage++) {
        if ((storage == 0 && !c.opt.sim) || (storage == 1 && !c.opt.ram)) {
            continue;
        }
        c.use_ram = storage == 1;
        emu_snapshot(&c.e, base_ledger, false); /* each storage's day starts on the seed */
        static golden g;
        memset(&g, 0, sizeof g);
        record_golden(&c, &g);
        uint64_t total = g.start[g.steps];
        int modes = c.use_ram ? 3 : 2;
        unsigned before = c.cases, fails = c.failures, fired = c.cut_fired;
        unsigned n = 0;
        for (uint64_t cut = c.opt.offset; cut < total; cut += c.opt.stride, n++) {
            if (c.opt.max_cases && n >= c.opt.max_cases) {
                break;
            }
            run_case(&c, &g, cut, (int)(n % (unsigned)modes));
        }
        printf("powercut %s: %u steps, %llu units of flash work, %u cut points (stride %u), "
               "%u fired, %u failed\n",
               c.use_ram ? "ram-nor" : "sim-flash", g.steps, (unsigned long long)total,
               c.cases - before, c.opt.stride, c.cut_fired - fired, c.failures - fails);
        for (unsigned i = 0; i < g.steps; i++) {
            free(g.image[i]);
        }
        if (c.use_ram) {
            evt_ram_nor_free(&c.nor);
        }
    }
    emu_stop(&c.e);
    printf("powercut: %u cases, %u cuts fired; after the POS resend %u settled, %u refused, "
           "%u blocked for a supervisor; %u cases lost, doubled or left unresolved money\n",
           c.cases, c.cut_fired, c.settled_after, c.refused_after, c.blocked_after, c.failures);
    return c.failures == 0 ? 0 : 1;
}
