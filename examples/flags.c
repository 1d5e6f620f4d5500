/* Table-driven command-line parsing for the examples (see flags.h). */
#define _POSIX_C_SOURCE 200809L /* PATH_MAX, getpid */
#include "flags.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void flags_format_double(char *buf, size_t len, double v)
{
    if (isnan(v)) { snprintf(buf, len, "nan"); return; }
    if (isinf(v)) { snprintf(buf, len, v > 0 ? "inf" : "-inf"); return; }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".e")) { /* Python writes 100.0, not 100 */
        size_t k = strlen(buf);
        if (k + 2 < len) memcpy(buf + k, ".0", 3);
    }
}

void flags_format_value(char *buf, size_t len, const flag_spec *s)
{
    switch (s->type) {
    case FLAG_T_INT: snprintf(buf, len, "%d", *(const int *)s->value); break;
    case FLAG_T_U64: snprintf(buf, len, "%" PRIu64, *(const uint64_t *)s->value); break;
    case FLAG_T_DOUBLE: flags_format_double(buf, len, *(const double *)s->value); break;
    case FLAG_T_STRING:
    case FLAG_T_CHOICE: {
        const char *v = *(const char *const *)s->value;
        snprintf(buf, len, "%s", v ? v : "");
        break;
    }
    }
}

void flags_usage(FILE *f, const char *prog, const char *summary, const flag_spec *specs, int n)
{
    fprintf(f, "usage: %s [options]\n", prog);
    if (summary) fprintf(f, "\n%s\n", summary);
    fprintf(f, "\noptions:\n  -h, --help%*s show this help and exit\n", 14, "");
    for (int i = 0; i < n; i++) {
        const flag_spec *s = &specs[i];
        char left[64], def[256];
        if (s->type == FLAG_T_CHOICE) {
            size_t k = (size_t)snprintf(left, sizeof left, "--%s ", s->name);
            for (int c = 0; s->choices[c] && k < sizeof left; c++)
                k += (size_t)snprintf(left + k, sizeof left - k, c ? "|%s" : "%s", s->choices[c]);
        } else {
            snprintf(left, sizeof left, "--%s %s", s->name, s->meta ? s->meta : "V");
        }
        bool unset = (s->type == FLAG_T_STRING || s->type == FLAG_T_CHOICE) && !*(const char *const *)s->value;
        flags_format_value(def, sizeof def, s);
        char range[96] = ""; /* the bounds a message would otherwise be the first to tell */
        if (s->type == FLAG_T_INT && s->hi < INT_MAX) snprintf(range, sizeof range, "; %.0f to %.0f", s->lo, s->hi);
        else if (s->type == FLAG_T_INT && s->lo > 1) snprintf(range, sizeof range, "; at least %.0f", s->lo);
        else if (s->type == FLAG_T_DOUBLE && s->expect) snprintf(range, sizeof range, "; %s", s->expect);
        if (strlen(left) > 24) fprintf(f, "  %s\n%27s", left, ""); /* a long name: its help on the next line */
        else fprintf(f, "  %-24s ", left);
        if (unset) fprintf(f, "%s\n", s->help ? s->help : ""); /* the help says what happens */
        else fprintf(f, "%s (default: %s%s)\n", s->help ? s->help : "", def, range);
    }
}

static int fail(const char *prog, const flag_spec *s, const char *text)
{
    if (s->type == FLAG_T_CHOICE) {
        fprintf(stderr, "%s: --%s: '%s' is not one of ", prog, s->name, text);
        for (int c = 0; s->choices[c]; c++) fprintf(stderr, c ? ", %s" : "%s", s->choices[c]);
        fprintf(stderr, "\n");
    } else {
        fprintf(stderr, "%s: --%s: '%s' is not %s\n", prog, s->name, text, s->expect ? s->expect : "valid");
    }
    return FLAGS_ERROR;
}

