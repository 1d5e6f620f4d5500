/* Checkpoints, --resume, signals and divergence of examples/mnist_gan, end to end, on
 * a 256-image IDX file the test writes (8 batches of 32 per epoch, one thread):
 *
 *   resume_exact_*       an uninterrupted run against one stopped midway (a signal the
 *                        program raises itself at a given batch, via the documented
 *                        testing hook, so the stop point does not depend on timing) and
 *                        then resumed: every log line after the resume point, the final
 *                        weights, the final checkpoint, losses.csv, losses.png and the
 *                        grids are byte for byte the uninterrupted run's;
 *   resume_refuses_*     flags that define the run, other data, files that are not
 *                        checkpoints or are damaged: refused, naming the key or problem;
 *   signal_sigterm_*     SIGTERM sent by the test once training is under way: the batch
 *                        finishes, a checkpoint is written, exit status 143, and --resume
 *                        goes on from the next batch;
 *   diverge_*            a NaN injected into the generator (testing hook): stop with the
 *                        epoch and batch, exit status 3, the last checkpoint untouched.
 *
 * Label `resume`. Usage: test_mnist_gan_resume CASE path/to/mnist_gan path/to/mnist_gan_sample */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"
#include "test_mnist_gan_util.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The flags every run here shares. */
static const char *common(void)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "--batch_size 32 --n_cpu 1 --seed 7 --sample_interval 5 --data '%s'", gt_path("data"));
    return buf;
}

/* The "[Epoch" lines of a run's stdout, from the skip-th one on, joined. */
static char *batch_lines(const char *text, int skip)
{
    char *res = calloc(1, strlen(text) + 1);
    const char *p = text;
    int k = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
        if (strncmp(p, "[Epoch ", 7) == 0 && k++ >= skip) strncat(res, p, len);
        p += len;
    }
    return res;
}

static int count_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, "[Epoch ")); p++) n++;
    return n;
}

/* Run mnist_gan, expecting exit status want; returns its stdout (free it). */
static char *gan(const char *env, const char *args, int want, char **err_out)
{
    char *out, *err;
    int rc = gt_run(env, g_gan, args, &out, &err);
    if (rc != want) fail_msg("mnist_gan %s%s%s: exit status %d, expected %d; stderr:\n%s", env ? "(" : "",
                             env ? env : "", env ? ") " : "", rc, want, err);
    if (err_out) *err_out = err;
    else free(err);
    return out;
}

/* The outputs in a/ are byte for byte those in u/ (the weights, the checkpoint, the
 * losses and, with grids, images/20.png). */
static void assert_same_outputs(bool grids)
{
    const char *same[] = {"generator.safetensors", "discriminator.safetensors", "checkpoint.safetensors",
                          "losses.csv", "losses.png", "images/20.png"};
    for (size_t i = 0; i < sizeof same / sizeof same[0] - (grids ? 0 : 1); i++) {
        char pu[256], pa[256];
        snprintf(pu, sizeof pu, "u/%s", same[i]);
        snprintf(pa, sizeof pa, "a/%s", same[i]);
        gt_assert_same_file(gt_path(pu), gt_path(pa));
    }
}

/* Called, when set, between the stopped run and the resumed one (to edit a/'s checkpoint). */
static void (*g_between_runs)(void);

/* An uninterrupted 3-epoch run in u/ against a run in a/ (flags a_flags, environment
 * a_env) that stops with status a_rc after `done` batches, then `--resume
 * a/checkpoint.safetensors r_flags`. */
static void resume_scenario(const char *extra, const char *a_env, const char *a_flags, int a_rc, int done,
                            const char *r_flags, const char *a_message)
{
    gt_write_dataset(gt_path("data"), 256, 11);
    char args[2048], *err;
    snprintf(args, sizeof args, "%s %s --n_epochs 3 --out '%s'", common(), extra, gt_path("u"));
    char *u = gan(NULL, args, 0, NULL);
    assert_int_equal(count_lines(u), 24);

    snprintf(args, sizeof args, "%s %s %s --out '%s'", common(), extra, a_flags, gt_path("a"));
    char *a = gan(a_env, args, a_rc, &err);
    if (a_message) gt_assert_contains(err, a_message);
    free(err);
    /* identical up to the stop (unless the stopped run had other --n_epochs) */
    char *a_lines = batch_lines(a, 0), *u_head = batch_lines(u, 0);
    assert_int_equal(count_lines(a_lines), done);
    u_head[strlen(a_lines)] = '\0';
    if (strstr(a_flags, "--n_epochs 3")) assert_string_equal(a_lines, u_head);
    if (a_rc != 0) assert_int_not_equal(access(gt_path("a/generator.safetensors"), F_OK), 0);

    if (g_between_runs) g_between_runs();
    snprintf(args, sizeof args, "--resume '%s' %s", gt_path("a/checkpoint.safetensors"), r_flags);
    char *r = gan(NULL, args, 0, &err);
    gt_assert_contains(err, "resuming");
    free(err);
    char *r_lines = batch_lines(r, 0), *u_tail = batch_lines(u, done);
    assert_int_equal(count_lines(r_lines), 24 - done);
    assert_string_equal(r_lines, u_tail);
    assert_same_outputs(true);
    free(u);
    free(a);
    free(r);
    free(a_lines);
    free(u_head);
    free(r_lines);
    free(u_tail);
}

/* SIGINT in the middle of epoch 1 (during batch 13): batch 13 finishes, the checkpoint
 * holds the position (epoch 1, batch 6). All flags come back from the checkpoint. */
static void resume_exact_after_sigint(void **state)
{
    (void)state;
    resume_scenario("", "TINYNN_DEBUG_SIGNAL_AT_BATCH=13", "--n_epochs 3", 130, 14, "",
                    "stopped by SIGINT after [Epoch 1/3] [Batch 5/8]");
}

/* A second SIGINT while that checkpoint is being written: the program stops as soon as
 * the file is complete (status 130, by the signal), leaves no temporary file, and the
 * checkpoint resumes exactly. */
