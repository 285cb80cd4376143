/*
 * Network-fault campaign: one fault at a chosen byte of a chosen connection and direction of a
 * sale, injected by a proxy on loopback between the terminal and the platform emulator
 * (tests/support/fault_proxy: cut, stall, corrupt, duplicate). The traffic is TLS, so a
 * corrupted or duplicated byte makes the record layer fail; every failure must end in a clear
 * result and correct money. After each case the emulator's ledger is audited exactly as in the
 * power-cut campaign:
 *   zero double     — no order has more than one settlement standing;
 *   zero lost       — an order has a settlement standing iff the terminal says it settled;
 *   zero unresolved — no reversal owed, no order in doubt, once the platform is reachable and
 *                     the POS re-sent the order.
 *
 * Two golden runs, without faults, measure the bytes of every connection and direction:
 *   sale      ec.query, 1101, 2101, 2102 of one sale (one kept-alive connection);
 *   reversal  the same sale with the 2102's answer cut by the emulator (close_mid), so the
 *             terminal sends a 2601 on a connection of its own: the proxy's fault is swept
 *             over that connection.
 * Each case: the ledger restored, a terminal on fresh flash (signed in through the proxy, which
 * passes everything then), the fault armed, the sale; then the proxy out of the way, the idle
 * loop delivers owed reversals, audit; the POS re-sends the order, audit again.
 *
 *   netfault [--stride N] [--offset K] [--max-cases N] [--kinds cut,stall,corrupt,duplicate]
 *            [--phases sale,reversal] [--case KIND,PHASE,up|down,CONN,OFFSET] [--verbose]
 *
 * Prints one line per failing case (with its --case to rerun it) and a summary; exit 0 only
 * when every case held.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fault_proxy.h"
#include "harness.h"
#include "ram_nor.h"

#define AMOXICILLIN "XJ01CAA040A001010100001"
/* Short timeouts keep a stalled case short; a stall outlasts both by a margin, so the terminal
 * gives up before the proxy closes. */
#define TIMEOUT_MS   1000u
#define STALL_MS     1500u
#define IDLE_WAIT    20000 /* the proxy and the emulator are done with every connection */
#define MAX_CONNS    8
#define FLASH_BYTES  (64u * 1024u)
#define FLASH_SECTOR 4096u
#define NKINDS       4
#define NPHASES      2

typedef enum phase_id { PHASE_SALE, PHASE_REVERSAL } phase_id;
static const char *const phase_names[NPHASES] = {"sale", "reversal"};
static const char *const dir_names[2] = {"up", "down"};

typedef struct golden {
    unsigned conns;
    uint64_t bytes[MAX_CONNS][2];
    fault_turn turns[MAX_CONNS][FAULT_PROXY_MAX_TURNS];
    unsigned nturns[MAX_CONNS];
    unsigned first_swept; /* reversal: only the 2601's connection is swept */
} golden;

typedef struct tally {
    unsigned cases, fired;
    unsigned settled, reversed, unknown, refused, blocked; /* the faulted attempt */
    unsigned again_settled, again_refused, again_blocked;  /* after the POS re-sent it */
    unsigned failures;
} tally;

typedef struct options {
    unsigned stride, offset, max_cases;
    bool kinds[NKINDS + 1];
    bool phases[NPHASES];
    bool verbose;
    bool one_case;
    fault_spec only;
    phase_id only_phase;
} options;

typedef struct campaign {
    options opt;
    emu e;
    term t;
    evt_ram_nor nor; /* the journal's flash: the medium is not what this campaign is about */
    fault_proxy *proxy;
    char base_ledger[PATH_MAX];
    char *ok_keys;
    golden gold[NPHASES];
    tally by[NPHASES][2][NKINDS + 1];
    tally by_turn[NPHASES][MAX_CONNS][FAULT_PROXY_MAX_TURNS]; /* all kinds together */
    unsigned cases;
    unsigned order_seq;
} campaign;

static campaign *running; /* for the clean-up when the campaign gives up */

static void need(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "netfault: %s\n", what);
        exit(2);
    }
}

/* Interrupted (a long run stopped by hand): the emulator goes too. */
static void on_signal(int sig)
{
    if (running != NULL && running->e.pid > 0) {
        kill(running->e.pid, SIGTERM);
    }
    _exit(128 + sig);
}

/* The emulator is a separate process: it must not outlive a campaign that gave up. */
static void clean_up(void)
{
    if (running != NULL) {
        fault_proxy_stop(running->proxy);
        running->proxy = NULL;
        emu_stop(&running->e);
    }
}

