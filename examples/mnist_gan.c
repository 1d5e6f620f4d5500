/*
 * mnist_gan - the seed's vanilla GAN (PyTorch-GAN, implementations/gan/gan.py) on
 * MNIST, in C on libtinynn's public API.
 *
 *   build/examples/mnist_gan --n_epochs 1 --out /tmp/gan
 *   build/examples/mnist_gan --resume /tmp/gan/checkpoint.safetensors --n_epochs 5
 *
 * Same models, losses, optimizers, flags and output as the seed: the per-batch line
 * "[Epoch e/E] [Batch i/B] [D loss: x] [G loss: y]" on stdout (a progress bar instead
 * when stdout is a terminal), a 5x5 grid of the current batch's generated images every
 * --sample_interval batches (<out>/images/<batches_done>.png), and at the end the
 * weights of both networks (<out>/generator.safetensors, <out>/discriminator.safetensors)
 * under the seed's state_dict names. Beyond the seed: <out>/checkpoint.safetensors (exact
 * resume with --resume), <out>/losses.csv and <out>/losses.png, generator snapshots
 * (--snapshot_epochs), a clean stop on SIGINT/SIGTERM and on divergence.
 * docs/mnist_gan.md describes every flag and output.
 *
 * Reading order: main (at the end) lists the steps; the training loop is train, with
 * train_batch for one batch (the "training" section, before the setup code);
 * gan_trainer_step (gan_models.c) is gan.py's iteration.
 *
 * Exit status: 0 trained and saved; 1 an error (a damaged data or checkpoint file,
 * memory, a failed write); 2 bad flags, a data file or folder that cannot be used as
 * asked (missing, unreadable, not images, the wrong channels), or a checkpoint that does
 * not fit the flags; 3 training diverged (NaN/Inf); 130 / 143 stopped by SIGINT /
 * SIGTERM after writing a checkpoint (a closed stdout stops the same way, status 1).
 */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700 /* realpath */
#define _DEFAULT_SOURCE     /* flock */
#include <tinynn/tinynn.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blas_note.h"
#include "flags.h"
#include "gan_checkpoint.h"
#include "gan_models.h"
#include "plot.h"

#ifndef TNN_DEFAULT_DATA_DIR
#define TNN_DEFAULT_DATA_DIR "data/mnist"
#endif

static const char *const PROG = "mnist_gan";
static const char *const CHECKPOINT_FORMAT = GAN_CHECKPOINT_FORMAT;

enum { EXIT_ERROR = 1, EXIT_USAGE = 2, EXIT_DIVERGED = 3 };

typedef struct options {
    int n_epochs, batch_size;
    double lr, b1, b2;
    int n_cpu, latent_dim, img_size, channels, sample_interval;
    const char *data, *out;
    uint64_t seed;
    double bn_eps, bn_momentum;
    int log_interval, checkpoint_interval;
    const char *snapshot_epochs, *resume, *progress;
} options;

/* Flags a checkpoint records. Those in MUST_MATCH define the run: resuming with other
 * values would not continue it, so they are refused. The others may change (more
 * epochs, another thread count, ...). Flags not given with --resume take the recorded
 * value. */
static const char *const RECORDED[] = {"n_epochs", "batch_size", "lr", "b1", "b2", "n_cpu", "latent_dim",
                                       "img_size", "channels", "sample_interval", "data", "seed", "bn_eps",
                                       "bn_momentum", "log_interval", "checkpoint_interval", "snapshot_epochs"};
static const char *const MUST_MATCH[] = {"latent_dim", "img_size", "channels", "bn_eps", "bn_momentum",
                                         "batch_size", "lr", "b1", "b2", "seed"};

static bool in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, list[i]) == 0) return true;
    return false;
}
#define IN(name, list) in_list((name), (list), sizeof(list) / sizeof((list)[0]))

/* ---------------- setup checks (before any work) ---------------- */

/* mkdir -p. Returns 0 or an errno value. */
static int make_dirs(const char *path)
{
    size_t n = strlen(path);
    char *p = malloc(n + 1);
    if (!p) return ENOMEM;
    memcpy(p, path, n + 1);
    int err = 0;
    for (size_t i = 1; i <= n && !err; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        char c = p[i];
        p[i] = '\0';
        struct stat sb;
        if (mkdir(p, 0777) != 0) {
            if (errno != EEXIST) err = errno;
            else if (stat(p, &sb) != 0) err = errno;
            else if (!S_ISDIR(sb.st_mode)) err = ENOTDIR;
        }
        p[i] = c;
    }
    free(p);
    return err;
}

/* Create dir if needed and prove that files can be created in it. */
static int check_writable_dir(const char *dir)
{
    int err = make_dirs(dir);
    if (err) return err;
    char probe[PATH_MAX];
    if (snprintf(probe, sizeof probe, "%s/.mnist_gan_probe.%ld", dir, (long)getpid()) >= (int)sizeof probe) return ENAMETOOLONG;
    int fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) return errno;
    close(fd);
    unlink(probe);
    return 0;
}

