/*
 * voucher-gen: renders a medical-insurance e-voucher as it appears on a phone screen (PNG), for
 * the sim board's camera scanner, with the distortions a counter camera meets.
 *
 *   voucher-gen --out FILE.png [--code TEXT | --code-hex HEX |
 *               --emu PLATFORM_EMU --db DB --person ALIAS [--holder ALIAS]] [options]
 *
 * With --emu the code is fresh from the platform emulator (`platform-emu code ...`), so it is
 * known to the emulator's ec.query; --print-code also writes the raw code to stdout for the
 * serial-scanner path. The PNG is written under a temporary name and renamed, so a scan
 * directory never sees half a file.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "render.h"
#include "unifont.h"

#define DEFAULT_FONT   "/usr/share/unifont/unifont.hex"
#define EMU_TIMEOUT_MS 30000
#define MAX_CODE       4096

extern char **environ;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: voucher-gen [--out FILE.png] [--print-code]\n"
            "         (--code TEXT | --code-hex HEX |\n"
            "          --emu PLATFORM_EMU --db DB --person ALIAS [--holder ALIAS])\n"
            "  screen:   --scale PX (per module, default: fit)  --margin MODULES (4)\n"
            "            --invert (dark mode)  --label TEXT (person line under the header)\n"
            "            --holder-label TEXT (family-account banner; default: the --holder alias)\n"
            "  camera:   --rotate DEG  --blur RADIUS  --noise AMOUNT  --seed N\n"
            "            --contrast PCT (100)  --brightness PCT (100)  --moire AMOUNT (0..100)\n"
            "  other:    --font UNIFONT.hex (default " DEFAULT_FONT ")\n"
            "At least one of --out and --print-code is required.\n");
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != 0 || !(v >= lo && v <= hi)) {
        return false;
    }
    *out = v;
    return true;
}

static bool parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != 0 || v < lo || v > hi) {
        return false;
    }
    *out = v;
    return true;
}

static bool parse_hex(const char *s, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = strlen(s);
    if (n == 0 || n % 2 != 0 || n / 2 > cap) {
        return false;
    }
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1 ||
            strchr("0123456789abcdefABCDEF", s[2 * i]) == NULL ||
            strchr("0123456789abcdefABCDEF", s[2 * i + 1]) == NULL) {
            return false;
        }
        out[i] = (uint8_t)v;
    }
    *len = n / 2;
    return true;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Runs `emu code --db DB --person P [--holder H]` and takes the first non-empty line of its
 * stdout (trimmed) as the code. Its stderr passes through, so the emulator's reason for a
 * refusal reaches the user.
 */
static bool code_from_emu(const char *emu, const char *db, const char *person, const char *holder,
                          uint8_t *code, size_t cap, size_t *len)
{
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        perror("voucher-gen: pipe");
        return false;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
    posix_spawn_file_actions_addclose(&fa, pipefd[1]);
    char *argv[10];
    int argc = 0;
    argv[argc++] = (char *)emu;
    argv[argc++] = "code";
    argv[argc++] = "--db";
    argv[argc++] = (char *)db;
    argv[argc++] = "--person";
    argv[argc++] = (char *)person;
    if (holder != NULL) {
        argv[argc++] = "--holder";
        argv[argc++] = (char *)holder;
    }
    argv[argc] = NULL;
    pid_t pid;
    int rc = posix_spawn(&pid, emu, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (rc != 0) {
        fprintf(stderr, "voucher-gen: cannot run %s: %s\n", emu, strerror(rc));
        close(pipefd[0]);
        return false;
    }
    char out[MAX_CODE + 256];
    size_t got = 0;
    bool timed_out = false;
    const int64_t deadline = now_ms() + EMU_TIMEOUT_MS;
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR) {
            continue;
        }
        if (pr <= 0) {
            timed_out = pr == 0;
            break;
        }
        char chunk[512];
        ssize_t n = read(pipefd[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        /* Keep what fits; the rest is drained so the child never blocks on a full pipe. */
        size_t keep = (size_t)n < sizeof out - 1 - got ? (size_t)n : sizeof out - 1 - got;
        memcpy(out + got, chunk, keep);
        got += keep;
    }
    close(pipefd[0]);
    if (timed_out) {
        kill(pid, SIGKILL);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) {
        fprintf(stderr, "voucher-gen: %s did not answer within %d s\n", emu, EMU_TIMEOUT_MS / 1000);
        return false;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "voucher-gen: %s code failed (status %d)\n", emu,
                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return false;
    }
    out[got] = 0;
    char *line = out;
    while (line != NULL) {
        char *next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = 0;
        }
        while (*line == ' ' || *line == '\t') {
            line++;
        }
        size_t n = strlen(line);
        while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r')) {
            line[--n] = 0;
        }
        if (n > 0) {
            if (n > cap) {
                fprintf(stderr, "voucher-gen: code from %s too long (%zu bytes)\n", emu, n);
                return false;
            }
            memcpy(code, line, n);
            *len = n;
            return true;
        }
        line = next;
    }
    fprintf(stderr, "voucher-gen: %s printed no code\n", emu);
    return false;
}