static void resume_exact_after_second_sigint_during_write(void **state)
{
    (void)state;
    resume_scenario("", "TINYNN_DEBUG_SIGNAL_AT_BATCH=13,INT2", "--n_epochs 3", 130, 14, "", NULL);
    DIR *d = opendir(gt_path("a"));
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp")) fail_msg("left behind: a/%s", e->d_name);
    closedir(d);
}

/* SIGTERM during the last batch of epoch 1, with checkpoints every 5 batches: the
 * checkpoint holds (epoch 2, batch 0), before epoch 2's shuffle. */
static void resume_exact_at_epoch_end_sigterm(void **state)
{
    (void)state;
    resume_scenario("--checkpoint_interval 5", "TINYNN_DEBUG_SIGNAL_AT_BATCH=15,TERM", "--n_epochs 3", 143, 16, "",
                    "stopped by SIGTERM after [Epoch 1/3] [Batch 7/8]");
}

/* A finished one-epoch run continued to three epochs (--n_epochs may change). */
static void resume_exact_more_epochs(void **state)
{
    (void)state;
    resume_scenario("", NULL, "--n_epochs 1", 0, 8, "--n_epochs 3", NULL);
}

/* The final save of the weights fails (testing hook): status 1, and the finished
 * checkpoint holds the trained networks, so --resume with it writes the weights without
 * training; every file then equals an uninterrupted run's. (It used to say "nothing
 * left to do", leaving the weights to be dug out of the checkpoint.) */
static void resume_after_a_failed_final_save(void **state)
{
    (void)state;
    gt_write_dataset(gt_path("data"), 256, 11);
    char args[2048], *err;
    snprintf(args, sizeof args, "%s --n_epochs 1 --out '%s'", common(), gt_path("u"));
    free(gan(NULL, args, 0, NULL));
    snprintf(args, sizeof args, "%s --n_epochs 1 --out '%s'", common(), gt_path("a"));
    free(gan("TINYNN_DEBUG_FAIL_SAVE=discriminator", args, 1, &err));
    gt_assert_contains(err, "saving the discriminator");
    gt_assert_contains(err, "holds the trained networks; --resume");
    free(err);
    assert_int_not_equal(access(gt_path("a/discriminator.safetensors"), F_OK), 0);
    /* (on another thread count: no note that training goes on differently, as none does) */
    snprintf(args, sizeof args, "--resume '%s' --n_cpu 2", gt_path("a/checkpoint.safetensors"));
    char *r = gan(NULL, args, 0, &err);
    gt_assert_contains(err, "the run is finished but");
    gt_assert_contains(err, "writing them");
    assert_null(strstr(err, "not bit for bit"));
    free(err);
    assert_int_equal(count_lines(r), 0);
    free(r);
    assert_same_outputs(false);
    /* with both weights there, nothing is left to do */
    snprintf(args, sizeof args, "--resume '%s'", gt_path("a/checkpoint.safetensors"));
    free(gan(NULL, args, 2, &err));
    gt_assert_contains(err, "nothing left to do");
    free(err);
    /* the same into another finished run's folder: refused, and no note that the
     * folder's run "will be replaced" comes before the refusal */
    snprintf(args, sizeof args, "--resume '%s' --out '%s'", gt_path("a/checkpoint.safetensors"), gt_path("u"));
    free(gan(NULL, args, 2, &err));
    gt_assert_contains(err, "nothing left to do");
    assert_null(strstr(err, "will be replaced"));
    free(err);
    /* a run stopped at the end of its first of 2 epochs is not finished: resumed with
     * --n_epochs 1 it has nothing left to do, and writes no weights as if it were */
    snprintf(args, sizeof args, "%s --n_epochs 2 --out '%s'", common(), gt_path("s"));
    free(gan("TINYNN_DEBUG_SIGNAL_AT_BATCH=7", args, 130, NULL));
    snprintf(args, sizeof args, "--resume '%s' --n_epochs 1", gt_path("s/checkpoint.safetensors"));
    free(gan(NULL, args, 2, &err));
    gt_assert_contains(err, "nothing left to do");
    free(err);
    assert_int_not_equal(access(gt_path("s/generator.safetensors"), F_OK), 0);
    /* a value the hook does not know: status 2 */
    snprintf(args, sizeof args, "%s --n_epochs 1 --out '%s'", common(), gt_path("b"));
    free(gan("TINYNN_DEBUG_FAIL_SAVE=weights", args, 2, &err));
    gt_assert_contains(err, "TINYNN_DEBUG_FAIL_SAVE='weights'");
    free(err);
}

/* The same at two threads (the later --n_cpu wins): the library's split of the
 * products is fixed for a thread count, so an interrupted and resumed run must still
 * equal the uninterrupted one bit for bit. */
static void resume_exact_two_threads(void **state)
{
    (void)state;
    resume_scenario("--n_cpu 2", "TINYNN_DEBUG_SIGNAL_AT_BATCH=13", "--n_epochs 3", 130, 14, "",
                    "stopped by SIGINT after [Epoch 1/3] [Batch 5/8]");
}

typedef void (*edit_fn)(const char *name, void *data, size_t nbytes);
typedef bool (*keep_fn)(const char *name);

/* Copy checkpoint src to dst (which may be src), leaving out the tensors keep refuses
 * (keep NULL: none), passing every tensor through edit and setting one metadata key
 * (md_key NULL: none; md_value NULL: that key left out). */
