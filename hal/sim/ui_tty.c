/* evt_sim_ui: framed text screens on a FILE*, transcript file, keys from a tty or a script. */
#include "evt_sim/ui_tty.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "evt_common/ui_text.h"
#include "sim_util.h"

#define DEFAULT_HISTORY 32u
/* The scripted cashier reads a screen for this long before pressing its keys: longer than
 * any guard the firmware puts on a confirmation (EVT_UI_MONEY_CONFIRM_DWELL_MS, 500 ms), so
 * scripts need no timing of their own. */
#define DEFAULT_REACTION_MS 1000u
/* Typed-ahead bytes taken in when a screen is drawn: a pipe holds 64 KiB, a tty 4 KiB. */
#define DRAIN_CHUNK     512
#define DRAIN_MAX_READS 128

typedef struct script_step {
    char *match; /* text that must be on screen; "" matches any screen */
    evt_key_event *keys;
    size_t key_count;
    unsigned line_no;
} script_step;

struct evt_sim_ui {
    evt_hal_ui hal;
    const evt_hal_sys *clock; /* key stamps; NULL = CLOCK_MONOTONIC */
    uint64_t shown_ms;        /* when the last screen went out */
    FILE *out;
    FILE *transcript;
    /* screens: ring of the last history screens */
    evt_ui_screen *ring;
    size_t history;
    size_t shown;
    /* interactive */
    int key_fd;
    bool restore_tty;
    struct termios saved_tio;
    evt_ui_text_keys keys; /* typed bytes -> keys (shared with the UART console) */
    /* scripted */
    bool scripted;
    uint32_t reaction_ms;
    script_step *steps;
    size_t step_count;
    size_t step;     /* current step */
    size_t step_key; /* next key within it (0: not started, match required) */
    bool quit_sent;
    bool no_wait;
    uint32_t stall_limit;
    uint32_t stalls;
    bool stalled;
};

/* ---- screen formatting: shared with the other text-terminal boards (evt_ui_text) ---- */

evt_err evt_sim_ui_format(const evt_ui_screen *screen, char *buf, size_t cap)
{
    return evt_ui_text_format(screen, buf, cap);
}

bool evt_sim_ui_screen_contains(const evt_ui_screen *screen, const char *text)
{
    return evt_ui_text_contains(screen, text);
}

/* The board's monotonic clock, the one the firmware compares key stamps with. */
static uint64_t now_ms(const evt_sim_ui *ui)
{
    return ui->clock != NULL ? ui->clock->monotonic_ms(ui->clock->ctx) : evt_sim_util_now_ms();
}

static void drain_typed_ahead(evt_sim_ui *ui, uint64_t stamp_ms);

static evt_err ui_show(void *ctx, const evt_ui_screen *screen)
{
    evt_sim_ui *ui = ctx;
    if (screen == NULL) {
        return EVT_ERR_ARG;
    }
    const evt_ui_screen *prev = evt_sim_ui_screen(ui, 0);
    /* A different screen may be what the script waits for: restart the stall count. A
     * firmware redrawing the same screen (a countdown tick) must still be able to stall. */
    if (prev == NULL || memcmp(prev, screen, sizeof *screen) != 0) {
        ui->stalls = 0;
    }
    ui->ring[ui->shown % ui->history] = *screen;
    ui->shown++;
    char block[EVT_UI_TEXT_BLOCK_BYTES];
    evt_err err = evt_ui_text_format(screen, block, sizeof block);
    if (err != EVT_OK) {
        return err;
    }
    if (ui->out != NULL) {
        fputs(block, ui->out);
        fflush(ui->out);
    }
    if (ui->transcript != NULL) {
        fprintf(ui->transcript, "--- screen %zu ---\n%s", ui->shown, block);
        fflush(ui->transcript);
    }
    /* The screen is out. Whatever the cashier typed up to now was typed before it. */
    ui->shown_ms = now_ms(ui);
    if (ui->key_fd >= 0) {
        drain_typed_ahead(ui, ui->shown_ms);
    }
    return EVT_OK;
}

/* ---- keys ---------------------------------------------------------------------------- */

/* Takes in the bytes already waiting in key_fd, stamped stamp_ms (when the screen went out):
 * read later, they would look as if they were typed after the screen. End of input is left
 * for interactive_key to report as QUIT. */