/* The counter's state at the start of every case: the seeded ledger, a new terminal on fresh
 * flash, signed in through the proxy (which forwards everything). */
static int start_terminal(campaign *c)
{
    evt_ram_nor_free(&c->nor);
    need(evt_ram_nor_init(&c->nor, FLASH_BYTES, FLASH_SECTOR) == EVT_OK, "no memory for the flash");
    term_options opt = {
        .keys = c->ok_keys,
        .port = fault_proxy_port(c->proxy),
        .http_timeout_ms = TIMEOUT_MS,
        .connect_timeout_ms = TIMEOUT_MS,
        .nor = &c->nor,
        .no_receipt_preview = true,
    };
    fault_proxy_arm(c->proxy, NULL);
    if (emu_snapshot(&c->e, c->base_ledger, false) != 0 ||
        term_start(&c->t, &c->e, "nf", &opt) != 0) {
        fprintf(stderr, "netfault: terminal did not start: %s\n", c->t.start_msg);
        term_stop(&c->t);
        return -1;
    }
    return fault_proxy_wait_idle(c->proxy, IDLE_WAIT) ? 0 : -1;
}

static void show_code(campaign *c)
{
    char code[128];
    need(emu_code(&c->e, "employee", NULL, 120, code, sizeof code) == 0,
         "no code from the emulator");
    term_scan(&c->t, code);
}

/* The sale of one case: the trigger of the phase queued at the emulator, the fault armed. */
static void faulted_sale(campaign *c, phase_id ph, const fault_spec *f, const evt_order *o,
                         evt_ecr_result *r)
{
    if (ph == PHASE_REVERSAL) {
        need(emu_fault(&c->e, "2102", "close_mid", NULL, 1) == 0, "emulator fault not queued");
    }
    show_code(c);
    fault_proxy_arm(c->proxy, f);
    evt_app_sale(c->t.app, o, r);
}

/* The proxy out of the way: it forwards everything, and every connection of the fault is over
 * at both ends (the emulator finished what it received). */
static bool proxy_out_of_the_way(campaign *c, phase_id ph)
{
    fault_proxy_disarm(c->proxy);
    bool idle = fault_proxy_wait_idle(c->proxy, IDLE_WAIT);
    if (ph == PHASE_REVERSAL) {
        emu_fault_clear(&c->e); /* the trigger, when the fault came before the 2102 */
    }
    return idle;
}

static void order_next(campaign *c, evt_order *o)
{
    char id[40];
    snprintf(id, sizeof id, "NF-%u", ++c->order_seq);
    order_make(o, id, AMOXICILLIN, "阿莫西林胶囊", 2, 1250);
}

static void record_golden(campaign *c, phase_id ph)
{
    golden *g = &c->gold[ph];
    need(start_terminal(c) == 0, "golden: terminal did not start");
    evt_order o;
    order_next(c, &o);
    evt_ecr_result r;
    fault_spec none = {.kind = FAULT_NONE};
    faulted_sale(c, ph, &none, &o, &r);
    need(proxy_out_of_the_way(c, ph), "golden: proxy not idle");
    g->conns = fault_proxy_connections(c->proxy);
    need(g->conns > 0 && g->conns <= MAX_CONNS, "golden: unexpected number of connections");
    for (unsigned k = 0; k < g->conns; k++) {
        g->bytes[k][FAULT_UP] = fault_proxy_bytes(c->proxy, k, FAULT_UP);
        g->bytes[k][FAULT_DOWN] = fault_proxy_bytes(c->proxy, k, FAULT_DOWN);
        g->nturns[k] = fault_proxy_turns(c->proxy, k, g->turns[k], FAULT_PROXY_MAX_TURNS);
    }
    if (ph == PHASE_SALE) {
        need(r.status == EVT_ECR_SETTLED, "golden sale did not settle");
        g->first_swept = 0;
    } else {
        /* the 2102's answer cut, the 2601 on a fresh connection acknowledged: failed, reversed */
        need(r.status == EVT_ECR_FAILED && strstr(r.message, "已冲正") != NULL && g->conns == 2,
             "golden reversal did not reverse on a second connection");
        g->first_swept = 1;
    }
    need(audit_no_reversal_owed(&c->t, "golden") && audit_order(&c->e, &c->t, o.order_id, "golden"),
         "golden run fails its own audit");
    for (unsigned k = 0; k < g->conns; k++) {
        printf("golden %-8s connection %u: %6llu bytes up, %6llu bytes down%s\n", phase_names[ph],
               k, (unsigned long long)g->bytes[k][FAULT_UP],
               (unsigned long long)g->bytes[k][FAULT_DOWN],
               k < g->first_swept ? " (not swept)" : "");
        for (unsigned i = 0; i < g->nturns[k]; i++) {
            const fault_turn *tu = &g->turns[k][i];
            printf("  turn %2u %-4s bytes %5llu-%5llu (%llu)\n", i, dir_names[tu->dir],
                   (unsigned long long)tu->from, (unsigned long long)tu->to - 1,
                   (unsigned long long)(tu->to - tu->from));
        }
    }
    term_stop(&c->t);
}