static void rewrite_checkpoint_keeping(const char *src, const char *dst, keep_fn keep, edit_fn edit, const char *md_key,
                                       const char *md_value)
{
    tnn_safetensors *st = tnn_safetensors_load(src);
    if (!st) fail_msg("%s", tnn_last_error());
    int n = tnn_safetensors_count(st);
    void **copies = calloc((size_t)n, sizeof *copies);
    tnn_tensor_list *l = tnn_tensor_list_new();
    for (int i = 0; i < n; i++) {
        const tnn_st_tensor *t = tnn_safetensors_get(st, i);
        if (keep && !keep(t->name)) continue;
        copies[i] = malloc(t->nbytes ? t->nbytes : 1);
        memcpy(copies[i], t->data, t->nbytes);
        if (edit) edit(t->name, copies[i], t->nbytes);
        int shape[TNN_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) shape[d] = (int)t->shape[d];
        TU_ASSERT_OK(tnn_tensor_list_add(l, t->name, t->dtype, copies[i], t->ndim, shape));
    }
    tnn_metadata *md = tnn_metadata_clone(tnn_safetensors_metadata(st));
    if (md_key && md_value) TU_ASSERT_OK(tnn_metadata_set(md, md_key, md_value));
    if (md_key && !md_value) { /* md_value NULL: the key is left out */
        const tnn_metadata *from = tnn_safetensors_metadata(st);
        tnn_metadata_free(md);
        md = tnn_metadata_new();
        for (int i = 0; i < tnn_metadata_count(from); i++)
            if (strcmp(tnn_metadata_key(from, i), md_key) != 0)
                TU_ASSERT_OK(tnn_metadata_set(md, tnn_metadata_key(from, i), tnn_metadata_value(from, i)));
    }
    TU_ASSERT_OK(tnn_safetensors_save(dst, l, md));
    tnn_metadata_free(md);
    tnn_tensor_list_free(l);
    for (int i = 0; i < n; i++) free(copies[i]);
    free(copies);
    tnn_safetensors_free(st);
}

static void rewrite_checkpoint(const char *src, const char *dst, edit_fn edit, const char *md_key, const char *md_value)
{
    rewrite_checkpoint_keeping(src, dst, NULL, edit, md_key, md_value);
}

/* Not an Adam count of one parameter ("optimizer_g.0.weight.step"): what a
 * checkpoint of libtinynn 0.2 holds. */
static bool not_param_count(const char *name)
{
    size_t n = strlen(name);
    return strncmp(name, "optimizer_", 10) != 0 || n < 5 || strcmp(name + n - 5, ".step") != 0 ||
           !strcmp(name + 11, ".step");
}

static bool not_one_param_count(const char *name) { return strcmp(name, "optimizer_d.2.bias.step") != 0; }

static void make_a_0_2_checkpoint(void)
{
    const char *ck = gt_path("a/checkpoint.safetensors");
    tnn_safetensors *st = tnn_safetensors_load(ck);
    assert_non_null(st);
    int before = tnn_safetensors_count(st);
    assert_non_null(tnn_safetensors_find(st, "optimizer_d.0.weight.step"));
    tnn_safetensors_free(st);
    rewrite_checkpoint_keeping(ck, ck, not_param_count, NULL, NULL, NULL);
    st = tnn_safetensors_load(ck);
    assert_non_null(st);
    assert_int_equal(tnn_safetensors_count(st), before - 22); /* G's 16 parameters, D's 6 */
    assert_non_null(tnn_safetensors_find(st, "optimizer_d.step"));
    assert_null(tnn_safetensors_find(st, "optimizer_d.0.weight.step"));
    tnn_safetensors_free(st);
}

/* A checkpoint written by libtinynn 0.2 has one Adam step count per optimizer and none
 * per parameter: it resumes, exactly. */
static void resume_exact_from_a_0_2_checkpoint(void **state)
{
    (void)state;
    g_between_runs = make_a_0_2_checkpoint;
    resume_scenario("", NULL, "--n_epochs 1", 0, 8, "--n_epochs 3", NULL);
    g_between_runs = NULL;
}

/* ---- refusals ---- */

static void var_negative(const char *name, void *data, size_t nbytes)
{
    if (strcmp(name, "generator.model.3.running_var") == 0 && nbytes >= 12) {
        float v = -0.5f;
        memcpy((char *)data + 8, &v, 4); /* element 2 */
    }
}

static void moment_negative(const char *name, void *data, size_t nbytes)
{
    if (strcmp(name, "optimizer_d.0.weight.exp_avg_sq") == 0 && nbytes >= 4) {
        float v = -1e-9f;
        memcpy(data, &v, 4);
    }
}

static void count_negative(const char *name, void *data, size_t nbytes)
{
    if (strcmp(name, "generator.model.3.num_batches_tracked") == 0 && nbytes == 8) {
        int64_t v = -3;
        memcpy(data, &v, 8);
    }
}

static void weight_nan(const char *name, void *data, size_t nbytes)
{
    if (strcmp(name, "generator.model.0.weight") == 0 && nbytes >= 8) {
        float nan = NAN;
        memcpy((char *)data + 4, &nan, 4); /* element 1 */
    }
}

static void loss_nan(const char *name, void *data, size_t nbytes)
{
    if (strcmp(name, "train.losses") == 0 && nbytes >= 24) {
        float nan = NAN;
        memcpy((char *)data + 20, &nan, 4); /* row 1, column 1 */
    }
}

static void spare_nan(const char *name, void *data, size_t nbytes)
{
    float nan = NAN;
    int64_t one = 1;
    if (strcmp(name, "rng.spare") == 0 && nbytes == 4) memcpy(data, &nan, 4);
    if (strcmp(name, "rng.has_spare") == 0 && nbytes == 8) memcpy(data, &one, 8);
}

static void step_negative(const char *name, void *data, size_t nbytes)
{
    int64_t minus = -1;
    if (strcmp(name, "optimizer_g.step") == 0 && nbytes == 8) memcpy(data, &minus, 8);
}

static void param_step_off(const char *name, void *data, size_t nbytes)
{
    int64_t five = 5;
    if (strcmp(name, "optimizer_d.2.bias.step") == 0 && nbytes == 8) memcpy(data, &five, 8);
}

static void order_not_permutation(const char *name, void *data, size_t nbytes)
{
    if (strcmp(name, "train.order") == 0 && nbytes >= 16) memcpy((char *)data + 8, data, 8); /* order[1] = order[0] */
}