static void drain_typed_ahead(evt_sim_ui *ui, uint64_t stamp_ms)
{
    for (unsigned reads = 0; reads < DRAIN_MAX_READS; reads++) {
        struct pollfd pfd = {.fd = ui->key_fd, .events = POLLIN};
        if (poll(&pfd, 1, 0) <= 0 || (pfd.revents & POLLIN) == 0) {
            return;
        }
        unsigned char bytes[DRAIN_CHUNK];
        ssize_t n = read(ui->key_fd, bytes, sizeof bytes);
        if (n <= 0) {
            return;
        }
        for (ssize_t i = 0; i < n; i++) {
            evt_ui_text_feed(&ui->keys, bytes[i], stamp_ms);
        }
    }
}

static evt_err interactive_key(evt_sim_ui *ui, uint32_t timeout_ms, evt_key_event *out)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (evt_ui_text_next(&ui->keys, out)) {
            return EVT_OK;
        }
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        int64_t elapsed =
            (int64_t)(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        int64_t left = (int64_t)timeout_ms - elapsed;
        if (left < 0) {
            left = 0;
        }
        struct pollfd pfd = {.fd = ui->key_fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)(left > INT32_MAX ? INT32_MAX : left));
        if (pr < 0 && errno == EINTR) {
            continue;
        }
        if (pr <= 0) {
            return EVT_ERR_TIMEOUT;
        }
        unsigned char bytes[64];
        ssize_t n = read(ui->key_fd, bytes, sizeof bytes);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n <= 0) {
            /* The keyboard went away (stdin closed): the sim has nobody to serve. */
            ui->key_fd = -1;
            *out = (evt_key_event){.key = EVT_KEY_QUIT, .pressed_ms = now_ms(ui)};
            return EVT_OK;
        }
        /* Read as soon as it arrived (poll woke us): the moment it was pressed. */
        uint64_t pressed_ms = now_ms(ui);
        for (ssize_t i = 0; i < n; i++) {
            evt_ui_text_feed(&ui->keys, bytes[i], pressed_ms);
        }
        if (ui->keys.len == 0 && left == 0) {
            return EVT_ERR_TIMEOUT;
        }
    }
}

static evt_err scripted_key(evt_sim_ui *ui, uint32_t timeout_ms, evt_key_event *out)
{
    if (ui->step >= ui->step_count) {
        if (!ui->quit_sent) {
            ui->quit_sent = true;
            *out = (evt_key_event){.key = EVT_KEY_QUIT, .pressed_ms = now_ms(ui)};
            return EVT_OK;
        }
    } else {
        script_step *st = &ui->steps[ui->step];
        const evt_ui_screen *cur = evt_sim_ui_screen(ui, 0);
        /* The match is checked when a line starts; the rest of its keys follow even though the
         * firmware redraws the screen after each digit. */
        if (ui->step_key > 0 || (cur != NULL && evt_sim_ui_screen_contains(cur, st->match))) {
            *out = st->keys[ui->step_key++];
            /* Pressed by a cashier who first read the screen: never sooner than reaction_ms
             * after it appeared, and never before now. No real sleep: only the stamp says so. */
            uint64_t now = now_ms(ui);
            uint64_t read_by = ui->shown_ms + ui->reaction_ms;
            out->pressed_ms = now > read_by ? now : read_by;
            if (ui->step_key == st->key_count) {
                ui->step++;
                ui->step_key = 0;
            }
            ui->stalls = 0;
            return EVT_OK;
        }
        if (ui->stall_limit != 0 && ++ui->stalls >= ui->stall_limit) {
            fprintf(stderr,
                    "evt_sim_ui: script stalled at line %u: waiting for \"%s\" on screen "
                    "\"%s\"\n",
                    st->line_no, st->match, cur != NULL ? cur->title : "(none)");
            ui->stalled = true;
            ui->step = ui->step_count;
            ui->quit_sent = true;
            *out = (evt_key_event){.key = EVT_KEY_QUIT, .pressed_ms = now_ms(ui)};
            return EVT_OK;
        }
    }
    if (!ui->no_wait) {
        evt_sim_util_sleep_ms(timeout_ms);
    }
    return EVT_ERR_TIMEOUT;
}