static int set_value(const char *prog, const flag_spec *s, const char *text)
{
    char *end = NULL;
    errno = 0;
    switch (s->type) {
    case FLAG_T_INT: {
        /* strtoll skips leading blanks and accepts '+': reject both, digits only. */
        if (!*text || !(text[0] == '-' || (text[0] >= '0' && text[0] <= '9'))) return fail(prog, s, text);
        long long v = strtoll(text, &end, 10);
        /* a whole number above the range (beyond long long too): say the limit */
        bool whole = !*end && (!errno || (errno == ERANGE && v == LLONG_MAX));
        if (whole && v > (long long)s->hi && v >= (long long)s->lo) {
            fprintf(stderr, "%s: --%s: '%s' is too large: at most %.0f\n", prog, s->name, text, s->hi);
            return FLAGS_ERROR;
        }
        if (errno || *end || v < (long long)s->lo || v > (long long)s->hi) return fail(prog, s, text);
        *(int *)s->value = (int)v;
        return FLAGS_OK;
    }
    case FLAG_T_U64: {
        if (!*text || text[0] < '0' || text[0] > '9') return fail(prog, s, text);
        unsigned long long v = strtoull(text, &end, 10);
        if (errno || *end) return fail(prog, s, text);
        *(uint64_t *)s->value = (uint64_t)v;
        return FLAGS_OK;
    }
    case FLAG_T_DOUBLE: {
        /* decimal only, as the integers: no blanks, no '+', no hexadecimal */
        if (!*text || strchr(" \t\n\v\f\r+", text[0]) || strpbrk(text, "xX")) return fail(prog, s, text);
        double v = strtod(text, &end);
        if (errno == ERANGE && fabs(v) > 1.0) return fail(prog, s, text); /* overflow (underflow to ~0 is fine) */
        if (*end || !isfinite(v)) return fail(prog, s, text);
        bool lo_ok = (s->open & FLAG_LO_OPEN) ? v > s->lo : v >= s->lo;
        bool hi_ok = (s->open & FLAG_HI_OPEN) ? v < s->hi : v <= s->hi;
        if (!lo_ok || !hi_ok) return fail(prog, s, text);
        *(double *)s->value = v;
        return FLAGS_OK;
    }
    case FLAG_T_STRING:
        if (!*text) return fail(prog, s, text);
        *(const char **)s->value = text;
        return FLAGS_OK;
    case FLAG_T_CHOICE:
        for (int c = 0; s->choices[c]; c++) {
            if (strcmp(text, s->choices[c]) == 0) {
                *(const char **)s->value = s->choices[c];
                return FLAGS_OK;
            }
        }
        return fail(prog, s, text);
    }
    return FLAGS_ERROR;
}

int flags_set(const char *prog, const flag_spec *s, const char *text) { return set_value(prog, s, text); }

const flag_spec *flags_find(const flag_spec *specs, int n, const char *name)
{
    for (int k = 0; k < n; k++)
        if (strcmp(specs[k].name, name) == 0) return &specs[k];
    return NULL;
}

int flags_equal(const char *prog, const flag_spec *s, const char *text, bool *equal)
{
    union { int i; uint64_t u; double d; const char *str; } tmp;
    memset(&tmp, 0, sizeof tmp);
    flag_spec t = *s;
    t.value = &tmp;
    int r = set_value(prog, &t, text);
    if (r) return r;
    switch (s->type) {
    case FLAG_T_INT: *equal = tmp.i == *(const int *)s->value; break;
    case FLAG_T_U64: *equal = tmp.u == *(const uint64_t *)s->value; break;
    case FLAG_T_DOUBLE: *equal = tmp.d == *(const double *)s->value; break;
    case FLAG_T_STRING:
    case FLAG_T_CHOICE: {
        const char *v = *(const char *const *)s->value;
        *equal = v && strcmp(v, tmp.str) == 0;
        break;
    }
    }
    return FLAGS_OK;
}