static void expect_refusal(const char *args, int want, const char *frag1, const char *frag2)
{
    char *err, *out = gan(NULL, args, want, &err);
    assert_int_equal(count_lines(out), 0); /* nothing trained */
    if (frag1) gt_assert_contains(err, frag1);
    if (frag2) gt_assert_contains(err, frag2);
    free(out);
    free(err);
}

/* A checkpoint written with other OpenBLAS kernels (OPENBLAS_CORETYPE) resumes, with a
 * note that the continuation is not bit for bit. */
static void resume_notes_other_blas_kernels(void **state)
{
    (void)state;
    gt_write_dataset(gt_path("data"), 256, 11);
    char args[2048];
    snprintf(args, sizeof args, "%s --n_epochs 1 --out '%s'", common(), gt_path("a"));
    char *note;
    free(gan("OPENBLAS_CORETYPE=Haswell", args, 0, &note));
#if defined(__GNUC__) && defined(__x86_64__)
    /* On a CPU with AVX-512, the note on the kernels left unused names the variable that chose them. */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        gt_assert_contains(note, "runs its 'Haswell' kernels, as OPENBLAS_CORETYPE=Haswell in the environment asks");
    else
        assert_null(strstr(note, "AVX-512"));
#endif
    free(note);
    rewrite_checkpoint(gt_path("a/checkpoint.safetensors"), gt_path("b.safetensors"), NULL, "blas_core", "Elsewhere");
    snprintf(args, sizeof args, "--resume '%s' --n_epochs 2 --out '%s'", gt_path("b.safetensors"), gt_path("b"));
    char *err, *out = gan(NULL, args, 0, &err);
    assert_int_equal(count_lines(out), 8);
    gt_assert_contains(err, "the checkpoint was written with 'Elsewhere'");
    free(out);
    free(err);
    /* the checkpoint records the kernels it was written with */
    tnn_safetensors *st = tnn_safetensors_load(gt_path("a/checkpoint.safetensors"));
    assert_non_null(st);
    assert_non_null(tnn_metadata_get(tnn_safetensors_metadata(st), "blas_core"));
    tnn_safetensors_free(st);
}

/* The checkpoint records the threads actually used (--n_cpu capped at the cores); a
 * resume notes a different count, whatever --n_cpu says, and not a different --n_cpu
 * that ends in the same count. */
static void resume_notes_other_thread_count(void **state)
{
    (void)state;
    gt_write_dataset(gt_path("data"), 256, 11);
    char args[2048];
    snprintf(args, sizeof args, "%s --n_epochs 1 --out '%s'", common(), gt_path("a")); /* --n_cpu 1 */
    free(gan(NULL, args, 0, NULL));
    tnn_safetensors *st = tnn_safetensors_load(gt_path("a/checkpoint.safetensors"));
    assert_non_null(st);
    const char *th = tnn_metadata_get(tnn_safetensors_metadata(st), "threads");
    assert_non_null(th);
    assert_string_equal(th, "1");
    tnn_safetensors_free(st);
    /* recorded as written on 4096 threads: any machine here differs */
    rewrite_checkpoint(gt_path("a/checkpoint.safetensors"), gt_path("b.safetensors"), NULL, "threads", "4096");
    snprintf(args, sizeof args, "--resume '%s' --n_epochs 2 --out '%s'", gt_path("b.safetensors"), gt_path("b"));
    char *err, *out = gan(NULL, args, 0, &err);
    gt_assert_contains(err, "this run computes on 1 thread, the checkpoint was written on 4096");
    free(out);
    free(err);
    /* --n_cpu 4096 on a 1-thread checkpoint: capped to the cores; noted only if that is not 1 */
    snprintf(args, sizeof args, "--resume '%s' --n_epochs 2 --n_cpu 4096 --out '%s'",
             gt_path("a/checkpoint.safetensors"), gt_path("c"));
    out = gan(NULL, args, 0, &err);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores == 1) assert_null(strstr(err, "note: this run computes on"));
    else gt_assert_contains(err, "the checkpoint was written on 1");
    assert_null(strstr(err, "--n_cpu 4096 differs"));
    free(out);
    free(err);
}

/* The file at path still holds exactly the n bytes `before` (read earlier with gt_slurp). */
static void assert_file_holds(const char *path, const char *before, size_t n)
{
    size_t m;
    char *now = gt_slurp(path, &m);
    assert_int_equal(m, n);
    assert_memory_equal(now, before, n);
    free(now);
}

/* A new run into the folder of a run stopped before its last epoch is refused (the
 * checkpoint untouched); a finished run's folder is reused, with a note. */