/* A result the POS and the cashier can act on: a known status, an error code unless settled. */
static bool clear_result(const evt_ecr_result *r)
{
    if (r->status == EVT_ECR_SETTLED) {
        return r->error == EVT_OK && r->setl_id[0] != '\0';
    }
    return (r->status == EVT_ECR_REFUSED || r->status == EVT_ECR_FAILED ||
            r->status == EVT_ECR_UNKNOWN) &&
           r->error != EVT_OK;
}

/* Which turn of the golden run the fault's byte is in (MAX_TURNS when beyond them). */
static unsigned turn_of(const golden *g, const fault_spec *f)
{
    for (unsigned i = 0; i < g->nturns[f->conn]; i++) {
        const fault_turn *tu = &g->turns[f->conn][i];
        if (tu->dir == f->dir && f->offset >= tu->from && f->offset < tu->to) {
            return i;
        }
    }
    return FAULT_PROXY_MAX_TURNS;
}

static void run_case_into(campaign *c, phase_id ph, const fault_spec *f, tally *tl)
{
    char what[128];
    snprintf(what, sizeof what, "--case %s,%s,%s,%u,%llu", fault_kind_name(f->kind),
             phase_names[ph], dir_names[f->dir], f->conn, (unsigned long long)f->offset);
    if (start_terminal(c) != 0) {
        printf("FAIL %s: could not start the case\n", what);
        tl->failures++;
        return;
    }
    evt_order o;
    order_next(c, &o);
    evt_ecr_result r;
    faulted_sale(c, ph, f, &o, &r);
    bool fired = fault_proxy_fired(c->proxy);
    tl->fired += fired;
    bool ok = true;
    if (!proxy_out_of_the_way(c, ph)) {
        printf("FAIL %s: a connection stayed open after the case\n", what);
        ok = false;
    }
    if (!clear_result(&r)) {
        printf("FAIL %s: unclear result %s (%s)\n", what, evt_ecr_status_name(r.status),
               evt_err_name(r.error));
        ok = false;
    }
    term_deliver_reversals(&c->t, 10);
    ok = audit_no_reversal_owed(&c->t, what) && ok;
    ok = audit_order(&c->e, &c->t, o.order_id, what) && ok;
    int live = 0, reversed = 0, cancelled = 0;
    emu_order_money(&c->e, o.order_id, &live, &reversed, &cancelled);
    if (r.status == EVT_ECR_SETTLED) {
        tl->settled++;
    } else if (r.blocked) {
        tl->blocked++;
    } else if (reversed > 0) {
        tl->reversed++;
        tl->unknown += r.status == EVT_ECR_UNKNOWN;
    } else {
        tl->refused++;
    }

    /* the POS re-sends the order: it ends settled, or provably without money */
    if (term_would_start(&c->t, o.order_id)) {
        show_code(c);
    }
    evt_ecr_result again;
    evt_app_sale(c->t.app, &o, &again);
    if (!proxy_out_of_the_way(c, ph)) {
        printf("FAIL %s: a connection stayed open after the resend\n", what);
        ok = false;
    }
    term_deliver_reversals(&c->t, 10);
    ok = audit_no_reversal_owed(&c->t, what) && ok;
    ok = audit_order(&c->e, &c->t, o.order_id, what) && ok;
    tl->again_settled += again.status == EVT_ECR_SETTLED;
    tl->again_blocked += again.blocked;
    tl->again_refused += again.status != EVT_ECR_SETTLED && !again.blocked;
    if (c->opt.verbose) {
        printf("%s: fired=%d first=%s/%s%s reversed=%d again=%s live=%d\n", what, fired,
               evt_ecr_status_name(r.status), evt_err_name(r.error), r.blocked ? "/blocked" : "",
               reversed, evt_ecr_status_name(again.status), live);
    }
    if (!ok) {
        tl->failures++;
    }
    term_stop(&c->t);
}

static void add(tally *sum, const tally *t);