void flags_print_namespace(FILE *f, const flag_spec *specs, int n)
{
    /* insertion sort of the indices by name (a handful of flags) */
    int idx[128];
    int m = n < 128 ? n : 128;
    for (int i = 0; i < m; i++) {
        int j = i;
        while (j > 0 && strcmp(specs[idx[j - 1]].name, specs[i].name) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    fprintf(f, "Namespace(");
    for (int k = 0; k < m; k++) {
        const flag_spec *s = &specs[idx[k]];
        char v[512];
        flags_format_value(v, sizeof v, s);
        bool text = s->type == FLAG_T_STRING || s->type == FLAG_T_CHOICE;
        if (text && !*(const char *const *)s->value) fprintf(f, "%s%s=None", k ? ", " : "", s->name);
        else if (text) fprintf(f, "%s%s='%s'", k ? ", " : "", s->name, v);
        else fprintf(f, "%s%s=%s", k ? ", " : "", s->name, v);
    }
    fprintf(f, ")\n");
}

int flags_parse(const char *prog, const char *summary, const flag_spec *specs, int n, int argc, char **argv)
{
    return flags_parse_given(prog, summary, specs, n, argc, argv, NULL);
}

int flags_parse_given(const char *prog, const char *summary, const flag_spec *specs, int n, int argc, char **argv,
                      bool *given)
{
    if (given)
        for (int k = 0; k < n; k++) given[k] = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            flags_usage(stdout, prog, summary, specs, n);
            return FLAGS_HELP;
        }
        if (strncmp(arg, "--", 2) != 0 || !arg[2]) {
            fprintf(stderr, "%s: unexpected argument '%s' (flags start with --; see --help)\n", prog, arg);
            return FLAGS_ERROR;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const flag_spec *s = NULL;
        for (int k = 0; k < n && !s; k++)
            if (strlen(specs[k].name) == nlen && strncmp(specs[k].name, name, nlen) == 0) s = &specs[k];
        if (!s) {
            if (nlen == 4 && strncmp(name, "help", 4) == 0) /* --help=... */
                fprintf(stderr, "%s: --help takes no value\n", prog);
            else
                fprintf(stderr, "%s: unknown flag '--%.*s' (see --help)\n", prog, (int)nlen, name);
            return FLAGS_ERROR;
        }
        const char *text;
        if (eq) {
            text = eq + 1;
        } else {
            /* As argparse: a following "--flag" is not taken as the value. */
            if (i + 1 >= argc || (strncmp(argv[i + 1], "--", 2) == 0 && argv[i + 1][2])) {
                fprintf(stderr, "%s: --%s: missing value (expected %s)\n", prog, s->name,
                        s->type == FLAG_T_CHOICE ? "one of the choices in --help" : s->expect ? s->expect : "a value");
                return FLAGS_ERROR;
            }
            text = argv[++i];
        }
        int r = set_value(prog, s, text);
        if (r) return r;
        if (given) given[s - specs] = true;
    }
    return FLAGS_OK;
}

bool flags_exists_not_regular(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && !S_ISREG(sb.st_mode);
}

/* path's folder ("." for a bare name) into dir, and its last component. */
static const char *split_path(const char *path, char *dir, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, len, ".");
        return path;
    }
    snprintf(dir, len, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    return slash + 1;
}

bool flags_write_protected(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return false;
    int fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC); /* not truncated: nothing written */
    if (fd >= 0) {
        close(fd);
        return false;
    }
    return errno == EACCES || errno == EPERM || errno == EROFS;
}

void flags_program_start(void)
{
    /* Under a file-size limit (ulimit -f) a write past it then fails with EFBIG, which
     * the saves report (status 1, the old file intact, no temporary file left), instead
     * of the signal ending the program halfway through. */
    signal(SIGXFSZ, SIG_IGN);
}

/* ---------------- signals during an output's write ---------------- */

static const int k_write_signals[] = {SIGINT, SIGTERM, SIGHUP};
enum { N_WRITE_SIGNALS = sizeof k_write_signals / sizeof k_write_signals[0] };
static struct sigaction g_saved_action[N_WRITE_SIGNALS];
static bool g_caught[N_WRITE_SIGNALS];
static volatile sig_atomic_t g_write_pending;
static pthread_t g_writer; /* the thread writing: every decision is taken there */

/* Async-signal-safe (pthread_self, pthread_kill, signal, raise). A signal that lands on
 * one of the library's threads is passed to the writing thread, so that g_write_pending
 * is read and written by one thread only. */
static void on_signal_in_write(int sig)
{
    if (!pthread_equal(pthread_self(), g_writer)) {
        pthread_kill(g_writer, sig);
        return;
    }
    if (!g_write_pending) {
        g_write_pending = sig;
        return;
    }
    signal(sig, SIG_DFL); /* a second: at once */
    raise(sig);
}

/* TINYNN_DEBUG_SIGNAL_IN_WRITE: the signal (and how many) to send as the write begins. */
static void debug_signal_in_write(void)
{
    const char *v = getenv("TINYNN_DEBUG_SIGNAL_IN_WRITE");
    if (!v || !*v) return;
    static const char *const names[] = {"INT", "TERM", "HUP"};
    for (int i = 0; i < N_WRITE_SIGNALS; i++) {
        size_t n = strlen(names[i]);
        if (strncmp(v, names[i], n) != 0 || (v[n] && strcmp(v + n, "2") != 0)) continue;
        /* to the process, as kill(1) does: any thread may receive it */
        kill(getpid(), k_write_signals[i]);
        if (v[n]) kill(getpid(), k_write_signals[i]);
        return;
    }
    fprintf(stderr, "TINYNN_DEBUG_SIGNAL_IN_WRITE='%s': expected INT, TERM or HUP, or one of them followed by 2\n", v);
    exit(2);
}