static void new_run_keeps_an_unfinished_checkpoint(void **state)
{
    (void)state;
    gt_write_dataset(gt_path("data"), 256, 11);
    char args[2048], *err, *out;
    snprintf(args, sizeof args, "%s --n_epochs 3 --out '%s'", common(), gt_path("a"));
    free(gan("TINYNN_DEBUG_SIGNAL_AT_BATCH=3", args, 130, NULL));
    size_t n0;
    char *before = gt_slurp(gt_path("a/checkpoint.safetensors"), &n0);
    out = gan(NULL, args, 2, &err);
    assert_int_equal(count_lines(out), 0);
    gt_assert_contains(err, "holds an unfinished run (0 of its 3 epochs done");
    gt_assert_contains(err, "continue it with --resume");
    assert_file_holds(gt_path("a/checkpoint.safetensors"), before, n0);
    free(out);
    free(err);
    /* finished (1 of 1): a new run may replace it */
    snprintf(args, sizeof args, "%s --n_epochs 1 --out '%s'", common(), gt_path("f"));
    free(gan(NULL, args, 0, NULL));
    out = gan(NULL, args, 0, &err);
    gt_assert_contains(err, "holds a finished run and will be replaced by this new run");
    free(out);
    free(err);
    /* its weights without the checkpoint (deleted to save space): replaced, with a note */
    assert_int_equal(remove(gt_path("f/checkpoint.safetensors")), 0);
    out = gan(NULL, args, 0, &err);
    gt_assert_contains(err, "holds an earlier run's weights (generator.safetensors, discriminator.safetensors) without "
                            "its checkpoint; this run replaces them");
    free(out);
    free(err);
    /* resumed from elsewhere into a folder that holds an unfinished run: refused too */
    snprintf(args, sizeof args, "%s --resume '%s' --n_epochs 2 --out '%s'", common(), gt_path("f/checkpoint.safetensors"),
             gt_path("a"));
    out = gan(NULL, args, 2, &err);
    gt_assert_contains(err, "holds another unfinished run (0 of its 3 epochs done");
    assert_file_holds(gt_path("a/checkpoint.safetensors"), before, n0);
    free(out);
    free(err);
    /* a file that is not a checkpoint (someone's, or a damaged one) is moved aside, not
     * overwritten, with a note that says so; a second one goes to .old2 */
    assert_int_equal(mkdir(gt_path("j"), 0755), 0);
    for (int k = 0; k < 2; k++) {
        FILE *junk = fopen(gt_path("j/checkpoint.safetensors"), "wb");
        assert_non_null(junk);
        fputs(k ? "junk two" : "not a checkpoint", junk);
        fclose(junk);
        snprintf(args, sizeof args, "%s --n_epochs 1 --out '%s'", common(), gt_path("j"));
        out = gan(NULL, args, 0, &err);
        gt_assert_contains(err, "exists but is not a checkpoint of this program");
        gt_assert_contains(err, "moved to");
        gt_assert_contains(err, k ? "checkpoint.safetensors.old2" : "checkpoint.safetensors.old");
        free(out);
        free(err);
    }
    assert_file_holds(gt_path("j/checkpoint.safetensors.old"), "not a checkpoint", 16);
    assert_file_holds(gt_path("j/checkpoint.safetensors.old2"), "junk two", 8);
    /* so is a damaged checkpoint whose planned epochs cannot be read (it is not taken
     * for a finished run and overwritten) */
    assert_int_equal(mkdir(gt_path("k"), 0755), 0);
    rewrite_checkpoint(gt_path("a/checkpoint.safetensors"), gt_path("k/checkpoint.safetensors"), NULL, "n_epochs", "x");
    size_t nk;
    char *damaged = gt_slurp(gt_path("k/checkpoint.safetensors"), &nk);
    snprintf(args, sizeof args, "%s --n_epochs 1 --out '%s'", common(), gt_path("k"));
    out = gan(NULL, args, 0, &err);
    gt_assert_contains(err, "moved to");
    free(out);
    free(err);
    assert_file_holds(gt_path("k/checkpoint.safetensors.old"), damaged, nk);
    free(damaged);
    /* one it cannot read (not as root, who reads anything): refused, untouched */
    if (geteuid() != 0) {
        assert_int_equal(chmod(gt_path("a/checkpoint.safetensors"), 0), 0);
        snprintf(args, sizeof args, "%s --n_epochs 3 --out '%s'", common(), gt_path("a"));
        out = gan(NULL, args, 2, &err);
        gt_assert_contains(err, "to see whether it holds an unfinished run");
        assert_int_equal(chmod(gt_path("a/checkpoint.safetensors"), 0644), 0);
        assert_file_holds(gt_path("a/checkpoint.safetensors"), before, n0);
        free(out);
        free(err);
    }
    /* one whose reading fails after it opened (a read error): refused, left as it is.
     * /proc/self/mem opens, and reading it at offset 0 (never mapped) fails with EIO. */
    assert_int_equal(mkdir(gt_path("e"), 0755), 0);
    assert_int_equal(symlink("/proc/self/mem", gt_path("e/checkpoint.safetensors")), 0);
    snprintf(args, sizeof args, "%s --n_epochs 1 --out '%s'", common(), gt_path("e"));
    out = gan(NULL, args, 2, &err);
    gt_assert_contains(err, "to see whether it holds an unfinished run: Input/output error");
    char target[64] = "";
    assert_true(readlink(gt_path("e/checkpoint.safetensors"), target, sizeof target - 1) > 0);
    assert_string_equal(target, "/proc/self/mem");
    free(out);
    free(err);
    free(before);
}