static void run_case(campaign *c, phase_id ph, const fault_spec *f)
{
    tally one = {.cases = 1}, *tl = &one;
    c->cases++;
    run_case_into(c, ph, f, tl);
    add(&c->by[ph][f->dir][f->kind], tl);
    unsigned turn = turn_of(&c->gold[ph], f);
    if (f->conn < MAX_CONNS && turn < FAULT_PROXY_MAX_TURNS) {
        add(&c->by_turn[ph][f->conn][turn], tl);
    }
}

static void sweep(campaign *c, phase_id ph)
{
    const golden *g = &c->gold[ph];
    for (unsigned conn = g->first_swept; conn < g->conns; conn++) {
        for (int dir = FAULT_UP; dir <= FAULT_DOWN; dir++) {
            for (uint64_t off = c->opt.offset; off < g->bytes[conn][dir]; off += c->opt.stride) {
                for (int kind = FAULT_CUT; kind <= FAULT_DUPLICATE; kind++) {
                    if (!c->opt.kinds[kind]) {
                        continue;
                    }
                    if (c->opt.max_cases && c->cases >= c->opt.max_cases) {
                        return;
                    }
                    fault_spec f = {.kind = (fault_kind)kind,
                                    .conn = conn,
                                    .dir = (fault_dir)dir,
                                    .offset = off,
                                    .stall_ms = STALL_MS};
                    run_case(c, ph, &f);
                }
            }
        }
    }
}

static bool parse_case(const char *v, options *o)
{
    char kind[16], phase[16], dir[8];
    unsigned conn;
    unsigned long long off;
    if (sscanf(v, "%15[a-z],%15[a-z],%7[a-z],%u,%llu", kind, phase, dir, &conn, &off) != 5) {
        return false;
    }
    o->only = (fault_spec){.kind = fault_kind_parse(kind),
                           .conn = conn,
                           .dir = strcmp(dir, "down") == 0 ? FAULT_DOWN : FAULT_UP,
                           .offset = off,
                           .stall_ms = STALL_MS};
    o->only_phase = strcmp(phase, "reversal") == 0 ? PHASE_REVERSAL : PHASE_SALE;
    o->one_case = true;
    return o->only.kind != FAULT_NONE;
}

static int parse_options(int argc, char **argv, options *o)
{
    *o = (options){.stride = 1, .kinds = {false, true, true, true, true}, .phases = {true, true}};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (strcmp(a, "--verbose") == 0) {
            o->verbose = true;
            continue;
        }
        if (v == NULL) {
            ok = false;
        } else if (strcmp(a, "--stride") == 0) {
            o->stride = (unsigned)atoi(v);
        } else if (strcmp(a, "--offset") == 0) {
            o->offset = (unsigned)atoi(v);
        } else if (strcmp(a, "--max-cases") == 0) {
            o->max_cases = (unsigned)atoi(v);
        } else if (strcmp(a, "--kinds") == 0) {
            for (int k = 1; k <= NKINDS; k++) {
                o->kinds[k] = strstr(v, fault_kind_name((fault_kind)k)) != NULL;
            }
        } else if (strcmp(a, "--phases") == 0) {
            o->phases[PHASE_SALE] = strstr(v, "sale") != NULL;
            o->phases[PHASE_REVERSAL] = strstr(v, "reversal") != NULL;
        } else if (strcmp(a, "--case") == 0) {
            ok = parse_case(v, o);
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "usage: netfault [--stride N] [--offset K] [--max-cases N] "
                            "[--kinds cut,stall,corrupt,duplicate] [--phases sale,reversal] "
                            "[--case KIND,PHASE,up|down,CONN,OFFSET] [--verbose]\n");
            return -1;
        }
        i++;
    }
    return o->stride == 0 ? -1 : 0;
}

static void add(tally *sum, const tally *t)
{
    sum->cases += t->cases;
    sum->fired += t->fired;
    sum->settled += t->settled;
    sum->reversed += t->reversed;
    sum->unknown += t->unknown;
    sum->refused += t->refused;
    sum->blocked += t->blocked;
    sum->again_settled += t->again_settled;
    sum->again_refused += t->again_refused;
    sum->again_blocked += t->again_blocked;
    sum->failures += t->failures;
}

static void print_row(const char *label, const tally *t)
{
    printf("%-28s %6u %6u %7u %8u %7u %7u %7u | %7u %7u %7u | %5u\n", label, t->cases, t->fired,
           t->settled, t->reversed, t->unknown, t->refused, t->blocked, t->again_settled,
           t->again_refused, t->again_blocked, t->failures);
}