/* "1,5,25" -> a sorted-or-not list of positive epochs; false if malformed. */
static bool parse_epoch_list(const char *text, int *out, int max, int *count)
{
    *count = 0;
    const char *p = text;
    for (;;) {
        if (*p < '0' || *p > '9') return false;
        long long v = 0;
        while (*p >= '0' && *p <= '9') {
            v = v * 10 + (*p++ - '0');
            if (v > INT_MAX) return false;
        }
        if (v < 1 || *count >= max) return false;
        out[(*count)++] = (int)v;
        if (!*p) return true;
        if (*p++ != ',') return false;
    }
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------- signals ---------------- */

static volatile sig_atomic_t g_stop_signal, g_writing, g_quit_pending;
static bool g_stdout_closed; /* a write to stdout failed (its reader went: `| head`, a killed `| tee`) */
static pthread_t g_main_thread;   /* where every decision about a signal is taken */
static int g_debug_second_signal; /* test hook: raise the stop signal again inside the checkpoint's write */
static const char *g_stop_msg = "";
static size_t g_stop_len;

/* Async-signal-safe (write, signal, raise, pthread_kill). The first signal sets the
 * flag and says what happens; a second stops the program at once with the signal's
 * default action, unless an output file is being written: then it stops as soon as that
 * file is complete, so that no half-written temporary file is left beside it; a third
 * stops it at once even then (a write that hangs). A signal that lands on one of the
 * library's threads is passed to the main thread, so that the flags are read and written
 * by one thread only, and the handler stays installed (no SA_RESETHAND) for that. */
static void on_stop_signal(int sig)
{
    if (!pthread_equal(pthread_self(), g_main_thread)) {
        pthread_kill(g_main_thread, sig);
        return;
    }
    if (!g_stop_signal) {
        g_stop_signal = sig;
        ssize_t r = write(STDERR_FILENO, g_stop_msg, g_stop_len);
        (void)r;
    } else if (g_writing && !g_quit_pending) {
        g_quit_pending = sig;
    } else {
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

/* Around each output file's write: a second signal waits for the write to finish. */
static void writing(bool on)
{
    g_writing = on;
    if (!on && g_quit_pending) {
        signal(g_quit_pending, SIG_DFL);
        raise(g_quit_pending);
    }
}

static void install_signal_handlers(bool bar)
{
    g_stop_msg = bar ? "\nmnist_gan: stopping after this batch to write a checkpoint (again to quit at once)\n"
                     : "mnist_gan: stopping after this batch to write a checkpoint (again to quit at once)\n";
    g_stop_len = strlen(g_stop_msg);
    g_main_thread = pthread_self();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A closed stdout is a failed write (EPIPE) to notice, not a signal that kills the
     * run before its checkpoint: Ctrl-C on `mnist_gan | tee log` stops tee too. */
    signal(SIGPIPE, SIG_IGN);
}

/* Flush stdout; a failure (its reader has gone) stops the run after this batch, with a
 * checkpoint, as a signal does. */
static void flush_stdout(void)
{
    if (fflush(stdout) == EOF || ferror(stdout)) g_stdout_closed = true;
}

/* ---------------- the run ---------------- */

/* Debug hooks for the tests (docs/mnist_gan.md, "Testing hooks"): before batch N (counted
 * from 0 over the whole run) raise a signal (",INT2": and again while the checkpoint it
 * asks for is being written), or set the first element of a generator tensor to NaN. */
typedef struct debug_hooks {
    int64_t signal_at, nan_at;
    int signal;
    float *nan_target;
    const char *fail_save; /* "generator" or "discriminator": that final save fails */
} debug_hooks;

typedef struct run {
    options o;
    const flag_spec *specs; /* the flags, pointing into o */
    int n_specs;
    bool given[32];         /* given[i]: specs[i] was on the command line */
    char *owned[32];        /* string flags' values taken from the checkpoint */
    int n_owned;
    tnn_safetensors *ck;    /* the --resume checkpoint, until it is restored */
    char out_dir[PATH_MAX], data_abs[PATH_MAX], images_path[PATH_MAX];
    tnn_idx idx;            /* the training images, as bytes */
    char fingerprint[32], n_images_text[32];
    int n_images, batches;
    int *snap, n_snap;      /* --snapshot_epochs */
    char replace_note[2 * PATH_MAX + 512]; /* about a checkpoint in --out this run replaces */
    bool move_aside;        /* ... which is not a checkpoint: kept under another name */
    gan_config gc;
    int threads;            /* compute threads in use (--n_cpu capped at the cores present) */
    gan_trainer *tr;
    tnn_tensor *real;       /* the batch of real images */
    gan_train_state s;
    debug_hooks dbg;
    char out_ckpt[PATH_MAX], out_csv[PATH_MAX], out_plot[PATH_MAX], images_dir[PATH_MAX];
    char out_weights[2][PATH_MAX]; /* <out>/generator.safetensors, <out>/discriminator.safetensors */
    tnn_metadata *md_weights, *md_ckpt;
    FILE *csv;
    plot *plot;
    int64_t ckpt_at;   /* batches done when the checkpoint file was last written (-1: never) */
    bool moved_aside;  /* a file in place of the checkpoint that was not one: renamed .old* */
    bool bar;
    double bar_drawn;  /* time of the last progress-bar redraw */
} run;

/* The position of the last batch done, as the seed prints it. */
static void last_batch(const run *r, int *epoch, int *batch)
{
    int64_t k = r->s.n_hist > 0 ? r->s.n_hist - 1 : 0;
    *epoch = (int)(k / r->batches);
    *batch = (int)(k % r->batches);
}

static void csv_row(run *r, int64_t k)
{
    const float *h = r->s.hist + k * GAN_HIST_COLS;
    fprintf(r->csv, "%d,%d,%.6f,%.6f,%.6f,%.6f\n", (int)(k / r->batches), (int)(k % r->batches),
            (double)h[GAN_HIST_D_LOSS], (double)h[GAN_HIST_G_LOSS], (double)h[GAN_HIST_D_X], (double)h[GAN_HIST_D_G_Z]);
}

/* losses.csv from the history (a fresh run: the header only), then appended per batch. */
static int csv_open(run *r)
{
    static char buf[1 << 16];
    if (!(r->csv = fopen(r->out_csv, "w"))) {
        fprintf(stderr, "%s: %s: %s\n", PROG, r->out_csv, strerror(errno));
        return EXIT_ERROR;
    }
    setvbuf(r->csv, buf, _IOFBF, sizeof buf);
    fprintf(r->csv, "epoch,batch,d_loss,g_loss,d_x,d_g_z\n");
    for (int64_t k = 0; k < r->s.n_hist; k++) csv_row(r, k);
    return 0;
}

static int csv_flush(run *r)
{
    if (fflush(r->csv) != 0 || ferror(r->csv)) {
        fprintf(stderr, "%s: writing %s failed: %s\n", PROG, r->out_csv, strerror(errno));
        return EXIT_ERROR;
    }
    return 0;
}

static int draw_plot(run *r)
{
    plot_series series[2] = {
        {"D loss", r->s.hist + GAN_HIST_D_LOSS, GAN_HIST_COLS, {31, 119, 180}},
        {"G loss", r->s.hist + GAN_HIST_G_LOSS, GAN_HIST_COLS, {255, 127, 14}},
    };
    plot_axes ax = {"mnist_gan: D and G loss per batch", "epoch", "loss", 1.0 / r->batches};
    plot_lines(r->plot, &ax, series, 2, r->s.n_hist);
    writing(true);
    tnn_status st = plot_write_png(r->plot, r->out_plot);
    writing(false);
    if (st != TNN_OK) {
        fprintf(stderr, "%s: %s\n", PROG, tnn_last_error());
        return EXIT_ERROR;
    }
    return 0;
}

/* "1:02:03" or "2:03" */
static void format_duration(char *buf, size_t len, double s)
{
    long t = s > 0 && s < 1e9 ? (long)(s + 0.5) : 0;
    if (t >= 3600) snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

/* Columns of the terminal on stdout (80 if unknown). */
static int terminal_columns(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
    return 80;
}

/* The progress bar of the current epoch, redrawn in place and fitted to the terminal's
 * width (a wrapped line could not be redrawn with \r). done: batches of this epoch
 * finished; first: the batch this session started the epoch at; t0: its start. */
static void draw_bar(run *r, int epoch, int done, int first, double t0, bool final)
{
    double t = now_seconds();
    if (!final && t - r->bar_drawn < 0.1) return; /* at most ten redraws a second */
    r->bar_drawn = t;
    double dt = t - t0, per_batch = done > first ? dt / (done - first) : 0.0;
    long images = (long)(done - first) * r->o.batch_size;
    if (done == r->batches) images -= (long)r->batches * r->o.batch_size - r->n_images; /* the partial last batch */
    char eta[32], left[32], head[64], tail[160], bar[64], line[512];
    format_duration(eta, sizeof eta, per_batch * (r->batches - done));
    format_duration(left, sizeof left, per_batch * ((double)(r->batches - done) +
                                                    (double)(r->o.n_epochs - epoch - 1) * r->batches));
    snprintf(head, sizeof head, "[Epoch %d/%d] ", epoch, r->o.n_epochs);
    int cols = terminal_columns() - 1, w = 0;
    int pct = (int)((int64_t)done * 100 / r->batches);
    double rate = dt > 0 ? images / dt : 0.0, dl = r->s.tr->d_loss, gl = r->s.tr->g_loss;
    snprintf(tail, sizeof tail, " %d/%d %3d%% %.0f img/s ETA %s (run %s) D %.4f G %.4f", done, r->batches, pct, rate,
             eta, left, dl, gl);
    w = cols - (int)strlen(head) - (int)strlen(tail) - 2;
    if (w < 10) { /* a narrow terminal: no run ETA, shorter losses */
        snprintf(tail, sizeof tail, " %d/%d %3d%% %.0f img/s ETA %s D %.3f G %.3f", done, r->batches, pct, rate, eta,
                 dl, gl);
        w = cols - (int)strlen(head) - (int)strlen(tail) - 2;
    }
    if (w > 30) w = 30;
    bar[0] = '\0';
    if (w >= 5) {
        int fill = (int)((int64_t)done * w / r->batches);
        bar[0] = '[';
        for (int k = 0; k < w; k++) bar[1 + k] = k < fill ? '=' : (k == fill ? '>' : ' ');
        bar[w + 1] = ']';
        bar[w + 2] = '\0';
    }
    snprintf(line, sizeof line, "%s%s%s", head, bar, tail);
    if ((int)strlen(line) > cols) line[cols] = '\0';
    printf("\r%s\033[K%s", line, final ? "\n" : "");
    flush_stdout();
}

/* Training stopped on a NaN or infinity: say where, keep the last good checkpoint. */
static int diverged(run *r, int epoch, int batch, const char *what)
{
    if (r->bar) printf("\n");
    fflush(stdout);
    fprintf(stderr, "%s: training diverged at [Epoch %d/%d] [Batch %d/%d]: %s\n", PROG, epoch, r->o.n_epochs, batch,
            r->batches, what);
    if (r->ckpt_at >= 0)
        fprintf(stderr, "%s: the last good checkpoint, %s (epoch %" PRId64 ", batch %" PRId64 "), is left intact\n",
                PROG, r->out_ckpt, r->ckpt_at / r->batches, r->ckpt_at % r->batches);
    else
        fprintf(stderr, "%s: no checkpoint was written by this run; %s was not touched\n", PROG,
                r->moved_aside ? "the file it found there, moved aside," : r->out_ckpt);
    csv_flush(r);
    draw_plot(r);
    return EXIT_DIVERGED;
}

/* Status 3 (diverged) if a weight, buffer or Adam moment is not finite: nothing that is
 * about to be written (`what`) may hold one. */
static int refuse_nonfinite(run *r, const char *what)
{
    char name[256], msg[400];
    size_t index;
    if (!gan_trainer_find_nonfinite(r->s.tr, name, sizeof name, &index)) return 0;
    int e, b;
    last_batch(r, &e, &b);
    snprintf(msg, sizeof msg, "%s[%zu] is not finite, found before writing %s (not written)", name, index, what);
    return diverged(r, e, b, msg);
}

/* Write the checkpoint for the current position unless it is already on disk. The
 * parameters are checked first: a NaN or infinity is divergence, and the previous
 * checkpoint stays. */
static int write_checkpoint(run *r)
{
    if (r->ckpt_at == r->s.n_hist) return 0;
    int bad = refuse_nonfinite(r, "the checkpoint");
    if (bad) return bad;
    char err[1024];
    writing(true);
    if (g_stop_signal && g_debug_second_signal) { /* the test hook N,INT2 */
        g_debug_second_signal = 0;
        raise(g_stop_signal);
    }
    tnn_status st = gan_checkpoint_save(r->out_ckpt, &r->s, r->md_ckpt, err, sizeof err);
    writing(false);
    if (st != TNN_OK) {
        fprintf(stderr, "%s: writing the checkpoint: %s\n", PROG, err);
        return EXIT_ERROR;
    }
    r->ckpt_at = r->s.n_hist;
    return csv_flush(r);
}

/* "out of memory", with the library's reason if it gave one; the exit status. */
static int out_of_memory(void)
{
    fprintf(stderr, "%s: out of memory%s%s\n", PROG, *tnn_last_error() ? ": " : "", tnn_last_error());
    return EXIT_ERROR;
}

/* The sample grid after `done` batches: gan.py's
 * save_image(gen_imgs.data[:25], "images/%d.png" % batches_done, nrow=5, normalize=True),
 * from the batch of b images just generated; losses.png is redrawn and losses.csv
 * flushed with it. 0, or the exit status. */
static int save_sample(run *r, const gan_trainer *tr, int64_t done, int b)
{
    const options *o = &r->o;
    char png[PATH_MAX];
    writing(true);
    bool ok = snprintf(png, sizeof png, "%s/%" PRId64 ".png", r->images_dir, done) < (int)sizeof png &&
              tnn_save_image_grid(png, tr->gen_imgs, b < 25 ? b : 25, o->channels, o->img_size, o->img_size, 5, 2,
                                  true) == TNN_OK;
    writing(false);
    if (!ok) {
        fprintf(stderr, "%s: %s\n", PROG, tnn_last_error());
        return EXIT_ERROR;
    }
    int status = draw_plot(r);
    return status ? status : csv_flush(r);
}

/* <out>/generator_epoch<E>.safetensors: the generator after `epoch` epochs, with the
 * weights' metadata plus "epoch". 0, or the exit status. */
static int save_snapshot(run *r, const gan_trainer *tr, int epoch)
{
    int status = refuse_nonfinite(r, "the snapshot");
    if (status) return status;
    char path[PATH_MAX], e[16];
    snprintf(e, sizeof e, "%d", epoch);
    tnn_metadata *md = tnn_metadata_clone(r->md_weights);
    if (!md || tnn_metadata_set(md, "network", "generator") != TNN_OK || tnn_metadata_set(md, "epoch", e) != TNN_OK) {
        tnn_metadata_free(md);
        return out_of_memory();
    }
    tnn_status st = TNN_ERR_ARG;
    writing(true);
    if (snprintf(path, sizeof path, "%s/generator_epoch%d.safetensors", r->o.out, epoch) < (int)sizeof path)
        st = tnn_module_save(tr->generator, GAN_PREFIX, path, md);
    writing(false);
    tnn_metadata_free(md);
    if (st) {
        fprintf(stderr, "%s: saving the epoch-%d snapshot: %s\n", PROG, epoch, tnn_last_error());
        return EXIT_ERROR;
    }
    return 0;
}

/* The debug hooks, from TINYNN_DEBUG_* (unset or empty: off). 0, or EXIT_USAGE. */
static int read_debug_hooks(run *r, debug_hooks *d)
{
    d->signal_at = d->nan_at = -1;
    d->signal = SIGINT;
    d->nan_target = NULL;
    d->fail_save = getenv("TINYNN_DEBUG_FAIL_SAVE");
    if (d->fail_save && !*d->fail_save) d->fail_save = NULL; /* empty: unset, as for the other hooks */
    if (d->fail_save && strcmp(d->fail_save, "generator") != 0 && strcmp(d->fail_save, "discriminator") != 0) {
        fprintf(stderr, "%s: TINYNN_DEBUG_FAIL_SAVE='%s': expected generator or discriminator\n", PROG, d->fail_save);
        return EXIT_USAGE;
    }
    const char *v = getenv("TINYNN_DEBUG_SIGNAL_AT_BATCH");
    if (v && *v) {
        char *end;
        d->signal_at = strtoll(v, &end, 10);
        if (strcmp(end, ",TERM") == 0) d->signal = SIGTERM;
        else if (strcmp(end, ",INT2") == 0) g_debug_second_signal = 1;
        else if (*end || d->signal_at < 0) {
            fprintf(stderr, "%s: TINYNN_DEBUG_SIGNAL_AT_BATCH='%s': expected N, N,TERM or N,INT2\n", PROG, v);
            return EXIT_USAGE;
        }
    }
    v = getenv("TINYNN_DEBUG_NAN_AT_BATCH");
    if (v && *v) {
        char *end;
        d->nan_at = strtoll(v, &end, 10);
        const char *name = *end == ',' ? end + 1 : "model.0.weight";
        tnn_tensor_list *sd = tnn_module_state_dict(r->s.tr->generator, GAN_PREFIX);
        const tnn_named_tensor *t = sd ? tnn_tensor_list_find(sd, name) : NULL;
        if (t && t->dtype == TNN_F32) d->nan_target = t->data;
        tnn_tensor_list_free(sd);
        if ((*end && *end != ',') || d->nan_at < 0 || !d->nan_target) {
            fprintf(stderr, "%s: TINYNN_DEBUG_NAN_AT_BATCH='%s': expected N or N,<generator tensor name>\n", PROG, v);
            return EXIT_USAGE;
        }
    }
    return 0;
}

/* TINYNN_DEBUG_FAIL_ALLOC=N: the library's N-th allocation (counted from 0) fails, to
 * test that every failure is reported and cleaned up (the library's own allocations go
 * through tnn_set_allocator; the example's few mallocs are checked the same way). */
static long g_alloc_count, g_alloc_fail_at = -1;

static void *failing_malloc(void *user, size_t n)
{
    (void)user;
    return g_alloc_count++ == g_alloc_fail_at ? NULL : malloc(n);
}

static void *failing_realloc(void *user, void *p, size_t n)
{
    (void)user;
    return g_alloc_count++ == g_alloc_fail_at ? NULL : realloc(p, n);
}

static void plain_free(void *user, void *p)
{
    (void)user;
    free(p);
}

static int install_failing_allocator(void)
{
    const char *v = getenv("TINYNN_DEBUG_FAIL_ALLOC");
    if (!v || !*v) return 0;
    char *end;
    g_alloc_fail_at = strtol(v, &end, 10);
    if (*end || g_alloc_fail_at < 0) {
        fprintf(stderr, "%s: TINYNN_DEBUG_FAIL_ALLOC='%s': expected a non-negative integer\n", PROG, v);
        return EXIT_USAGE;
    }
    static const tnn_allocator a = {failing_malloc, failing_realloc, plain_free, NULL};
    tnn_set_allocator(&a);
    return 0;
}

/* ---------------- training ----------------
 * The loop of gan.py, after the setup below has built everything it needs. */

/* Batch i of the epoch: gan.py's loop body (gan_trainer_step), then its log line, the
 * sample grid every --sample_interval batches, and a checkpoint every
 * --checkpoint_interval. first, t0: the batch this session started the epoch at, and
 * when (for the progress bar). 0, or the exit status. */
static int train_batch(run *r, int epoch, int i, int first, double t0)
{
    const options *o = &r->o;
    gan_train_state *s = &r->s;
    gan_trainer *tr = r->tr;
    const int64_t done_before = s->n_hist; /* == epoch * batches + i */
    if (done_before == r->dbg.signal_at) raise(r->dbg.signal);
    if (done_before == r->dbg.nan_at) r->dbg.nan_target[0] = NAN;
    int begin = i * o->batch_size;
    int b = r->n_images - begin < o->batch_size ? r->n_images - begin : o->batch_size; /* last batch kept */
    tnn_status st = tnn_idx_images_to_tensor(&r->idx, s->order, begin, b, o->img_size, o->img_size, r->real);
    if (!st) st = gan_trainer_step(tr, r->real, &s->rng);
    if (st == TNN_ERR_NUMERIC || (!st && (!isfinite(tr->d_loss) || !isfinite(tr->g_loss)))) {
        char what[200]; /* tr->nonfinite: "D(G(z))" or "D(x)", the output that was NaN */
        snprintf(what, sizeof what, "%s%s (a NaN or infinity in the networks' weights)",
                 st ? (tr->nonfinite ? tr->nonfinite : "not finite") : "a loss is not finite",
                 st && tr->nonfinite ? " is NaN" : "");
        return diverged(r, epoch, i, what);
    }
    if (st) {
        fprintf(stderr, "%s: [Epoch %d/%d] [Batch %d/%d]: %s\n", PROG, epoch, o->n_epochs, i, r->batches,
                tnn_last_error());
        return EXIT_ERROR;
    }
    gan_train_state_record(s);
    csv_row(r, done_before);
    if (r->bar) {
        draw_bar(r, epoch, i + 1, first, t0, i + 1 == r->batches);
    } else if (i % o->log_interval == 0) {
        printf("[Epoch %d/%d] [Batch %d/%d] [D loss: %f] [G loss: %f]\n", epoch, o->n_epochs, i, r->batches,
               (double)tr->d_loss, (double)tr->g_loss);
        flush_stdout();
    }
    int status;
    if (done_before % o->sample_interval == 0 && (status = save_sample(r, tr, done_before, b))) return status;
    s->batch = i + 1;
    if (s->batch == r->batches) { /* the next epoch, whose shuffle is still to come */
        s->epoch++;
        s->batch = 0;
    }
    if (o->checkpoint_interval > 0 && s->n_hist % o->checkpoint_interval == 0) return write_checkpoint(r);
    return 0;
}

/* After an epoch's last batch: its time, the snapshot asked for, and the checkpoint
 * (every epoch with --checkpoint_interval 0, else after the last). 0, or the exit status. */
static int end_epoch(run *r, int epoch, int first, double t0)
{
    const options *o = &r->o;
    double dt = now_seconds() - t0; /* timing goes to stderr: stdout stays the seed's */
    long images = r->n_images - (long)first * o->batch_size;
    const int threads = tnn_get_num_threads();
    fprintf(stderr, "%s: epoch %d/%d took %.1f s (%.0f images/s, %d thread%s)\n", PROG, epoch, o->n_epochs, dt,
            images / dt, threads, threads == 1 ? "" : "s");
    for (int k = 0; k < r->n_snap; k++) {
        if (r->snap[k] != epoch + 1) continue;
        int status = save_snapshot(r, r->tr, epoch + 1);
        if (status) return status;
        break;
    }
    if (o->checkpoint_interval == 0 || r->s.epoch == o->n_epochs) return write_checkpoint(r);
    return 0;
}

/* SIGINT or SIGTERM arrived, or stdout was closed: write the checkpoint after the batch
 * just done and stop with 128 + the signal's number, or 1 for a closed stdout (a failed
 * write), or, if writing the checkpoint or the plot fails, that failure's status. */
static int stop_on_signal(run *r)
{
    int status, e, b;
    if ((status = write_checkpoint(r)) || (status = draw_plot(r))) return status;
    last_batch(r, &e, &b);
    if (r->bar && r->s.batch != 0) printf("\n");
    fflush(stdout);
    const char *why = g_stop_signal == SIGINT    ? "SIGINT"
                      : g_stop_signal == SIGTERM ? "SIGTERM"
                                                 : "a failed write to stdout (its reader has gone)";
    fprintf(stderr, "%s: stopped by %s after [Epoch %d/%d] [Batch %d/%d]; checkpoint: %s (continue with --resume "
            "%s)\n", PROG, why, e, r->o.n_epochs, b, r->batches, r->out_ckpt, r->out_ckpt);
    return g_stop_signal ? 128 + g_stop_signal : EXIT_ERROR;
}

/* gan.py's `for epoch in range(opt.n_epochs): for i, imgs in enumerate(dataloader)`,
 * from the checkpoint's position when resuming. 0, or the exit status. */
static int train(run *r)
{
    const options *o = &r->o;
    gan_train_state *s = &r->s;
    int status;
    while (s->epoch < o->n_epochs) {
        int epoch = (int)s->epoch, first = (int)s->batch;
        if (gan_train_state_reserve(s, (int64_t)(epoch + 1) * r->batches)) return out_of_memory();
        if (first == 0) tnn_rng_shuffle(&s->rng, s->order, r->n_images); /* a new order every epoch */
        double t0 = now_seconds();
        r->bar_drawn = 0.0;
        for (int i = first; i < r->batches; i++) {
            if ((status = train_batch(r, epoch, i, first, t0))) return status;
            if ((g_stop_signal || g_stdout_closed) && s->n_hist < (int64_t)o->n_epochs * r->batches) break;
        }
        if (s->batch == 0 && (status = end_epoch(r, epoch, first, t0))) return status; /* the epoch is complete */
        if ((g_stop_signal || g_stdout_closed) && s->epoch < o->n_epochs) return stop_on_signal(r);
    }
    /* (written at the last epoch's end, unless this run was resumed finished: then the
     * weights alone were missing) */
    if ((status = write_checkpoint(r))) return status;
    return draw_plot(r);
}

/* The trained weights, under the seed's state_dict names. If a save fails, the finished
 * checkpoint holds them, and --resume with it writes them. 0, or EXIT_ERROR. */
static int save_weights(run *r)
{
    const char *names[2] = {"generator", "discriminator"};
    tnn_module *nets[2] = {r->tr->generator, r->tr->discriminator};
    for (int k = 0; k < 2; k++) {
        const char *path = r->out_weights[k];
        /* "network" tells the two files apart: their sizes' metadata is the same */
        tnn_metadata *md = tnn_metadata_clone(r->md_weights);
        if (!md || tnn_metadata_set(md, "network", names[k]) != TNN_OK) {
            tnn_metadata_free(md);
            return out_of_memory();
        }
        writing(true);
        bool ok = false;
        if (r->dbg.fail_save && strcmp(r->dbg.fail_save, names[k]) == 0)
            tnn_set_error(TNN_ERR_IO, "%s: TINYNN_DEBUG_FAIL_SAVE", path);
        else
            ok = tnn_module_save(nets[k], GAN_PREFIX, path, md) == TNN_OK;
        writing(false);
        tnn_metadata_free(md);
        if (ok) continue;
        fprintf(stderr, "%s: saving the %s: %s\n", PROG, names[k], tnn_last_error());
        if (r->ckpt_at == r->s.n_hist) {
            /* --resume writes them only if one is missing: an earlier run's may be there */
            bool both = access(r->out_weights[0], F_OK) == 0 && access(r->out_weights[1], F_OK) == 0;
            fprintf(stderr, "%s: the finished checkpoint %s holds the trained networks; %s--resume %s writes the "
                    "weights\n", PROG, r->out_ckpt, both ? "move away the earlier run's weights in --out, then " : "",
                    r->out_ckpt);
        }
        return EXIT_ERROR;
    }
    return 0;
}

/* ---------------- --resume: the checkpoint's flags ---------------- */

/* Apply the checkpoint's recorded flags: refuse a given flag that must match and does
 * not, take the recorded value for every flag not given. */
static int apply_checkpoint_flags(const tnn_metadata *md, const char *path, const flag_spec *specs, int n,
                                  const bool *given, char **owned, int *n_owned)
{
    const char *fmt = tnn_metadata_get(md, "format");
    if (!fmt || strcmp(fmt, CHECKPOINT_FORMAT) != 0) {
        fprintf(stderr, "%s: --resume %s: not a mnist_gan checkpoint (its metadata has format '%s', expected '%s'; "
                "the checkpoint is <out>/checkpoint.safetensors)\n", PROG, path, fmt ? fmt : "", CHECKPOINT_FORMAT);
        return EXIT_USAGE;
    }
    for (int i = 0; i < n; i++) {
        const flag_spec *s = &specs[i];
        if (!IN(s->name, RECORDED)) continue;
        const char *v = tnn_metadata_get(md, s->name);
        if (!v) {
            /* e.g. no --snapshot_epochs recorded; but every checkpoint records n_epochs, and
             * without it (an edited file) the run would quietly go on to the default 100 */
            if (!IN(s->name, MUST_MATCH) && (strcmp(s->name, "n_epochs") != 0 || given[i])) continue;
            fprintf(stderr, "%s: --resume %s: the checkpoint does not record '%s'\n", PROG, path, s->name);
            return EXIT_USAGE;
        }
        if (given[i]) {
            bool equal = false;
            if (flags_equal(PROG, s, v, &equal) != FLAGS_OK) {
                fprintf(stderr, "%s: --resume %s: the recorded %s is not valid\n", PROG, path, s->name);
                return EXIT_USAGE;
            }
            char now[256];
            flags_format_value(now, sizeof now, s);
            if (!equal && IN(s->name, MUST_MATCH)) {
                fprintf(stderr, "%s: --%s %s disagrees with the checkpoint %s, which was trained with %s = %s; a run "
                        "can only continue with the same %s (leave the flag out to use the recorded value)\n",
                        PROG, s->name, now, path, s->name, v, s->name);
                return EXIT_USAGE;
            }
            /* Checkpoints that record the threads in use are compared on those, once known. */
            if (!equal && strcmp(s->name, "n_cpu") == 0 && !tnn_metadata_get(md, "threads"))
                fprintf(stderr, "%s: note: --n_cpu %s differs from the checkpoint's %s; the run continues, but not "
                        "bit for bit as it would have without the interruption\n", PROG, now, v);
            continue;
        }
        char *copy = strdup(v); /* string flags keep a pointer to their value */
        if (!copy) {
            fprintf(stderr, "%s: out of memory\n", PROG);
            return EXIT_ERROR;
        }
        owned[(*n_owned)++] = copy;
        if (flags_set(PROG, s, copy) != FLAGS_OK) {
            fprintf(stderr, "%s: --resume %s: the recorded %s is not valid\n", PROG, path, s->name);
            return EXIT_USAGE;
        }
    }
    return 0;
}

/* ---------------- before training: flags, data, outputs ---------------- */

static bool flag_given(const run *r, const char *name)
{
    return r->given[flags_find(r->specs, r->n_specs, name) - r->specs];
}

/* --resume: load the checkpoint; it supplies the flags not given, and --out defaults to
 * its folder. 0, or the exit status. */
static int open_checkpoint(run *r)
{
    options *o = &r->o;
    if (!o->resume) return 0;
    /* a file that is missing, a folder or unreadable is a bad flag (status 2), as a
     * missing --data folder is; one whose contents are damaged is an error (1) */
    const char *why = flags_input_problem(o->resume, true);
    if (why) {
        fprintf(stderr, "%s: --resume %s: %s\n", PROG, o->resume, why);
        return EXIT_USAGE;
    }
    if (!(r->ck = tnn_safetensors_load(o->resume))) {
        fprintf(stderr, "%s: --resume: %s\n", PROG, tnn_last_error());
        return EXIT_ERROR;
    }
    int status = apply_checkpoint_flags(tnn_safetensors_metadata(r->ck), o->resume, r->specs, r->n_specs, r->given,
                                        r->owned, &r->n_owned);
    if (status) return status;
    if (!flag_given(r, "out")) { /* the checkpoint's folder */
        snprintf(r->out_dir, sizeof r->out_dir, "%s", o->resume);
        char *slash = strrchr(r->out_dir, '/');
        if (!slash) snprintf(r->out_dir, sizeof r->out_dir, ".");
        else if (slash == r->out_dir) r->out_dir[1] = '\0';
        else *slash = '\0';
        o->out = r->out_dir;
    }
    return 0;
}

/* The networks' settings from the flags. */
static gan_config config_of(const options *o)
{
    gan_config gc = gan_config_defaults();
    gc.latent_dim = o->latent_dim;
    gc.img_size = o->img_size;
    gc.channels = o->channels;
    gc.bn_eps = o->bn_eps;
    gc.bn_momentum = o->bn_momentum;
    return gc;
}

/* Before any memory is reserved for the networks (Linux overcommits, so a network far
 * too large is not refused by malloc but ends the process when it is used): the
 * parameters, their gradients and Adam's two moments of both networks must fit in the
 * machine's memory, and a checkpoint must hold the generator its metadata describes
 * (made-up sizes would reserve gigabytes for nothing, as in mnist_gan_sample). 0, or
 * the exit status. */
static int check_sizes(run *r)
{
    const options *o = &r->o;
    gan_config gc = config_of(o);
    uint64_t g = gan_generator_values(&gc), d = gan_discriminator_values(&gc);
    if (r->ck) {
        uint64_t have = gan_values_in_file(r->ck, GAN_CHECKPOINT_GENERATOR);
        if (g > have) {
            fprintf(stderr, "%s: --resume %s: its settings (latent_dim %d, img_size %d, channels %d) describe a "
                    "generator of %" PRIu64 " values, the file holds %" PRIu64 "\n", PROG, o->resume, o->latent_dim,
                    o->img_size, o->channels, g, have);
            return EXIT_USAGE;
        }
    }
    double need = 16.0 * (double)(g + d), mem = flags_memory_bytes();
    if (mem > 0.0 && need > mem) {
        fprintf(stderr, "%s: --img_size %d, --latent_dim %d, --channels %d: the networks' parameters, gradients and "
                "Adam's moments alone take %.1f GB, more than this machine's %.1f GB of memory\n", PROG, o->img_size,
                o->latent_dim, o->channels, need / 1e9, mem / 1e9);
        return EXIT_USAGE;
    }
    return 0;
}

/* After the data is loaded, before the networks are built: check_sizes' networks, a
 * batch's activations and gradients (at least 8 bytes per feature per image of both
 * networks, gan_generator_features) and the images already loaded must fit in the machine's
 * memory. A lower bound: a run that passes can still run out (the seed's settings keep
 * about 11 bytes per feature per image), but one refused could not have finished; without
 * this check a batch far too large was reserved (overcommit) and the process killed
 * when it was used. 0, or the exit status. */
static int check_memory(run *r)
{
    const options *o = &r->o;
    gan_config gc = config_of(o);
    int max_batch = o->batch_size < r->n_images ? o->batch_size : r->n_images;
    double nets = 16.0 * (double)(gan_generator_values(&gc) + gan_discriminator_values(&gc));
    double features = (double)(gan_generator_features(&gc) + gan_discriminator_features(&gc));
    double batch = 8.0 * (double)max_batch * features, data = (double)r->idx.count;
    double mem = flags_memory_bytes();
    if (mem > 0.0 && nets + batch + data > mem) {
        fprintf(stderr, "%s: --batch_size %d with --img_size %d: a batch's activations and gradients take at least "
                "%.1f GB, which with the networks (%.1f GB) and the images (%.2f GB) is more than this machine's "
                "%.1f GB of memory; choose a smaller batch\n", PROG, o->batch_size, o->img_size, batch / 1e9,
                nets / 1e9, data / 1e9, mem / 1e9);
        return EXIT_USAGE;
    }
    return 0;
}

/* --snapshot_epochs "1,5,25" into r->snap. 0, or the exit status. */
static int parse_snapshot_epochs(run *r)
{
    const options *o = &r->o;
    if (!o->snapshot_epochs) return 0;
    size_t cap = strlen(o->snapshot_epochs) / 2 + 1;
    if (!(r->snap = malloc(cap * sizeof *r->snap))) return out_of_memory();
    if (!parse_epoch_list(o->snapshot_epochs, r->snap, (int)cap, &r->n_snap)) {
        fprintf(stderr, "%s: --snapshot_epochs: '%s' is not a comma-separated list of positive integers\n", PROG,
                o->snapshot_epochs);
        return EXIT_USAGE;
    }
    return 0;
}

/* The training images, from --data (or the checkpoint's folder), TINYNN_DATA or the
 * bundled copy, checked against the flags and, resuming, against the checkpoint's
 * fingerprint. 0, or the exit status. */
static int open_data(run *r)
{
    options *o = &r->o;
    const char *data_from, *data_dir = flags_data_dir(o->data, TNN_DEFAULT_DATA_DIR, &data_from);
    if (o->data && o->resume && !flag_given(r, "data")) data_from = "the checkpoint's data folder";
    /* Recorded in the checkpoint as an absolute path, so that --resume works from any folder. */
    if (realpath(data_dir, r->data_abs)) data_dir = r->data_abs;
    o->data = data_dir;
    char err[PATH_MAX + 256];
    if (flags_find_data_file(data_dir, data_from, "train-images-idx3-ubyte", r->images_path, sizeof r->images_path,
                             err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return EXIT_USAGE;
    }
    if (tnn_idx_load(r->images_path, &r->idx) != TNN_OK) { /* not valid IDX, or out of memory */
        fprintf(stderr, "%s: %s\n", PROG, tnn_last_error());
        return EXIT_ERROR;
    }
    int h, w, c;
    if (tnn_idx_image_shape(&r->idx, r->images_path, &r->n_images, &h, &w, &c) != TNN_OK) { /* IDX, but not images */
        fprintf(stderr, "%s: %s\n", PROG, tnn_last_error());
        return EXIT_USAGE;
    }
    if (c != o->channels) {
        fprintf(stderr, "%s: --channels %d: the images in %s have %d channel%s\n", PROG, o->channels, r->images_path,
                c, c == 1 ? "" : "s");
        return EXIT_USAGE;
    }
    r->batches = (int)((r->n_images + (long long)o->batch_size - 1) / o->batch_size);
    if (r->n_images == 1) {
        fprintf(stderr, "%s: %s holds 1 image; BatchNorm1d needs at least 2 per batch in training\n", PROG,
                r->images_path);
        return EXIT_USAGE;
    }
    if (r->n_images % o->batch_size == 1) {
        fprintf(stderr, "%s: --batch_size %d: the last batch of %d images would hold 1 image, and BatchNorm1d needs 2 "
                "in training (PyTorch fails the same way); choose another batch size\n", PROG, o->batch_size,
                r->n_images);
        return EXIT_USAGE;
    }
    snprintf(r->fingerprint, sizeof r->fingerprint, "%016" PRIx64, gan_data_fingerprint(&r->idx));
    snprintf(r->n_images_text, sizeof r->n_images_text, "%d", r->n_images);
    if (r->ck) {
        const tnn_metadata *md = tnn_safetensors_metadata(r->ck);
        const char *n_ck = tnn_metadata_get(md, "n_images"), *f_ck = tnn_metadata_get(md, "data_fingerprint");
        if (!n_ck || !f_ck || strcmp(n_ck, r->n_images_text) != 0 || strcmp(f_ck, r->fingerprint) != 0) {
            fprintf(stderr, "%s: %s: the training images differ from the checkpoint's (%s images, fingerprint %s; the "
                    "checkpoint has %s images, fingerprint %s); resume on the same data\n", PROG, r->images_path,
                    r->n_images_text, r->fingerprint, n_ck ? n_ck : "?", f_ck ? f_ck : "?");
            return EXIT_USAGE;
        }
    }
    return 0;
}

/* --out: the output paths fit, the folders exist (created only now, after every check of
 * the data: a run refused for its data leaves no folder behind) and can be written, and
 * the outputs already there are files that can be replaced. 0, or EXIT_USAGE. */
static int check_outputs(run *r)
{
    const options *o = &r->o;
    if (snprintf(r->images_dir, sizeof r->images_dir, "%s/images", o->out) >= (int)sizeof r->images_dir ||
        snprintf(r->out_ckpt, sizeof r->out_ckpt, "%s/checkpoint.safetensors", o->out) >= (int)sizeof r->out_ckpt ||
        snprintf(r->out_csv, sizeof r->out_csv, "%s/losses.csv", o->out) >= (int)sizeof r->out_csv ||
        snprintf(r->out_plot, sizeof r->out_plot, "%s/losses.png", o->out) >= (int)sizeof r->out_plot ||
        snprintf(r->out_weights[0], PATH_MAX, "%s/generator.safetensors", o->out) >= PATH_MAX ||
        snprintf(r->out_weights[1], PATH_MAX, "%s/discriminator.safetensors", o->out) >= PATH_MAX) {
        fprintf(stderr, "%s: --out %s: path too long\n", PROG, o->out);
        return EXIT_USAGE;
    }
    int err;
    if ((err = check_writable_dir(o->out))) {
        fprintf(stderr, "%s: --out %s: cannot write there: %s\n", PROG, o->out, strerror(err));
        return EXIT_USAGE;
    }
    if ((err = check_writable_dir(r->images_dir))) {
        fprintf(stderr, "%s: --out %s: cannot write the sample grids into %s: %s\n", PROG, o->out, r->images_dir,
                strerror(err));
        return EXIT_USAGE;
    }
    /* One run per folder: two would write losses.csv in turns and replace each other's
     * checkpoint, grids and weights. The lock is the folder's own (flock), held until
     * the program exits; where locks are not supported it is skipped. */
    int lock = open(o->out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        fprintf(stderr, "%s: --out %s: another mnist_gan is writing there (it holds the folder's lock); wait for it "
                "to finish or choose another --out\n", PROG, o->out);
        close(lock);
        return EXIT_USAGE;
    }
    const char *outs[5] = {r->out_ckpt, r->out_csv, r->out_plot, r->out_weights[0], r->out_weights[1]};
    for (int k = 0; k < 5; k++) {
        if (flags_exists_not_regular(outs[k])) {
            fprintf(stderr, "%s: --out %s: %s exists and is not a regular file\n", PROG, o->out, outs[k]);
            return EXIT_USAGE;
        }
        if (flags_write_protected(outs[k])) { /* found now, not when the trained weights are saved */
            fprintf(stderr, "%s: --out %s: %s is write-protected; make it writable or choose another --out\n", PROG,
                    o->out, outs[k]);
            return EXIT_USAGE;
        }
    }
    /* losses.csv is rewritten in place (the other files through a temporary file and a
     * rename, which the folder's permission allows): one that cannot be written is found
     * now, not after the notes about what this run replaces */
    if (access(r->out_csv, F_OK) == 0 && access(r->out_csv, W_OK) != 0) {
        fprintf(stderr, "%s: --out %s: %s cannot be written: %s\n", PROG, o->out, r->out_csv, strerror(errno));
        return EXIT_USAGE;
    }
    for (int k = 0; k < r->n_snap; k++) { /* the snapshots too, rather than after an epoch of training */
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/generator_epoch%d.safetensors", o->out, r->snap[k]);
        if (flags_exists_not_regular(p) || flags_write_protected(p)) {
            fprintf(stderr, "%s: --snapshot_epochs: %s %s\n", PROG, p,
                    flags_exists_not_regular(p) ? "exists and is not a regular file" : "is write-protected");
            return EXIT_USAGE;
        }
    }
    return 0;
}

/* An earlier run's sample grid that this run writes again (images/<done>.png for the
 * batches still to come that are multiples of --sample_interval), write-protected: found
 * now rather than at that batch. Other files in images/ are not this run's business.
 * Called once a resumed run knows where it starts. 0, or the exit status. */
static int check_grids(const run *r)
{
    const int64_t from = r->s.n_hist, to = (int64_t)r->o.n_epochs * r->batches;
    DIR *grids = opendir(r->images_dir);
    int status = 0;
    for (struct dirent *e; grids && !status && (e = readdir(grids));) {
        const char *n = e->d_name;
        size_t len = strspn(n, "0123456789");
        if (len == 0 || len > 18 || strcmp(n + len, ".png") != 0) continue;
        int64_t done = strtoll(n, NULL, 10);
        char p[PATH_MAX];
        if (done < from || done >= to || done % r->o.sample_interval != 0 ||
            snprintf(p, sizeof p, "%s/%s", r->images_dir, n) >= (int)sizeof p || !flags_write_protected(p))
            continue;
        fprintf(stderr, "%s: --out %s: %s, which this run writes after %" PRId64 " batches, is write-protected; make "
                "it writable or choose another --out\n", PROG, r->o.out, p, done);
        status = EXIT_USAGE;
    }
    if (grids) closedir(grids);
    return status;
}

/* A checkpoint already in --out (other than the one resumed from). A run that was stopped
 * before its last epoch is work this run would throw away (a new run, or one resumed from
 * elsewhere into this folder): refuse, and say how to continue it. So is a checkpoint
 * this program cannot read (permissions, I/O): what it holds is not known. A finished
 * run's checkpoint, or a file that is not a checkpoint, is replaced, with a note
 * (replace_checkpoint, once the run is sure to start). 0, or the exit status. */
static int check_old_checkpoint(run *r)
{
    const options *o = &r->o;
    if (o->resume && flags_same_file(o->resume, r->out_ckpt)) return 0;
    if (access(r->out_ckpt, F_OK) != 0) { /* no checkpoint; an earlier run's weights, perhaps */
        if (access(r->out_weights[0], F_OK) == 0 || access(r->out_weights[1], F_OK) == 0)
            snprintf(r->replace_note, sizeof r->replace_note, "%s: note: --out %s holds an earlier run's weights "
                     "(generator.safetensors, discriminator.safetensors) without its checkpoint; this run replaces "
                     "them when it finishes (another --out keeps them)\n", PROG, o->out);
        return 0;
    }
    int64_t done_epochs = -1;
    long planned = -1;
    tnn_safetensors *old = tnn_safetensors_load(r->out_ckpt);
    if (!old && strstr(tnn_last_error(), "out of memory")) return out_of_memory(); /* not a reason to replace it */
    char why[256];
    snprintf(why, sizeof why, "%s", old ? "no training progress in it" : tnn_last_error());
    if (!old) { /* not a checkpoint, or not readable? Read it through to tell */
        FILE *probe = fopen(r->out_ckpt, "rb");
        int read_err = probe ? 0 : errno;
        char chunk[65536];
        errno = 0;
        while (probe && fread(chunk, 1, sizeof chunk, probe) == sizeof chunk) {}
        if (probe && ferror(probe)) read_err = errno ? errno : EIO;
        if (probe) fclose(probe);
        if (read_err) {
            fprintf(stderr, "%s: --out %s: cannot read %s to see whether it holds an unfinished run: %s; give another "
                    "--out, or move it away\n", PROG, o->out, r->out_ckpt, strerror(read_err));
            return EXIT_USAGE;
        }
    }
    bool known = old && gan_checkpoint_progress(old, &done_epochs, &planned);
    tnn_safetensors_free(old);
    if (known && done_epochs >= 0 && done_epochs < planned) {
        if (o->resume)
            fprintf(stderr, "%s: --out %s holds another unfinished run (%" PRId64 " of its %ld epochs done, in %s), "
                    "which resuming %s there would replace; give another --out, or move that checkpoint away\n", PROG,
                    o->out, done_epochs, planned, r->out_ckpt, o->resume);
        else
            fprintf(stderr, "%s: --out %s holds an unfinished run (%" PRId64 " of its %ld epochs done, in %s); "
                    "continue it with --resume %s (and a larger --n_epochs if you like), or give another --out, or "
                    "move the checkpoint away, to start a new run\n", PROG, o->out, done_epochs, planned, r->out_ckpt,
                    r->out_ckpt);
        return EXIT_USAGE;
    }
    if (known)
        snprintf(r->replace_note, sizeof r->replace_note, "%s: note: %s holds a finished run and will be replaced by "
                 "this %s, whose losses and images replace that run's from the first batch on (--resume %s with a "
                 "larger --n_epochs continues it instead; another --out keeps it)\n", PROG, r->out_ckpt,
                 o->resume ? "resumed run" : "new run", r->out_ckpt);
    else
        snprintf(r->replace_note, sizeof r->replace_note, "%s: note: %s exists but is not a checkpoint of this program "
                 "(%s)", PROG, r->out_ckpt, why), r->move_aside = true;
    return 0;
}

/* ---------------- the networks and the checkpoint ---------------- */

/* Models, optimizers, buffers and the metadata the outputs carry: everything allocated
 * before the loop. 0, or the exit status. */
static int build_networks(run *r)
{
    const options *o = &r->o;
    r->threads = tnn_set_num_threads(o->n_cpu); /* capped at the cores present */
    blas_note(PROG); /* AVX-512 left unused by an older OpenBLAS: say how to fix it */
    gan_config *gc = &r->gc;
    *gc = config_of(o);
    tnn_adam_params adam = tnn_adam_defaults();
    adam.lr = o->lr;
    adam.beta1 = o->b1;
    adam.beta2 = o->b2;
    tnn_rng rng;
    tnn_rng_seed(&rng, o->seed);
    int max_batch = o->batch_size < r->n_images ? o->batch_size : r->n_images;
    r->tr = gan_trainer_new(gc, adam, adam, max_batch, &rng);
    r->real = tnn_tensor_new2(max_batch, gan_img_features(gc));
    if (!r->tr || !r->real) {
        fprintf(stderr, "%s: setting up the networks failed: %s\n", PROG, tnn_last_error());
        return EXIT_ERROR;
    }
    if (gan_train_state_init(&r->s, r->tr, r->n_images, r->batches)) return out_of_memory();
    r->s.rng = rng; /* the one stream goes on after the initialisation's draws (gan.py draws from
                     * torch's generator and NumPy's; one stream cannot match those numbers) */
    if (!(r->md_weights = gan_config_to_metadata(gc)) || !(r->md_ckpt = tnn_metadata_clone(r->md_weights)) ||
        !(r->plot = plot_new(800, 450)))
        return out_of_memory();
    /* the checkpoint records the flags, the data and what the bits depend on */
    tnn_status st = tnn_metadata_set(r->md_ckpt, "format", CHECKPOINT_FORMAT);
    for (int i = 0; i < r->n_specs && !st; i++) {
        const flag_spec *f = &r->specs[i];
        if (!IN(f->name, RECORDED) || (f->type == FLAG_T_STRING && !*(const char **)f->value)) continue;
        char v[PATH_MAX];
        flags_format_value(v, sizeof v, f);
        st = tnn_metadata_set(r->md_ckpt, f->name, v);
    }
    if (!st) st = tnn_metadata_set(r->md_ckpt, "n_images", r->n_images_text);
    if (!st) st = tnn_metadata_set(r->md_ckpt, "data_fingerprint", r->fingerprint);
    if (!st) st = tnn_metadata_set(r->md_ckpt, "blas_core", blas_core()); /* the products' bits depend on it */
    char threads_text[16];
    snprintf(threads_text, sizeof threads_text, "%d", r->threads);
    if (!st) st = tnn_metadata_set(r->md_ckpt, "threads", threads_text); /* and on this, not on --n_cpu */
    return st ? out_of_memory() : 0;
}

/* --resume: the networks, optimizers, data order and history from the checkpoint, which
 * is then freed. 0, or the exit status. */
static int restore_checkpoint(run *r)
{
    const options *o = &r->o;
    if (!r->ck) return 0;
    const tnn_metadata *md = tnn_safetensors_metadata(r->ck);
    char msg[1024], core[64] = "", th[16] = ""; /* core, th: for the notes below, once it is known that training goes on */
    const char *v = tnn_metadata_get(md, "blas_core");
    if (v) snprintf(core, sizeof core, "%s", v);
    if ((v = tnn_metadata_get(md, "threads"))) snprintf(th, sizeof th, "%s", v);
    if (gan_checkpoint_restore(r->ck, o->resume, &r->s, msg, sizeof msg) != TNN_OK) {
        fprintf(stderr, "%s: --resume: %s\n", PROG, msg);
        return EXIT_ERROR;
    }
    char bad[256];
    size_t at;
    if (gan_trainer_find_nonfinite(r->tr, bad, sizeof bad, &at)) {
        fprintf(stderr, "%s: --resume %s: %s[%zu] is not finite; checkpoints are written only while training is "
                "finite, so this file was changed since\n", PROG, o->resume, bad, at);
        return EXIT_ERROR;
    }
    if (gan_trainer_find_negative(r->tr, bad, sizeof bad, &at)) {
        fprintf(stderr, "%s: --resume %s: %s[%zu] is negative, which no training writes (a variance, a second moment "
                "or a count); this file was changed since\n", PROG, o->resume, bad, at);
        return EXIT_ERROR;
    }
    /* finished: the epochs it was started for are all done (a run stopped early and
     * resumed with a smaller --n_epochs is not) */
    const char *planned = tnn_metadata_get(md, "n_epochs");
    const bool finished = r->s.batch == 0 && planned && r->s.epoch == atoll(planned) && r->s.epoch == o->n_epochs;
    tnn_safetensors_free(r->ck); /* 25 MB we no longer need */
    r->ck = NULL;
    const bool weights_missing = access(r->out_weights[0], F_OK) != 0 || access(r->out_weights[1], F_OK) != 0;
    if (finished && weights_missing) { /* a final save that failed */
        fprintf(stderr, "%s: --resume %s: the run is finished but %s/generator.safetensors and "
                "discriminator.safetensors are not both there: writing them\n", PROG, o->resume, o->out);
    } else if (r->s.epoch >= o->n_epochs) {
        fprintf(stderr, "%s: --resume %s: the checkpoint has completed %" PRId64 " epoch%s and --n_epochs is %d: "
                "nothing left to do (give a larger --n_epochs to train on)\n", PROG, o->resume, r->s.epoch,
                r->s.epoch == 1 ? "" : "s", o->n_epochs);
        return EXIT_USAGE;
    }
    r->ckpt_at = flags_same_file(o->resume, r->out_ckpt) ? r->s.n_hist : -1; /* the file resumed from, if in --out */
    if (r->s.epoch < o->n_epochs) {
        if (*th && atoi(th) != r->threads)
            fprintf(stderr, "%s: note: this run computes on %d thread%s, the checkpoint was written on %s (--n_cpu, "
                    "capped at the cores present); the run continues, but not bit for bit as it would have without "
                    "the interruption\n", PROG, r->threads, r->threads == 1 ? "" : "s", th);
        if (*core && strcmp(core, blas_core()) != 0)
            fprintf(stderr, "%s: note: OpenBLAS runs its '%s' kernels, the checkpoint was written with '%s' "
                    "(OPENBLAS_CORETYPE); the run continues, but not bit for bit as it would have without the "
                    "interruption\n", PROG, blas_core(), core);
        fprintf(stderr, "%s: resuming %s at [Epoch %" PRId64 "/%d] [Batch %" PRId64 "/%d]\n", PROG, o->resume,
                r->s.epoch, o->n_epochs, r->s.batch, r->batches);
    }
    return 0;
}

/* Once the run is sure to start, deal with the file check_old_checkpoint found in place
 * of the checkpoint, if any: a finished run's checkpoint is replaced later, and only
 * the note says so now; someone's file, or a damaged checkpoint, is renamed *.old*, not
 * overwritten. With nothing there, the note is empty. 0, or EXIT_USAGE. */
static int replace_checkpoint(run *r)
{
    if (!r->move_aside) {
        fputs(r->replace_note, stderr);
        return 0;
    }
    char aside[PATH_MAX + 16];
    int k = 0, err = 0;
    for (; k < 100; k++) { /* link, which never replaces a file there (rename would), then unlink */
        snprintf(aside, sizeof aside, k ? "%s.old%d" : "%s.old", r->out_ckpt, k + 1);
        err = link(r->out_ckpt, aside) == 0 ? 0 : errno;
        if (err != EEXIST) break;
    }
    if (k < 100 && !err && unlink(r->out_ckpt) != 0) err = errno;
    if (k == 100 || err) {
        fprintf(stderr, "%s: --out %s: %s exists and is not a checkpoint of this program, and it could not be moved "
                "aside (%s); move it away\n", PROG, r->o.out, r->out_ckpt, k == 100 ? "100 .old files" :
                strerror(err));
        return EXIT_USAGE;
    }
    r->moved_aside = true;
    fprintf(stderr, "%s; moved to %s\n", r->replace_note, aside);
    return 0;
}

/* Free everything; the exit status (losses.csv's close can still fail). */
static int run_free(run *r, int status)
{
    fflush(stdout);
    if (r->csv && fclose(r->csv) != 0 && status == 0) {
        fprintf(stderr, "%s: writing %s failed: %s\n", PROG, r->out_csv, strerror(errno));
        status = EXIT_ERROR;
    }
    plot_free(r->plot);
    tnn_metadata_free(r->md_weights);
    tnn_metadata_free(r->md_ckpt);
    gan_train_state_free(&r->s);
    tnn_tensor_free(r->real);
    gan_trainer_free(r->tr);
    tnn_idx_free(&r->idx);
    tnn_safetensors_free(r->ck);
    free(r->snap);
    for (int k = 0; k < r->n_owned; k++) free(r->owned[k]);
    if (g_alloc_fail_at >= 0 && g_alloc_count <= g_alloc_fail_at)
        fprintf(stderr, "%s: TINYNN_DEBUG_FAIL_ALLOC: %ld allocations, none failed\n", PROG, g_alloc_count);
    return status;
}

/* ---------------- main ---------------- */

int main(int argc, char **argv)
{
    static run R; /* zeroed; main runs once */
    flags_program_start();
    static const char *const progress_modes[] = {"auto", "bar", "lines", NULL};
    R.gc = gan_config_defaults();
    R.ckpt_at = -1;
    const gan_config *gc = &R.gc;
    options *o = &R.o;
    *o = (options){
        .n_epochs = 100, .batch_size = 128, .lr = 0.0002, .b1 = 0.5, .b2 = 0.999, .n_cpu = 8,
        .latent_dim = gc->latent_dim, .img_size = gc->img_size, .channels = gc->channels, .sample_interval = 400,
        .data = NULL, .out = ".", .seed = 0, .bn_eps = gc->bn_eps, .bn_momentum = gc->bn_momentum, .log_interval = 1,
        .checkpoint_interval = 0, .snapshot_epochs = NULL, .resume = NULL, .progress = "auto",
    };
    const flag_spec specs[] = {
        FLAG_INT("n_epochs", &o->n_epochs, 1, INT_MAX, "a positive integer", "number of epochs of training"),
        FLAG_INT("batch_size", &o->batch_size, 2, 1 << 20, "an integer >= 2 (BatchNorm1d needs 2 images per batch)",
                 "size of the batches"),
        FLAG_DOUBLE("lr", &o->lr, FLT_TRUE_MIN, FLT_MAX, FLAG_CLOSED, "a positive number in float, 1.4e-45 to 3.4e38",
                    "adam: learning rate"),
        FLAG_DOUBLE("b1", &o->b1, 0.0, 1.0, FLAG_HI_OPEN, "a number in [0, 1)",
                    "adam: decay of first order momentum of gradient"),
        FLAG_DOUBLE("b2", &o->b2, 0.0, 1.0, FLAG_HI_OPEN, "a number in [0, 1)",
                    "adam: decay of second order momentum of gradient"),
        FLAG_INT("n_cpu", &o->n_cpu, 1, 4096, "a positive integer",
                 "compute threads (the seed: data-loading workers); capped at the cores present"),
        FLAG_INT("latent_dim", &o->latent_dim, 1, GAN_MAX_LATENT, "an integer in [1, 65536]",
                 "dimensionality of the latent space"),
        FLAG_INT("img_size", &o->img_size, 1, GAN_MAX_IMG_SIZE, "an integer in [1, 1024]",
                 "size of each image dimension (MNIST is resized bilinearly, as the seed does)"),
        FLAG_INT("channels", &o->channels, 1, GAN_MAX_CHANNELS, "an integer in [1, 4]",
                 "number of image channels (must match the data)"),
        FLAG_INT("sample_interval", &o->sample_interval, 1, INT_MAX, "a positive integer",
                 "interval between image samples (and redraws of losses.png)"),
        FLAG_STRING("data", &o->data, "DIR",
                    "folder with train-images-idx3-ubyte[.gz] (default: $TINYNN_DATA, else the bundled data/mnist)"),
        FLAG_STRING("out", &o->out, "DIR",
                    "output folder for images/, the weights, the checkpoint and the losses (with --resume: the "
                    "checkpoint's folder)"),
        FLAG_U64("seed", &o->seed, "a non-negative integer", "random seed (weights, data order, noise)"),
        FLAG_DOUBLE("bn_eps", &o->bn_eps, 0.0, HUGE_VAL, FLAG_CLOSED, "a non-negative number",
                    "generator BatchNorm1d eps (the seed's 0.8; PyTorch's default is 1e-5)"),
        FLAG_DOUBLE("bn_momentum", &o->bn_momentum, 0.0, 1.0, FLAG_CLOSED, "a number in [0, 1]",
                    "generator BatchNorm1d momentum"),
        FLAG_INT("log_interval", &o->log_interval, 1, INT_MAX, "a positive integer",
                 "print the loss line every this many batches (when not showing a progress bar)"),
        FLAG_INT("checkpoint_interval", &o->checkpoint_interval, 0, INT_MAX, "a non-negative integer",
                 "write <out>/checkpoint.safetensors every N batches; 0: at the end of every epoch"),
        FLAG_STRING("snapshot_epochs", &o->snapshot_epochs, "LIST",
                    "after each listed epoch (counting from 1), save <out>/generator_epoch<E>.safetensors; e.g. "
                    "1,5,25,100"),
        FLAG_STRING("resume", &o->resume, "FILE",
                    "continue the run saved in this checkpoint; flags left out take its recorded values"),
        FLAG_CHOICE("progress", &o->progress, progress_modes, "MODE",
                    "auto: a progress bar when stdout is a terminal, else the per-batch lines"),
    };
    const int n_specs = (int)(sizeof specs / sizeof specs[0]);
    const char *summary =
        "Train the vanilla GAN of PyTorch-GAN's gan.py on MNIST (or any IDX image set).\n"
        "Prints one line per batch (a progress bar on a terminal), writes <out>/images/<batches_done>.png\n"
        "every --sample_interval batches, <out>/losses.csv and losses.png, <out>/checkpoint.safetensors\n"
        "every epoch, and <out>/{generator,discriminator}.safetensors at the end. SIGINT/SIGTERM stop\n"
        "after the current batch with a checkpoint; --resume continues from it.";
    R.specs = specs;
    R.n_specs = n_specs;
    int status = flags_parse_given(PROG, summary, specs, n_specs, argc, argv, R.given);
    if (status == FLAGS_HELP) return 0;
    if (status) return EXIT_USAGE;
    if ((status = install_failing_allocator())) return status;

    /* everything that can be checked is checked before training */
    status = open_checkpoint(&R);
    if (!status) status = check_sizes(&R);
    if (!status) status = parse_snapshot_epochs(&R);
    if (!status) status = open_data(&R);
    if (!status) status = check_memory(&R);
    if (!status) status = check_outputs(&R);
    if (!status) status = check_old_checkpoint(&R);
    if (!status) status = build_networks(&R);
    if (!status) status = restore_checkpoint(&R);
    if (!status) status = check_grids(&R);
    if (!status) status = read_debug_hooks(&R, &R.dbg);
    if (!status) status = replace_checkpoint(&R);
    if (!status) status = csv_open(&R);
    if (!status) {
        R.bar = strcmp(o->progress, "bar") == 0 || (strcmp(o->progress, "auto") == 0 && isatty(STDOUT_FILENO));
        /* The seed prints its options first (argparse's Namespace, sorted by name). */
        install_signal_handlers(R.bar);
        flags_print_namespace(stdout, specs, n_specs);
        flush_stdout();
        status = train(&R);
    }
    if (!status) status = save_weights(&R);
    return run_free(&R, status);
}