static evt_err ui_read_key(void *ctx, uint32_t timeout_ms, evt_key_event *out)
{
    evt_sim_ui *ui = ctx;
    if (out == NULL) {
        return EVT_ERR_ARG;
    }
    *out = (evt_key_event){.key = EVT_KEY_NONE};
    if (ui->scripted) {
        return scripted_key(ui, timeout_ms, out);
    }
    if (ui->key_fd >= 0) {
        return interactive_key(ui, timeout_ms, out);
    }
    evt_sim_util_sleep_ms(timeout_ms);
    return EVT_ERR_TIMEOUT;
}

/* ---- script parsing ------------------------------------------------------------------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) {
        s[--n] = 0;
    }
    return s;
}

static bool parse_action(const char *action, script_step *st)
{
    static const struct {
        const char *name;
        evt_key key;
    } simple[] = {{"OK", EVT_KEY_OK},
                  {"CANCEL", EVT_KEY_CANCEL},
                  {"MENU", EVT_KEY_MENU},
                  {"QUIT", EVT_KEY_QUIT},
                  {"BACKSPACE", EVT_KEY_BACKSPACE}};
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        if (strcmp(action, simple[i].name) == 0) {
            st->keys = malloc(sizeof *st->keys);
            if (st->keys == NULL) {
                return false;
            }
            st->keys[0] = (evt_key_event){.key = simple[i].key};
            st->key_count = 1;
            return true;
        }
    }
    bool with_ok;
    const char *chars;
    if (strncmp(action, "DIGITS:", 7) == 0) {
        with_ok = true;
        chars = action + 7;
    } else if (strncmp(action, "TYPE:", 5) == 0) {
        with_ok = false;
        chars = action + 5;
    } else {
        return false;
    }
    size_t n = strlen(chars);
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!((chars[i] >= '0' && chars[i] <= '9') || chars[i] == '.')) {
            return false; /* the keypad has digits and '.', nothing else */
        }
    }
    st->keys = malloc((n + 1) * sizeof *st->keys);
    if (st->keys == NULL) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        st->keys[i] = (evt_key_event){.key = EVT_KEY_DIGIT, .ch = chars[i]};
    }
    st->key_count = n;
    if (with_ok) {
        st->keys[n] = (evt_key_event){.key = EVT_KEY_OK};
        st->key_count++;
    }
    return true;
}

static evt_err parse_script(evt_sim_ui *ui, const char *text)
{
    char *copy = strdup(text);
    if (copy == NULL) {
        return EVT_ERR_NOMEM;
    }
    evt_err err = EVT_OK;
    unsigned line_no = 0;
    char *save = NULL;
    /* strtok_r would merge blank lines and break line numbers; split by hand. */
    for (char *line = copy; line != NULL; line = save) {
        save = strchr(line, '\n');
        if (save != NULL) {
            *save++ = 0;
        }
        line_no++;
        char *t = trim(line);
        if (t[0] == 0 || t[0] == '#') {
            continue;
        }
        char *arrow = strstr(t, "=>");
        if (arrow == NULL) {
            fprintf(stderr, "evt_sim_ui: script line %u: missing \"=>\"\n", line_no);
            err = EVT_ERR_ARG;
            break;
        }
        *arrow = 0;
        char *match = trim(t);
        char *action = trim(arrow + 2);
        script_step *grown = realloc(ui->steps, (ui->step_count + 1) * sizeof *grown);
        if (grown == NULL) {
            err = EVT_ERR_NOMEM;
            break;
        }
        ui->steps = grown;
        script_step *st = &ui->steps[ui->step_count];
        memset(st, 0, sizeof *st);
        st->line_no = line_no;
        st->match = strdup(match);
        if (st->match == NULL) {
            err = EVT_ERR_NOMEM;
            break;
        }
        ui->step_count++;
        if (!parse_action(action, st)) {
            fprintf(stderr, "evt_sim_ui: script line %u: unknown action \"%s\"\n", line_no, action);
            err = EVT_ERR_ARG;
            break;
        }
    }
    free(copy);
    return err;
}

static char *read_file(const char *path, evt_err *err)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        *err = errno == ENOENT ? EVT_ERR_NOT_FOUND : EVT_ERR_STORAGE_IO;
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (len < cap - 1) {
            break;
        }
        char *grown = realloc(buf, cap * 2);
        if (grown == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown;
        cap *= 2;
    }
    bool failed = ferror(f) != 0;
    fclose(f);
    if (buf == NULL) {
        *err = EVT_ERR_NOMEM;
        return NULL;
    }
    if (failed) {
        free(buf);
        *err = EVT_ERR_STORAGE_IO;
        return NULL;
    }
    buf[len] = 0;
    return buf;
}

