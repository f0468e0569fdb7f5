/*
 * fileio.c - see fileio.h. Plain POSIX calls: stdio would hide a short or
 * failed write until fclose, and a lost dead letter must be reported where
 * it happens.
 */
#include "pipeline/core/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int cf_write_all(int fd, const void *p, size_t n)
{
        const char *s = p;
        while (n) {
                ssize_t w = write(fd, s, n);
                if (w < 0 && errno == EINTR) continue;
                if (w < 0) return -1;
                if (w == 0) { /* no progress and no error: report as a full device */
                        errno = ENOSPC;
                        return -1;
                }
                s += w;
                n -= (size_t)w;
        }
        return 0;
}

int cf_read_file_capped(const char *path, size_t cap, cf_buf *out, char *errstr, size_t errstr_size)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT) return 1;
                snprintf(errstr, errstr_size, "%s: cannot open: %s", path, strerror(errno));
                return -1;
        }
        struct stat st;
        if (fstat(fd, &st)) {
                snprintf(errstr, errstr_size, "%s: cannot stat: %s", path, strerror(errno));
                close(fd);
                return -1;
        }
        if (!S_ISREG(st.st_mode)) {
                snprintf(errstr, errstr_size, "%s: %s", path,
                         S_ISDIR(st.st_mode) ? "is a folder" : "is not a regular file");
                close(fd);
                return -1;
        }
        if ((unsigned long long)st.st_size > cap) {
                snprintf(errstr, errstr_size, "%s: %lld bytes, more than the limit of %zu", path,
                         (long long)st.st_size, cap);
                close(fd);
                return -1;
        }
        size_t want = (size_t)st.st_size, got = 0;
        cf_buf_reserve(out, want + 1);
        while (got <= want) { /* one byte more than the size: a file that grew is an error */
                ssize_t r = read(fd, out->p + out->len + got, want + 1 - got);
                if (r < 0 && errno == EINTR) continue;
                if (r < 0) {
                        snprintf(errstr, errstr_size, "%s: read error: %s", path, strerror(errno));
                        close(fd);
                        return -1;
                }
                if (r == 0) break;
                got += (size_t)r;
        }
        close(fd);
        if (got != want) {
                snprintf(errstr, errstr_size, "%s: %s while being read (%zu of %zu bytes)", path,
                         got < want ? "shrank" : "grew", got, want);
                return -1;
        }
        out->len += got;
        return 0;
}

/* fsync the folder holding path, so a rename in it survives a power loss. */
static int sync_parent(const char *path)
{
        char *copy = strdup(path);
        if (!copy) return -1;
        int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        free(copy);
        if (fd < 0) return -1;
        int rc = fsync(fd);
        int e = errno;
        close(fd);
        errno = e;
        return rc;
}

int cf_write_file_atomic(const char *path, const void *p, size_t n, char *errstr,
                         size_t errstr_size)
{
        char tmp[4200];
        int e;
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        const char *step = "cannot create";
        if (fd < 0) goto fail;
        step = "cannot write";
        if (cf_write_all(fd, p, n)) goto fail_fd;
        step = "cannot fsync";
        if (fsync(fd)) goto fail_fd;
        step = "cannot close";
        if (close(fd)) {
                fd = -1;
                goto fail_tmp;
        }
        fd = -1;
        step = "cannot rename into place";
        if (rename(tmp, path)) goto fail_tmp;
        if (sync_parent(path)) {
                snprintf(errstr, errstr_size, "%s: written, but its folder cannot be synced: %s",
                         path, strerror(errno));
                return -1;
        }
        return 0;
fail_fd:
        e = errno;
        close(fd);
        errno = e;
fail_tmp:
        e = errno;
        unlink(tmp);
        errno = e;
fail:
        snprintf(errstr, errstr_size, "%s: %s %s: %s (the previous file is unchanged)", path, step,
                 tmp, strerror(errno));
        return -1;
}

int cf_lock_dir(const char *dir, char *errstr, size_t errstr_size)
{
        char path[4200];
        snprintf(path, sizeof(path), "%s/lock", dir);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
                snprintf(errstr, errstr_size, "%s: cannot open: %s", path, strerror(errno));
                return -1;
        }
        /* flock, not a pid file: the kernel drops it when the holder dies, so
         * a crashed run never leaves a stale lock behind */
        if (flock(fd, LOCK_EX | LOCK_NB)) {
                int e = errno;
                char who[32] = "";
                ssize_t r = pread(fd, who, sizeof(who) - 1, 0);
                if (r > 0) who[strcspn(who, "\n")] = '\0';
                snprintf(errstr, errstr_size, "%s: %s", dir,
                         e == EWOULDBLOCK ? "in use by another run" : strerror(e));
                if (e == EWOULDBLOCK && r > 0 && who[0]) {
                        size_t l = strlen(errstr);
                        snprintf(errstr + l, errstr_size - l, " (lock last taken by pid %s)", who);
                }
                close(fd);
                return -1;
        }
        char pid[24];
        int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) == 0) cf_write_all(fd, pid, (size_t)n); /* informative only */
        return fd;
}

void cf_unlock_dir(int fd)
{
        if (fd >= 0) close(fd); /* closing drops the flock */
}
