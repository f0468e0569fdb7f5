/*
 * fileio.h - file I/O that fails loudly: whole writes or an errno, capped
 * whole-file reads, crash-safe replacement of a file, a folder lock.
 *
 * @locality: any thread; no shared state.
 */
#ifndef CF_FILEIO_H
#define CF_FILEIO_H

#include <stddef.h>

#include "pipeline/core/buf.h"

/** Write all n bytes to fd (retrying short writes and EINTR); 0, or -1 with errno set. */
int cf_write_all(int fd, const void *p, size_t n);
/**
 * Read the whole regular file at path into out (appending), refusing more than cap
 * bytes. 0 = read; 1 = the file does not exist (ENOENT, nothing else); -1 = any
 * other failure, with "path: reason" in errstr.
 */
int cf_read_file_capped(const char *path, size_t cap, cf_buf *out, char *errstr,
                        size_t errstr_size);
/**
 * Replace the file at path with n bytes, crash-safely: write path.tmp, fsync it,
 * rename it over path, fsync the folder. -1 with "path: reason" in errstr.
 */
int cf_write_file_atomic(const char *path, const void *p, size_t n, char *errstr,
                         size_t errstr_size);
/**
 * Take an exclusive lock on folder dir (flock on dir/lock, held until the
 * process exits or cf_unlock_dir): the fd, or -1 with the reason in errstr
 * (another process holds it, or the lock file cannot be opened).
 */
int cf_lock_dir(const char *dir, char *errstr, size_t errstr_size);
/** Release a lock taken by cf_lock_dir. */
void cf_unlock_dir(int fd);

#endif
