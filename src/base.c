/* Status names, per-thread error messages, logging, allocator hooks, threads. */
#include "tnn_impl.h"
#include "parallel_impl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

static _Thread_local char g_err[2048];
static _Thread_local unsigned g_err_seq; /* bumped by every message set on this thread */
static _Thread_local tnn_status g_err_status; /* the status set with the message */
static tnn_log_fn g_log_fn;
static void *g_log_user;

static void *default_malloc(void *u, size_t n) { (void)u; return malloc(n); }
static void *default_realloc(void *u, void *p, size_t n) { (void)u; return realloc(p, n); }
static void default_free(void *u, void *p) { (void)u; free(p); }
static tnn_allocator g_alloc = {default_malloc, default_realloc, default_free, NULL};

const char *tnn_version(void) { return TINYNN_VERSION_STRING; }

int tnn_version_number(void) { return TINYNN_VERSION_NUMBER; }

const char *tnn_last_error(void) { return g_err; }

tnn_status tnn_last_status(void) { return g_err_status; }

void tnn_clear_error(void)
{
    g_err[0] = '\0';
    g_err_status = TNN_OK;
}

const char *tnn_status_name(tnn_status s)
{
    switch (s) {
    case TNN_OK: return "TNN_OK";
    case TNN_ERR_ARG: return "TNN_ERR_ARG";
    case TNN_ERR_SHAPE: return "TNN_ERR_SHAPE";
    case TNN_ERR_NOMEM: return "TNN_ERR_NOMEM";
    case TNN_ERR_IO: return "TNN_ERR_IO";
    case TNN_ERR_FORMAT: return "TNN_ERR_FORMAT";
    case TNN_ERR_STATE: return "TNN_ERR_STATE";
    case TNN_ERR_NUMERIC: return "TNN_ERR_NUMERIC";
    }
    return "TNN_ERR_UNKNOWN";
}

static void set_message(tnn_status st, const char *fmt, va_list ap)
{
    g_err_status = st;
    char buf[sizeof g_err]; /* the arguments may point into g_err (a message being extended) */
    vsnprintf(buf, sizeof buf, fmt, ap);
    memcpy(g_err, buf, sizeof g_err);
    g_err_seq++;
}

tnn_status tnn_error(tnn_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_message(st, fmt, ap);
    va_end(ap);
    return st;
}

tnn_status tnn_set_error(tnn_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_message(status, fmt ? fmt : "", ap);
    va_end(ap);
    return status;
}

unsigned tnn_error_seq(void) { return g_err_seq; }

tnn_status tnn_settings_refused(unsigned tag, const char *who, const char *defaults)
{
    if (tag == TNN_SETTINGS_TAG) return TNN_OK;
    return tnn_error(TNN_ERR_ARG, "%s: the settings were not started from %s() (a struct written as {.field = value} "
                     "has every other field 0, not its default): take %s() and change the fields you need",
                     who, defaults, defaults);
}

void tnn_set_log(tnn_log_fn fn, void *user)
{
    g_log_fn = fn;
    g_log_user = user;
}

void tnn_log(const char *fmt, ...)
{
    if (!g_log_fn) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g_log_fn(g_log_user, buf);
}

void tnn_set_allocator(const tnn_allocator *a)
{
    if (a && a->malloc_fn && a->realloc_fn && a->free_fn) g_alloc = *a;
    else g_alloc = (tnn_allocator){default_malloc, default_realloc, default_free, NULL};
}

void *tnn_malloc(size_t n, const char *what)
{
    void *p = g_alloc.malloc_fn(g_alloc.user, n ? n : 1);
    if (!p) tnn_error(TNN_ERR_NOMEM, "out of memory allocating %zu bytes for %s", n, what ? what : "?");
    return p;
}

void *tnn_calloc(size_t count, size_t size, const char *what)
{
    if (size && count > SIZE_MAX / size) {
        tnn_error(TNN_ERR_NOMEM, "allocation of %zu x %zu bytes for %s overflows", count, size, what ? what : "?");
        return NULL;
    }
    void *p = tnn_malloc(count * size, what);
    if (p) memset(p, 0, count * size);
    return p;
}

void *tnn_realloc(void *p, size_t n, const char *what)
{
    void *q = g_alloc.realloc_fn(g_alloc.user, p, n ? n : 1);
    if (!q) tnn_error(TNN_ERR_NOMEM, "out of memory growing %s to %zu bytes", what ? what : "?", n);
    return q;
}

void tnn_free(void *p)
{
    if (p) g_alloc.free_fn(g_alloc.user, p);
}

char *tnn_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = tnn_malloc(n, "string");
    if (d) memcpy(d, s, n);
    return d;
}

/* OpenBLAS's thread control (declared in its cblas.h). */
int tnn_set_num_threads(int n)
{
    int cores = openblas_get_num_procs();
    if (n <= 0 || n > cores) n = cores;
    /* The pool splits the products itself; OpenBLAS's own threads would only compete. */
    openblas_set_num_threads(1);
    tnn_parallel_set_threads(n);
    return tnn_parallel_threads();
}

int tnn_get_num_threads(void) { return tnn_parallel_threads() > 1 ? tnn_parallel_threads() : openblas_get_num_threads(); }

size_t tnn_dtype_size(tnn_dtype dt)
{
    switch (dt) {
    case TNN_F32: return 4;
    case TNN_I64: return 8;
    }
    return 0;
}

const char *tnn_dtype_name(tnn_dtype dt)
{
    switch (dt) {
    case TNN_F32: return "F32";
    case TNN_I64: return "I64";
    }
    return NULL;
}