static void resume_refuses_other_runs(void **state)
{
    (void)state;
    gt_write_dataset(gt_path("data"), 256, 11);
    char args[2048];
    snprintf(args, sizeof args, "%s --n_epochs 1 --out '%s'", common(), gt_path("a"));
    free(gan(NULL, args, 0, NULL));
    char ck[256], ckq[300];
    snprintf(ck, sizeof ck, "%s", gt_path("a/checkpoint.safetensors"));
    snprintf(ckq, sizeof ckq, "--resume '%s' --n_epochs 2", ck);

    /* the flags that define the run, each named with both values */
    const char *bad[][3] = {
        {"--lr 0.001", "--lr 0.001 disagrees", "lr = 0.0002"},
        {"--batch_size 64", "--batch_size 64 disagrees", "batch_size = 32"},
        {"--seed 8", "--seed 8 disagrees", "seed = 7"},
        {"--bn_eps 1e-5", "--bn_eps 1e-05 disagrees", "bn_eps = 0.8"},
        {"--latent_dim 64", "--latent_dim 64 disagrees", "latent_dim = 100"},
        {"--b1 0.9", "--b1 0.9 disagrees", "b1 = 0.5"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(args, sizeof args, "%s %s", ckq, bad[i][0]);
        expect_refusal(args, 2, bad[i][1], bad[i][2]);
    }
    /* another data set of the same size */
    gt_write_dataset(gt_path("data2"), 256, 12);
    snprintf(args, sizeof args, "%s --data '%s'", ckq, gt_path("data2"));
    expect_refusal(args, 2, "the training images differ from the checkpoint's", "resume on the same data");
    /* a finished run with nothing left to do */
    snprintf(args, sizeof args, "--resume '%s'", ck);
    expect_refusal(args, 2, "has completed 1 epoch and --n_epochs is 1", "nothing left to do");
    /* weights are not a checkpoint */
    snprintf(args, sizeof args, "--resume '%s'", gt_path("a/generator.safetensors"));
    expect_refusal(args, 2, "not a mnist_gan checkpoint", NULL);
    snprintf(args, sizeof args, "--resume '%s'", gt_path("missing.safetensors"));
    expect_refusal(args, 2, "missing.safetensors", "No such file");
    snprintf(args, sizeof args, "--resume '%s'", gt_path("data"));
    expect_refusal(args, 2, "--resume", "a folder, not a file");
    /* the same value spelled differently is the same value */
    snprintf(args, sizeof args, "%s --lr 2e-4 --n_cpu 1 --out '%s'", ckq, gt_path("a"));
    char *err, *out = gan(NULL, args, 0, &err);
    assert_int_equal(count_lines(out), 8);
    free(out);
    free(err);
}

/* Rewrite checkpoint ck into `file` (as rewrite_checkpoint_keeping does) and expect
 * `--resume file --n_epochs 2` to stop with status want and a message holding frag. */
static void expect_rewrite_refused(const char *ck, const char *file, keep_fn keep, edit_fn edit, const char *md_key,
                                   const char *md_value, int want, const char *frag)
{
    char args[1024];
    rewrite_checkpoint_keeping(ck, gt_path(file), keep, edit, md_key, md_value);
    snprintf(args, sizeof args, "--resume '%s' --n_epochs 2", gt_path(file));
    expect_refusal(args, want, frag, NULL);
}

static void resume_refuses_bad_checkpoint(void **state)
{
    (void)state;
    gt_write_dataset(gt_path("data"), 256, 11);
    char args[2048];
    snprintf(args, sizeof args, "%s --n_epochs 1 --out '%s'", common(), gt_path("a"));
    free(gan(NULL, args, 0, NULL));
    char ck[256];
    snprintf(ck, sizeof ck, "%s", gt_path("a/checkpoint.safetensors"));

    /* truncated */
    size_t len;
    char *bytes = gt_slurp(ck, &len);
    FILE *f = fopen(gt_path("a/cut.safetensors"), "wb");
    fwrite(bytes, 1, len / 2, f);
    fclose(f);
    free(bytes);
    snprintf(args, sizeof args, "--resume '%s' --n_epochs 2", gt_path("a/cut.safetensors"));
    expect_refusal(args, 1, "cut.safetensors", NULL);
    /* a data order that is not a permutation */
    expect_rewrite_refused(ck, "a/perm.safetensors", NULL, order_not_permutation, NULL, NULL, 1,
                           "train.order is not a permutation");
    /* metadata promising other networks than the tensors hold: every mismatch by name */
    expect_rewrite_refused(ck, "a/dim.safetensors", NULL, NULL, "latent_dim", "64", 1,
                           "'generator.model.0.weight' is F32 [128 x 100] in the file, F32 [128 x 64] expected");
    /* metadata promising a larger generator than the file holds: refused before any
     * memory is reserved (img_size 1024 asked for gigabytes, and Linux's overcommit let
     * the kernel's OOM killer end the program instead of malloc failing) */
    expect_rewrite_refused(ck, "a/big.safetensors", NULL, NULL, "img_size", "1024", 2,
                           "(latent_dim 100, img_size 1024, channels 1) describe a generator of");
    /* a weight that is not finite: named, rather than reported as training diverging */
    rewrite_checkpoint(ck, gt_path("a/nan.safetensors"), weight_nan, NULL, NULL);
    snprintf(args, sizeof args, "--resume '%s' --n_epochs 2 --out '%s'", gt_path("a/nan.safetensors"), gt_path("n"));
    expect_refusal(args, 1, "generator.model.0.weight[1] is not finite", "this file was changed since");
    /* a variance, a second moment or a count below 0 */
    expect_rewrite_refused(ck, "a/var.safetensors", NULL, var_negative, NULL, NULL, 1,
                           "generator.model.3.running_var[2] is negative");
    expect_rewrite_refused(ck, "a/moment.safetensors", NULL, moment_negative, NULL, NULL, 1,
                           "optimizer_d.0.weight.exp_avg_sq[0] is negative");
    expect_rewrite_refused(ck, "a/count.safetensors", NULL, count_negative, NULL, NULL, 1,
                           "generator.model.3.num_batches_tracked[0] is negative");
    /* no n_epochs recorded (and none given): refused, not trained to the default 100 */
    rewrite_checkpoint(ck, gt_path("a/noepochs.safetensors"), NULL, "n_epochs", NULL);
    snprintf(args, sizeof args, "--resume '%s'", gt_path("a/noepochs.safetensors"));
    expect_refusal(args, 2, "does not record 'n_epochs'", NULL);
    /* a loss, the generator's spare normal or a step count that no run writes */
    expect_rewrite_refused(ck, "a/lossnan.safetensors", NULL, loss_nan, NULL, NULL, 1,
                           "train.losses row 1, column 1 is NaN");
    expect_rewrite_refused(ck, "a/spare.safetensors", NULL, spare_nan, NULL, NULL, 1, "rng.spare is NaN");
    expect_rewrite_refused(ck, "a/step.safetensors", NULL, step_negative, NULL, NULL, 1,
                           "optimizer_g.step is -1, but the run has trained 8 batches");
    expect_rewrite_refused(ck, "a/pstep.safetensors", NULL, param_step_off, NULL, NULL, 1,
                           "optimizer_d.2.bias.step is 5, but the run has trained 8 batches");
    expect_rewrite_refused(ck, "a/onecount.safetensors", not_one_param_count, NULL, NULL, NULL, 1,
                           "has Adam step counts for 21 parameters but not for 'optimizer_d.2.bias.step' (1 missing)");
    /* a recorded flag that is not a valid value */
    expect_rewrite_refused(ck, "a/nolr.safetensors", NULL, NULL, "lr", "abc", 2, "the recorded lr is not valid");
    /* the checkpoint itself was never modified by any of this */
    snprintf(args, sizeof args, "--resume '%s' --n_epochs 2 --out '%s'", ck, gt_path("b"));
    char *err, *out = gan(NULL, args, 0, &err);
    assert_int_equal(count_lines(out), 8);
    free(out);
    free(err);
}

/* ---- SIGTERM from outside ---- */

static int64_t read_i64(const tnn_safetensors *st, const char *name)
{
    const tnn_st_tensor *t = tnn_safetensors_find(st, name);
    if (!t || t->dtype != TNN_I64 || t->count != 1) fail_msg("no I64 scalar %s", name);
    int64_t v;
    memcpy(&v, t->data, sizeof v);
    return v;
}

/* mnist_gan on gt_path("data") into out for 100,000 epochs (it ends only when stopped),
 * its stderr into stderr.txt, its stdout into a pipe read through *in. */
static pid_t spawn_long_run(const char *out, FILE **in)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *e = freopen(gt_path("stderr.txt"), "w", stderr);
        (void)e;
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(g_gan, g_gan, "--batch_size", "32", "--n_cpu", "1", "--seed", "7", "--n_epochs", "100000", "--data",
              gt_path("data"), "--out", out, (char *)NULL);
        _exit(121);
    }
    close(fds[1]);
    *in = fdopen(fds[0], "r");
    assert_non_null(*in);
    return pid;
}