void flags_writing(bool on)
{
    if (on) {
        g_writer = pthread_self();
        g_write_pending = 0;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal_in_write;
        sigemptyset(&sa.sa_mask);
        for (int i = 0; i < N_WRITE_SIGNALS; i++) sigaddset(&sa.sa_mask, k_write_signals[i]);
        sa.sa_flags = SA_RESTART;
        for (int i = 0; i < N_WRITE_SIGNALS; i++) {
            g_caught[i] = sigaction(k_write_signals[i], NULL, &g_saved_action[i]) == 0 &&
                          g_saved_action[i].sa_handler != SIG_IGN && sigaction(k_write_signals[i], &sa, NULL) == 0;
        }
        debug_signal_in_write();
        return;
    }
    for (int i = 0; i < N_WRITE_SIGNALS; i++)
        if (g_caught[i]) sigaction(k_write_signals[i], &g_saved_action[i], NULL);
    int sig = g_write_pending;
    g_write_pending = 0;
    if (sig) raise(sig); /* the write is over: the signal's own action now */
}

int flags_finish_stdout(const char *prog, int status)
{
    if (status == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
        fprintf(stderr, "%s: cannot write to standard output: %s\n", prog, strerror(errno));
        return 1;
    }
    return status;
}

int flags_check_output(const char *prog, const char *flag, const char *path)
{
    if (flags_exists_not_regular(path)) {
        fprintf(stderr, "%s: --%s %s exists and is not a regular file\n", prog, flag, path);
        return -1;
    }
    if (flags_write_protected(path)) {
        fprintf(stderr, "%s: --%s %s is write-protected; make it writable or choose another name\n", prog, flag, path);
        return -1;
    }
    char folder[PATH_MAX];
    const char *base = split_path(path, folder, sizeof folder);
    long name_max = pathconf(folder, _PC_NAME_MAX);
    if (name_max > 0 && strlen(base) > (size_t)name_max) {
        fprintf(stderr, "%s: --%s %s: file name longer than its folder allows (%zu bytes; at most %ld)\n", prog, flag,
                path, strlen(base), name_max);
        return -1;
    }
    char probe[PATH_MAX];
    if (snprintf(probe, sizeof probe, "%s/.%s.probe.%ld", folder, prog, (long)getpid()) >= (int)sizeof probe) {
        fprintf(stderr, "%s: --%s %s: path too long\n", prog, flag, path);
        return -1;
    }
    FILE *f = fopen(probe, "wb");
    if (!f) {
        fprintf(stderr, "%s: --%s %s: cannot write in its folder: %s\n", prog, flag, path, strerror(errno));
        return -1;
    }
    fclose(f);
    remove(probe);
    return 0;
}


bool flags_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    bool ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
    if (ea && eb) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    if (ea || eb) return false; /* one exists, the other does not */
    char da[PATH_MAX], db[PATH_MAX];
    const char *na = split_path(a, da, sizeof da), *nb = split_path(b, db, sizeof db);
    if (strcmp(na, nb) != 0) return false;
    if (stat(da, &sa) == 0 && stat(db, &sb) == 0) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    return strcmp(a, b) == 0;
}

const char *flags_input_problem(const char *path, bool regular)
{
    struct stat sb;
    if (stat(path, &sb) != 0) return strerror(errno);
    if (S_ISDIR(sb.st_mode)) return "a folder, not a file";
    if (regular && !S_ISREG(sb.st_mode)) return "not a regular file";
    if (access(path, R_OK) != 0) return strerror(errno);
    return NULL;
}

int flags_find_data_file(const char *dir, const char *from, const char *name, char *path, size_t len, char *err,
                         size_t errlen)
{
    struct stat sb;
    int e = stat(dir, &sb) != 0 ? errno : S_ISDIR(sb.st_mode) ? 0 : ENOTDIR;
    if (e) {
        snprintf(err, errlen, "%s %s: %s", from, dir, strerror(e));
        return -1;
    }
    for (int gz = 1; gz >= 0; gz--) {
        if (snprintf(path, len, "%s/%s%s", dir, name, gz ? ".gz" : "") >= (int)len) {
            snprintf(err, errlen, "%s %s: path too long", from, dir);
            return -1;
        }
        if (access(path, F_OK) != 0) continue;
        const char *why = flags_input_problem(path, false);
        if (!why) return 0;
        snprintf(err, errlen, "%s %s: %s%s: %s", from, dir, name, gz ? ".gz" : "", why);
        return -1;
    }
    snprintf(err, errlen, "%s %s: holds neither %s.gz nor %s", from, dir, name, name);
    return -1;
}

const char *flags_data_dir(const char *flag_value, const char *default_dir, const char **from)
{
    if (flag_value) {
        *from = "--data";
        return flag_value;
    }
    const char *env = getenv("TINYNN_DATA");
    if (env && *env) {
        *from = "TINYNN_DATA";
        return env;
    }
    *from = "the bundled data folder";
    return default_dir;
}

double flags_memory_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? (double)pages * (double)page : 0.0;
}
