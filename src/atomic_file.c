/* Atomic file writes: temporary file in the same folder, fsync, rename, fsync folder. */
#define _POSIX_C_SOURCE 200809L
#include "atomic_file_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct tnn_atomic_file {
    char *path;     /* target */
    char *tmp;      /* temporary file next to it */
    char *dir;      /* their folder, prepared at open so that commit allocates nothing */
    FILE *fp;
    tnn_status st;  /* first error, sticky */
};

static atomic_uint g_counter;

/* Whether a file called `name` can exist in folder dir (its name length limit). */
static bool name_fits(const char *dir, const char *name)
{
    long max = pathconf(dir, _PC_NAME_MAX);
    int e = errno;
    bool fits = max < 0 || strlen(name) <= (size_t)max; /* no limit known: try */
    errno = e;
    return fits;
}

tnn_status tnn_atomic_open(const char *path, tnn_atomic_file **out)
{
    if (!out) return tnn_error(TNN_ERR_ARG, "atomic write: no place for the result");
    *out = NULL;
    if (!path || !*path) return tnn_error(TNN_ERR_ARG, "atomic write: empty file name");
    tnn_atomic_file *f = tnn_calloc(1, sizeof *f, "atomic file");
    if (!f) return TNN_ERR_NOMEM;
    tnn_status st = TNN_ERR_NOMEM;
    size_t n = strlen(path);
    f->path = tnn_strdup(path);
    f->tmp = tnn_malloc(n + 48, "temporary file name");
    f->dir = tnn_malloc(n + 2, "folder name");
    if (!f->path || !f->tmp || !f->dir) goto fail;
    const char *slash = strrchr(path, '/');
    if (!slash) strcpy(f->dir, ".");
    else {
        size_t k = slash == path ? 1 : (size_t)(slash - path);
        memcpy(f->dir, path, k);
        f->dir[k] = '\0';
    }

    /* Keep the mode of a file we replace; otherwise 0666 filtered by the umask, as
     * fopen() would create it. */
    struct stat sb, lsb;
    bool keep_mode = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
    /* The rename replaces the name itself (a symbolic link, not what it points to): it
     * would put a regular file in place of a device, a FIFO or a socket (/dev/null made a
     * plain file); a folder it could not replace anyway. */
    if (lstat(path, &lsb) == 0 && !S_ISREG(lsb.st_mode) && !S_ISLNK(lsb.st_mode)) {
        st = tnn_error(TNN_ERR_IO, "cannot replace '%s': it is %s, not a regular file", path,
                       S_ISDIR(lsb.st_mode) ? "a folder" : S_ISFIFO(lsb.st_mode) ? "a FIFO" :
                       S_ISCHR(lsb.st_mode) || S_ISBLK(lsb.st_mode) ? "a device" : "a special file");
        goto fail;
    }
    /* A file its owner made read-only is not replaced behind their back: the rename
     * needs only the folder's permission, but fopen(path, "w") (and torch.save) would
     * be refused. Tested by opening it for writing, without truncating, as this process
     * (root may): permissions, ACLs, an immutable file, a read-only file system. A
     * symbolic link is judged by the file it points to, which is what fopen would
     * write. */
    if (keep_mode) {
        int wfd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (wfd >= 0) close(wfd);
        else if (errno == EACCES || errno == EPERM || errno == EROFS) {
            st = tnn_error(TNN_ERR_IO, "cannot replace '%s': it is write-protected (%s); make it writable or save "
                           "under another name", path, strerror(errno));
            goto fail;
        }
    }
    /* "<path>.tmp-<pid>-<k>"; for a name too long to take the suffix (the folder's
     * limit, often 255 bytes), the shorter "<folder>/.tmp-<pid>-<k>". */
    int fd = -1;
    bool short_name = false;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        unsigned k = atomic_fetch_add(&g_counter, 1u);
        if (short_name) snprintf(f->tmp, n + 48, "%s/.tmp-%ld-%u", f->dir, (long)getpid(), k);
        else snprintf(f->tmp, n + 48, "%s.tmp-%ld-%u", path, (long)getpid(), k);
        fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno == ENAMETOOLONG && !short_name && name_fits(f->dir, slash ? slash + 1 : path)) short_name = true;
        else if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        st = tnn_error(TNN_ERR_IO, "cannot create a temporary file to write '%s': %s", path, strerror(errno));
        goto fail;
    }
    if (keep_mode) (void)fchmod(fd, sb.st_mode & 07777);
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        int e = errno;
        close(fd);
        unlink(f->tmp);
        st = tnn_error(TNN_ERR_IO, "cannot open a stream on '%s': %s", f->tmp, strerror(e));
        goto fail;
    }
    *out = f;
    return TNN_OK;