static void signal_sigterm_from_outside(void **state)
{
    (void)state;
    gt_write_dataset(gt_path("data"), 256, 11);
    /* a run far too long to end by itself; the test signals it after its first line */
    FILE *in;
    pid_t pid = spawn_long_run(gt_path("a"), &in);
    char line[512], last[512] = "";
    bool signalled = false;
    while (fgets(line, sizeof line, in)) {
        if (strncmp(line, "[Epoch ", 7) != 0) continue;
        snprintf(last, sizeof last, "%s", line);
        if (!signalled) {
            kill(pid, SIGTERM);
            signalled = true;
        }
    }
    fclose(in);
    int ws;
    waitpid(pid, &ws, 0);
    char *err = gt_slurp(gt_path("stderr.txt"), NULL);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 143) fail_msg("status %d, expected exit 143; stderr:\n%s", ws, err);
    gt_assert_contains(err, "stopped by SIGTERM after [Epoch ");
    gt_assert_contains(err, "--resume");
    free(err);
    int e, E, b, B;
    assert_int_equal(sscanf(last, "[Epoch %d/%d] [Batch %d/%d]", &e, &E, &b, &B), 4);
    /* the checkpoint holds the batch after the last one printed */
    tnn_safetensors *st = tnn_safetensors_load(gt_path("a/checkpoint.safetensors"));
    if (!st) fail_msg("%s", tnn_last_error());
    int64_t ce = read_i64(st, "train.epoch"), cb = read_i64(st, "train.batch");
    tnn_safetensors_free(st);
    int64_t next = (int64_t)e * B + b + 1;
    assert_int_equal(ce * B + cb, next);
    /* and --resume goes on from there to the end of that epoch */
    char args[512];
    snprintf(args, sizeof args, "--resume '%s' --n_epochs %d", gt_path("a/checkpoint.safetensors"), (int)ce + 1);
    char *out = gan(NULL, args, 0, NULL);
    char want[64];
    snprintf(want, sizeof want, "\n[Epoch %d/%d] [Batch %d/%d]", (int)ce, (int)ce + 1, (int)cb, B);
    gt_assert_contains(out, want);
    assert_int_equal(count_lines(out), B - (int)cb);
    free(out);
}

/* stdout's reader goes away mid-run (`mnist_gan | head -2`; Ctrl-C on `mnist_gan | tee
 * log`, which stops tee as well): the run stops after the batch with a checkpoint, as on
 * a signal, instead of being killed by SIGPIPE with nothing saved. Closed alone: status 1
 * (a failed write); with a SIGINT first: 130. Either way --resume goes on. */
static void stdout_closed_mid_run(void **state)
{
    (void)state;
    gt_write_dataset(gt_path("data"), 256, 11);
    for (int with_sigint = 0; with_sigint < 2; with_sigint++) {
        const char *dir = with_sigint ? gt_path("b") : gt_path("a");
        FILE *in;
        pid_t pid = spawn_long_run(dir, &in);
        char line[1024];
        while (fgets(line, sizeof line, in) && strncmp(line, "[Epoch ", 7) != 0) continue;
        if (with_sigint) kill(pid, SIGINT);
        fclose(in); /* the reader goes */
        int ws;
        waitpid(pid, &ws, 0);
        char *err = gt_slurp(gt_path("stderr.txt"), NULL);
        int want = with_sigint ? 130 : 1;
        if (!WIFEXITED(ws) || WEXITSTATUS(ws) != want)
            fail_msg("status %d, expected exit %d; stderr:\n%s", ws, want, err);
        gt_assert_contains(err, with_sigint ? "stopped by SIGINT after [Epoch " : "stopped by a failed write to stdout");
        gt_assert_contains(err, "--resume");
        free(err);
        char ck[512], args[1024];
        snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", dir);
        tnn_safetensors *st = tnn_safetensors_load(ck);
        if (!st) fail_msg("%s", tnn_last_error());
        int64_t ce = read_i64(st, "train.epoch");
        tnn_safetensors_free(st);
        snprintf(args, sizeof args, "--resume '%s' --n_epochs %d", ck, (int)ce + 1);
        char *out = gan(NULL, args, 0, NULL);
        free(out);
    }
}

/* A second run into a folder a run is writing: refused (status 2, the lock named),
 * where both used to run, writing losses.csv in turns and replacing each other's files.
 * The first run is untouched: it stops on SIGTERM with its checkpoint as usual. */