static void report(const campaign *c, long seconds)
{
    printf("\n%-28s %6s %6s %7s %8s %7s %7s %7s | %7s %7s %7s | %5s\n", "phase dir kind", "cases",
           "fired", "settled", "reversed", "unknown", "refused", "blocked", "settled", "refused",
           "blocked", "bad");
    tally total = {0};
    tally per_kind[NKINDS + 1] = {{0}};
    for (int ph = 0; ph < NPHASES; ph++) {
        for (int d = 0; d < 2; d++) {
            for (int k = 1; k <= NKINDS; k++) {
                const tally *t = &c->by[ph][d][k];
                if (t->cases == 0) {
                    continue;
                }
                char label[40];
                snprintf(label, sizeof label, "%s %s %s", phase_names[ph], dir_names[d],
                         fault_kind_name((fault_kind)k));
                print_row(label, t);
                add(&total, t);
                add(&per_kind[k], t);
            }
        }
    }
    for (int k = 1; k <= NKINDS; k++) {
        if (per_kind[k].cases > 0) {
            print_row(fault_kind_name((fault_kind)k), &per_kind[k]);
        }
    }
    print_row("all", &total);
    printf("\nby turn of the golden run (all kinds; a turn is what flowed one way until the "
           "other side spoke)\n");
    for (int ph = 0; ph < NPHASES; ph++) {
        const golden *g = &c->gold[ph];
        for (unsigned k = 0; k < g->conns; k++) {
            for (unsigned i = 0; i < g->nturns[k]; i++) {
                const tally *t = &c->by_turn[ph][k][i];
                if (t->cases == 0) {
                    continue;
                }
                const fault_turn *tu = &g->turns[k][i];
                char label[48];
                snprintf(label, sizeof label, "%s c%u t%u %s %llu-%llu", phase_names[ph], k, i,
                         dir_names[tu->dir], (unsigned long long)tu->from,
                         (unsigned long long)tu->to - 1);
                print_row(label, t);
            }
        }
    }
    for (int k = 1; k <= NKINDS; k++) {
        const tally *t = &per_kind[k];
        if (t->cases > 0) {
            printf("netfault %s: %u cases (%u fired): %u settled, %u failed and reversed (%u of "
                   "them first unknown), %u refused before money moved, %u blocked; after the "
                   "POS resend %u settled, %u refused, %u blocked; %u lost, doubled or "
                   "unresolved\n",
                   fault_kind_name((fault_kind)k), t->cases, t->fired, t->settled, t->reversed,
                   t->unknown, t->refused, t->blocked, t->again_settled, t->again_refused,
                   t->again_blocked, t->failures);
        }
    }
    printf("netfault: %u cases (stride %u, offset %u) in %ld s; %u lost, doubled or left "
           "unresolved money\n",
           total.cases, c->opt.stride, c->opt.offset, seconds, total.failures);
}

int main(int argc, char **argv)
{
    static campaign c;
    if (parse_options(argc, argv, &c.opt) != 0) {
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* a long run shows its failures as they happen */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    c.ok_keys = keys_ok_to_everything(200);
    running = &c;
    atexit(clean_up);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    need(emu_start(&c.e, "netfault") == 0, "emulator did not start");
    c.proxy = fault_proxy_start(c.e.port);
    need(c.proxy != NULL, "fault proxy did not start");
    snprintf(c.base_ledger, sizeof c.base_ledger, "%s/base.db", c.e.dir);
    need(emu_snapshot(&c.e, c.base_ledger, true) == 0, "ledger snapshot failed");
    for (int ph = 0; ph < NPHASES; ph++) {
        if (c.opt.one_case ? c.opt.only_phase == (phase_id)ph : c.opt.phases[ph]) {
            record_golden(&c, (phase_id)ph);
        }
    }
    if (c.opt.one_case) {
        c.opt.verbose = true;
        run_case(&c, c.opt.only_phase, &c.opt.only);
    } else {
        for (int ph = 0; ph < NPHASES; ph++) {
            if (c.opt.phases[ph]) {
                sweep(&c, (phase_id)ph);
            }
        }
    }
    clean_up();
    free(c.ok_keys);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    report(&c, (long)(t1.tv_sec - t0.tv_sec));
    unsigned failures = 0;
    for (int ph = 0; ph < NPHASES; ph++) {
        for (int d = 0; d < 2; d++) {
            for (int k = 0; k <= NKINDS; k++) {
                failures += c.by[ph][d][k].failures;
            }
        }
    }
    return failures == 0 ? 0 : 1;
}