fail:
    tnn_free(f->path);
    tnn_free(f->tmp);
    tnn_free(f->dir);
    tnn_free(f);
    return st;
}

FILE *tnn_atomic_stream(tnn_atomic_file *f) { return f ? f->fp : NULL; }

tnn_status tnn_atomic_write(tnn_atomic_file *f, const void *data, size_t n)
{
    if (!f) return tnn_error(TNN_ERR_ARG, "atomic write: no file");
    if (f->st) return f->st;
    if (n && fwrite(data, 1, n, f->fp) != n)
        f->st = tnn_error(TNN_ERR_IO, "writing '%s' failed: %s", f->path, strerror(errno));
    return f->st;
}

static void release(tnn_atomic_file *f)
{
    tnn_free(f->path);
    tnn_free(f->tmp);
    tnn_free(f->dir);
    tnn_free(f);
}

void tnn_atomic_abort(tnn_atomic_file *f)
{
    if (!f) return;
    if (f->fp) fclose(f->fp);
    unlink(f->tmp);
    release(f);
}

/* fsync the folder, so that the rename itself is durable. Filesystems that cannot
 * sync a folder (EINVAL) are accepted. */
static tnn_status sync_folder(const char *path, const char *dir)
{
    tnn_status st = TNN_OK;
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd < 0) st = tnn_error(TNN_ERR_IO, "'%s' was replaced, but its folder '%s' cannot be opened to sync it: %s",
                               path, dir, strerror(errno));
    else {
        if (fsync(fd) != 0 && errno != EINVAL)
            st = tnn_error(TNN_ERR_IO, "'%s' was replaced, but syncing its folder '%s' failed: %s", path, dir, strerror(errno));
        close(fd);
    }
    return st;
}

tnn_status tnn_atomic_commit(tnn_atomic_file *f)
{
    if (!f) return tnn_error(TNN_ERR_ARG, "atomic commit: no file");
    tnn_status st = f->st;
    if (!st && (fflush(f->fp) != 0 || ferror(f->fp)))
        st = tnn_error(TNN_ERR_IO, "writing '%s' failed: %s", f->path, strerror(errno));
    if (!st && fsync(fileno(f->fp)) != 0)
        st = tnn_error(TNN_ERR_IO, "syncing '%s' to disk failed: %s", f->path, strerror(errno));
    if (st) {
        tnn_atomic_abort(f);
        return st;
    }
    FILE *fp = f->fp;
    f->fp = NULL;
    if (fclose(fp) != 0) {
        st = tnn_error(TNN_ERR_IO, "closing '%s' failed: %s", f->path, strerror(errno));
        tnn_atomic_abort(f);
        return st;
    }
    if (rename(f->tmp, f->path) != 0) {
        st = tnn_error(TNN_ERR_IO, "cannot replace '%s': %s", f->path, strerror(errno));
        tnn_atomic_abort(f);
        return st;
    }
    st = sync_folder(f->path, f->dir);
    release(f);
    return st;
}

tnn_status tnn_atomic_write_file(const char *path, tnn_atomic_writer fn, void *ctx)
{
    if (!fn) return tnn_error(TNN_ERR_ARG, "atomic write of '%s': no writer", path ? path : "(null)");
    tnn_atomic_file *f;
    tnn_status st = tnn_atomic_open(path, &f);
    if (st) return st;
    st = fn(f, ctx);
    if (st) {
        tnn_atomic_abort(f);
        return st;
    }
    return tnn_atomic_commit(f);
}