static bool write_png_atomically(const vg_image *img, const char *path)
{
    size_t n = strlen(path) + 6;
    char *tmp = malloc(n);
    if (tmp == NULL) {
        return false;
    }
    snprintf(tmp, n, "%s.part", path);
    bool ok = vg_write_png(img, tmp) && rename(tmp, path) == 0;
    if (!ok) {
        unlink(tmp);
    }
    free(tmp);
    return ok;
}

int main(int argc, char **argv)
{
    enum {
        OPT_CODE = 256,
        OPT_CODE_HEX,
        OPT_EMU,
        OPT_DB,
        OPT_PERSON,
        OPT_HOLDER,
        OPT_HOLDER_LABEL,
        OPT_LABEL,
        OPT_SCALE,
        OPT_MARGIN,
        OPT_INVERT,
        OPT_ROTATE,
        OPT_BLUR,
        OPT_NOISE,
        OPT_SEED,
        OPT_CONTRAST,
        OPT_BRIGHTNESS,
        OPT_MOIRE,
        OPT_PRINT_CODE,
        OPT_FONT,
    };
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},
        {"code", required_argument, NULL, OPT_CODE},
        {"code-hex", required_argument, NULL, OPT_CODE_HEX},
        {"emu", required_argument, NULL, OPT_EMU},
        {"db", required_argument, NULL, OPT_DB},
        {"person", required_argument, NULL, OPT_PERSON},
        {"holder", required_argument, NULL, OPT_HOLDER},
        {"holder-label", required_argument, NULL, OPT_HOLDER_LABEL},
        {"label", required_argument, NULL, OPT_LABEL},
        {"scale", required_argument, NULL, OPT_SCALE},
        {"margin", required_argument, NULL, OPT_MARGIN},
        {"invert", no_argument, NULL, OPT_INVERT},
        {"rotate", required_argument, NULL, OPT_ROTATE},
        {"blur", required_argument, NULL, OPT_BLUR},
        {"noise", required_argument, NULL, OPT_NOISE},
        {"seed", required_argument, NULL, OPT_SEED},
        {"contrast", required_argument, NULL, OPT_CONTRAST},
        {"brightness", required_argument, NULL, OPT_BRIGHTNESS},
        {"moire", required_argument, NULL, OPT_MOIRE},
        {"print-code", no_argument, NULL, OPT_PRINT_CODE},
        {"font", required_argument, NULL, OPT_FONT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out_path = NULL, *code_text = NULL, *code_hex = NULL, *emu = NULL, *db = NULL;
    const char *person = NULL, *holder = NULL, *holder_label = NULL, *label = NULL;
    const char *font_path = DEFAULT_FONT;
    bool print_code = false, invert = false;
    long scale = 0, margin = 4, seed = 1;
    vg_distort dist = {.contrast_pct = 100.0, .brightness_pct = 100.0};
    int c;
    bool bad = false;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out_path = optarg;
            break;
        case OPT_CODE:
            code_text = optarg;
            break;
        case OPT_CODE_HEX:
            code_hex = optarg;
            break;
        case OPT_EMU:
            emu = optarg;
            break;
        case OPT_DB:
            db = optarg;
            break;
        case OPT_PERSON:
            person = optarg;
            break;
        case OPT_HOLDER:
            holder = optarg;
            break;
        case OPT_HOLDER_LABEL:
            holder_label = optarg;
            break;
        case OPT_LABEL:
            label = optarg;
            break;
        case OPT_SCALE:
            bad |= !parse_int(optarg, 1, 100, &scale);
            break;
        case OPT_MARGIN:
            bad |= !parse_int(optarg, 0, 40, &margin);
            break;
        case OPT_INVERT:
            invert = true;
            break;
        case OPT_ROTATE:
            bad |= !parse_double(optarg, -3600.0, 3600.0, &dist.rotate_deg);
            break;
        case OPT_BLUR:
            bad |= !parse_double(optarg, 0.0, 50.0, &dist.blur_radius);
            break;
        case OPT_NOISE:
            bad |= !parse_double(optarg, 0.0, 255.0, &dist.noise);
            break;
        case OPT_SEED:
            bad |= !parse_int(optarg, 0, 0x7FFFFFFF, &seed);
            break;
        case OPT_CONTRAST:
            bad |= !parse_double(optarg, 0.0, 400.0, &dist.contrast_pct);
            break;
        case OPT_BRIGHTNESS:
            bad |= !parse_double(optarg, 0.0, 400.0, &dist.brightness_pct);
            break;
        case OPT_MOIRE:
            bad |= !parse_double(optarg, 0.0, 100.0, &dist.moire);
            break;
        case OPT_PRINT_CODE:
            print_code = true;
            break;
        case OPT_FONT:
            font_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            bad = true;
            break;
        }
        if (bad) {
            fprintf(stderr, "voucher-gen: bad value for an option near \"%s\"\n",
                    optarg != NULL ? optarg : argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    dist.seed = (uint32_t)seed;
    int sources = (code_text != NULL) + (code_hex != NULL) + (emu != NULL);
    if (optind != argc || sources != 1 || (out_path == NULL && !print_code) ||
        (emu != NULL && (db == NULL || person == NULL)) ||
        (emu == NULL && (db != NULL || person != NULL || holder != NULL))) {
        usage(stderr);
        return 2;
    }

    static uint8_t code[MAX_CODE];
    size_t code_len = 0;
    if (code_text != NULL) {
        code_len = strlen(code_text);
        if (code_len == 0 || code_len > sizeof code) {
            fprintf(stderr, "voucher-gen: --code must be 1..%d bytes\n", MAX_CODE);
            return 2;
        }
        memcpy(code, code_text, code_len);
    } else if (code_hex != NULL) {
        if (!parse_hex(code_hex, code, sizeof code, &code_len)) {
            fprintf(stderr, "voucher-gen: --code-hex needs an even number of hex digits\n");
            return 2;
        }
    } else if (!code_from_emu(emu, db, person, holder, code, sizeof code, &code_len)) {
        return 1;
    }
    if (holder_label == NULL) {
        holder_label = holder;
    }

    if (out_path != NULL) {
        evt_err font_err = evt_unifont_load(font_path);
        if (font_err != EVT_OK) {
            fprintf(stderr, "voucher-gen: cannot load font %s: %s\n", font_path,
                    evt_err_log_text(font_err));
            return 1;
        }
        vg_screen screen = {
            .code = code,
            .code_len = code_len,
            .scale = (int)scale,
            .margin = (int)margin,
            .invert = invert,
            .person_label = label,
            .holder_label = holder_label,
        };
        vg_image img;
        char err[160];
        bool ok = vg_render_screen(&screen, &img, err, sizeof err);
        if (!ok) {
            fprintf(stderr, "voucher-gen: %s\n", err);
            return 1;
        }
        if (!vg_distort_image(&img, &dist)) {
            fprintf(stderr, "voucher-gen: out of memory while distorting\n");
            vg_image_free(&img);
            return 1;
        }
        ok = write_png_atomically(&img, out_path);
        vg_image_free(&img);
        if (!ok) {
            fprintf(stderr, "voucher-gen: cannot write %s\n", out_path);
            return 1;
        }
    }
    if (print_code) {
        fwrite(code, 1, code_len, stdout);
        fputc('\n', stdout);
        if (fflush(stdout) != 0) {
            return 1;
        }
    }
    return 0;
}