static void one_run_per_folder(void **state)
{
    (void)state;
    gt_write_dataset(gt_path("data"), 256, 11);
    FILE *in;
    pid_t pid = spawn_long_run(gt_path("a"), &in);
    char line[1024];
    while (fgets(line, sizeof line, in) && strncmp(line, "[Epoch ", 7) != 0) continue;
    char args[512], *err;
    snprintf(args, sizeof args, "--n_epochs 1 --batch_size 32 --n_cpu 1 --data '%s' --out '%s'", gt_path("data"),
             gt_path("a"));
    char *out = gan(NULL, args, 2, &err);
    gt_assert_contains(err, "another mnist_gan is writing there");
    free(out);
    free(err);
    kill(pid, SIGTERM);
    while (fgets(line, sizeof line, in)) continue;
    fclose(in);
    int ws;
    waitpid(pid, &ws, 0);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 143);
    /* the lock goes with the run: the folder is free again (and its unfinished run is
     * then protected as before) */
    out = gan(NULL, args, 2, &err);
    gt_assert_contains(err, "--resume");
    assert_null(strstr(err, "another mnist_gan"));
    free(out);
    free(err);
}

/* ---- divergence ---- */

static void diverge_nan_loss_keeps_checkpoint(void **state)
{
    (void)state;
    gt_write_dataset(gt_path("data"), 256, 11);
    char args[2048], *err;
    snprintf(args, sizeof args, "%s --n_epochs 1 --out '%s'", common(), gt_path("a"));
    free(gan(NULL, args, 0, NULL));
    size_t n0, g0;
    char *ck0 = gt_slurp(gt_path("a/checkpoint.safetensors"), &n0);
    char *gen0 = gt_slurp(gt_path("a/generator.safetensors"), &g0);

    /* a NaN in the generator's first weight before batch 12 (epoch 1, batch 4) */
    snprintf(args, sizeof args, "--resume '%s' --n_epochs 3", gt_path("a/checkpoint.safetensors"));
    char *out = gan("TINYNN_DEBUG_NAN_AT_BATCH=12", args, 3, &err);
    gt_assert_contains(err, "training diverged at [Epoch 1/3] [Batch 4/8]: D(G(z)) is NaN");
    gt_assert_contains(err, "the last good checkpoint");
    gt_assert_contains(err, "(epoch 1, batch 0), is left intact");
    assert_int_equal(count_lines(out), 4);
    free(out);
    free(err);
    assert_file_holds(gt_path("a/checkpoint.safetensors"), ck0, n0);
    assert_file_holds(gt_path("a/generator.safetensors"), gen0, g0);
    free(ck0);
    free(gen0);

    /* with no checkpoint yet, none is written */
    snprintf(args, sizeof args, "%s --n_epochs 1 --out '%s'", common(), gt_path("b"));
    out = gan("TINYNN_DEBUG_NAN_AT_BATCH=2", args, 3, &err);
    gt_assert_contains(err, "training diverged at [Epoch 0/1] [Batch 2/8]");
    gt_assert_contains(err, "no checkpoint was written");
    assert_int_not_equal(access(gt_path("b/checkpoint.safetensors"), F_OK), 0);
    assert_int_not_equal(access(gt_path("b/generator.safetensors"), F_OK), 0);
    free(out);
    free(err);
}

/* A NaN where the losses do not see it (a running variance, unused in training mode) is
 * found by the parameter check before the next checkpoint, which is then not written. */
static void diverge_nan_parameter_before_checkpoint(void **state)
{
    (void)state;
    gt_write_dataset(gt_path("data"), 256, 11);
    char args[2048], *err;
    snprintf(args, sizeof args, "%s --n_epochs 1 --out '%s'", common(), gt_path("a"));
    free(gan(NULL, args, 0, NULL));
    size_t n0;
    char *ck0 = gt_slurp(gt_path("a/checkpoint.safetensors"), &n0);
    snprintf(args, sizeof args, "--resume '%s' --n_epochs 3", gt_path("a/checkpoint.safetensors"));
    char *out = gan("TINYNN_DEBUG_NAN_AT_BATCH=10,model.3.running_var", args, 3, &err);
    gt_assert_contains(err, "training diverged at [Epoch 1/3] [Batch 7/8]");
    gt_assert_contains(err, "generator.model.3.running_var[0] is not finite");
    gt_assert_contains(err, "is left intact");
    assert_int_equal(count_lines(out), 8);
    assert_file_holds(gt_path("a/checkpoint.safetensors"), ck0, n0);
    free(ck0);
    free(out);
    free(err);
    /* the testing hook itself refuses what it does not understand */
    out = gan("TINYNN_DEBUG_NAN_AT_BATCH=3,model.99.weight", args, 2, &err);
    gt_assert_contains(err, "TINYNN_DEBUG_NAN_AT_BATCH");
    free(out);
    free(err);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(resume_exact_after_sigint, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(stdout_closed_mid_run, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(one_run_per_folder, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(resume_exact_after_second_sigint_during_write, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(resume_exact_at_epoch_end_sigterm, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(resume_exact_more_epochs, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(resume_exact_two_threads, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(resume_after_a_failed_final_save, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(resume_exact_from_a_0_2_checkpoint, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(resume_notes_other_blas_kernels, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(resume_notes_other_thread_count, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(new_run_keeps_an_unfinished_checkpoint, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(resume_refuses_other_runs, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(resume_refuses_bad_checkpoint, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(signal_sigterm_from_outside, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(diverge_nan_loss_keeps_checkpoint, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(diverge_nan_parameter_before_checkpoint, tu_tmpdir_make, tu_tmpdir_remove),
};

int main(int argc, char **argv)
{
    if (argc >= 4) {
        g_gan = argv[2];
        g_sample = argv[3];
    }
    return tu_main(argc < 2 ? 1 : 2, argv, "mnist_gan_resume", tests, sizeof tests / sizeof tests[0]);
}