/* ---- lifecycle ----------------------------------------------------------------------- */

evt_err evt_sim_ui_open(evt_sim_ui **out, const evt_sim_ui_options *opt)
{
    if (out == NULL || opt == NULL) {
        return EVT_ERR_ARG;
    }
    *out = NULL;
    bool has_script = opt->script_path != NULL || opt->script_text != NULL;
    if ((opt->script_path != NULL && opt->script_text != NULL) ||
        (has_script && opt->key_fd >= 0)) {
        return EVT_ERR_ARG;
    }
    evt_sim_ui *ui = calloc(1, sizeof *ui);
    if (ui == NULL) {
        return EVT_ERR_NOMEM;
    }
    ui->key_fd = -1;
    evt_ui_text_keys_init(&ui->keys, false);
    ui->history = opt->history != 0 ? opt->history : DEFAULT_HISTORY;
    ui->ring = calloc(ui->history, sizeof *ui->ring);
    if (ui->ring == NULL) {
        evt_sim_ui_close(ui);
        return EVT_ERR_NOMEM;
    }
    ui->out = opt->out;
    ui->clock = opt->clock;
    ui->reaction_ms = opt->script_reaction_ms != 0 ? opt->script_reaction_ms : DEFAULT_REACTION_MS;
    ui->no_wait = opt->script_no_wait;
    ui->stall_limit = opt->script_stall_limit;
    if (opt->transcript_path != NULL) {
        ui->transcript = fopen(opt->transcript_path, "ae");
        if (ui->transcript == NULL) {
            evt_sim_ui_close(ui);
            return EVT_ERR_STORAGE_IO;
        }
    }
    if (has_script) {
        evt_err err = EVT_OK;
        char *text =
            opt->script_text != NULL ? strdup(opt->script_text) : read_file(opt->script_path, &err);
        if (text == NULL) {
            evt_sim_ui_close(ui);
            return err != EVT_OK ? err : EVT_ERR_NOMEM;
        }
        err = parse_script(ui, text);
        free(text);
        if (err != EVT_OK) {
            evt_sim_ui_close(ui);
            return err;
        }
        ui->scripted = true;
    } else if (opt->key_fd >= 0) {
        ui->key_fd = opt->key_fd;
        if (opt->raw_tty && isatty(ui->key_fd) && tcgetattr(ui->key_fd, &ui->saved_tio) == 0) {
            struct termios tio = ui->saved_tio;
            tio.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
            tio.c_cc[VMIN] = 1;
            tio.c_cc[VTIME] = 0;
            if (tcsetattr(ui->key_fd, TCSANOW, &tio) == 0) {
                ui->restore_tty = true;
                ui->keys.raw = true;
            }
        }
    }
    ui->hal = (evt_hal_ui){.ctx = ui, .show = ui_show, .read_key = ui_read_key};
    *out = ui;
    return EVT_OK;
}

void evt_sim_ui_close(evt_sim_ui *ui)
{
    if (ui == NULL) {
        return;
    }
    if (ui->restore_tty) {
        tcsetattr(ui->key_fd, TCSANOW, &ui->saved_tio);
    }
    if (ui->transcript != NULL) {
        fclose(ui->transcript);
    }
    for (size_t i = 0; i < ui->step_count; i++) {
        free(ui->steps[i].match);
        free(ui->steps[i].keys);
    }
    free(ui->steps);
    free(ui->ring);
    free(ui);
}

const evt_hal_ui *evt_sim_ui_hal(evt_sim_ui *ui)
{
    return &ui->hal;
}

size_t evt_sim_ui_screen_count(const evt_sim_ui *ui)
{
    return ui->shown;
}

const evt_ui_screen *evt_sim_ui_screen(const evt_sim_ui *ui, size_t back)
{
    if (back >= ui->shown || back >= ui->history) {
        return NULL;
    }
    return &ui->ring[(ui->shown - 1 - back) % ui->history];
}

size_t evt_sim_ui_script_remaining(const evt_sim_ui *ui)
{
    return ui->step_count - ui->step;
}

bool evt_sim_ui_script_stalled(const evt_sim_ui *ui)
{
    return ui->stalled;
}
