
/*
 * ngx_cms Redis client: the stream's spool files.
 *
 * One file per worker process, <dir>/cms-redis.<start ms>.<pid>.spool:
 *
 *     CMS-REDIS-SPOOL 1 <source>\n          the header
 *     <seq> <maxlen> <key> <record>\n       one line per record
 *
 * Records are appended with a single write() on an O_APPEND descriptor
 * (as nginx's unbuffered access_log does), read back with pread() from a
 * cursor, and the file is cut back to its header whenever everything in
 * it has been confirmed.  Under a steady stream of records that moment
 * may never come: then the confirmed part is given back to the file
 * system as a hole (fallocate PUNCH_HOLE, the offsets stay) each time it
 * grows by a megabyte, so the disk holds what waits, not what was sent.
 * Whoever replays a file with a hole skips the zeros, and the rest of the
 * line they end in: that line was confirmed, as everything before the
 * cursor was (the hole ends before it).
 *
 * Ownership is an fcntl() write lock on the whole file, held by the
 * process for as long as it lives: the kernel drops it when the process
 * dies, even on kill -9.  So any worker may claim a file whose lock it can
 * take: its writer is gone, and what is left in it is replayed, then the
 * file is removed.  (fcntl locks belong to the process and any close() of
 * the file drops them, hence: never open a file we already hold.)
 */


#include "ngx_cms_redis_int.h"

#include <dirent.h>


#define NGX_CMS_REDIS_SPOOL_MAGIC   "CMS-REDIS-SPOOL 1 "
#define NGX_CMS_REDIS_SPOOL_PREFIX  "cms-redis."
#define NGX_CMS_REDIS_SPOOL_SUFFIX  ".spool"
#define NGX_CMS_REDIS_SPOOL_BLOCK   4096
#define NGX_CMS_REDIS_SPOOL_PUNCH   (1024 * 1024)


static void ngx_cms_redis_spool_punch(ngx_cms_redis_spool_t *spool,
    ngx_log_t *log);
static ngx_int_t ngx_cms_redis_spool_lock(ngx_fd_t fd);
static ngx_cms_redis_spool_t *ngx_cms_redis_spool_alloc(ngx_str_t *dir,
    u_char *name, size_t len, ngx_log_t *log);
static ngx_int_t ngx_cms_redis_spool_header(ngx_cms_redis_spool_t *spool,
    ngx_log_t *log);
static int ngx_cms_redis_spool_cmp(const void *one, const void *two);


ngx_cms_redis_spool_t *
ngx_cms_redis_spool_create(ngx_str_t *dir, ngx_str_t *source, ngx_log_t *log)
{
    u_char                  name[NGX_INT64_LEN * 2 + 32], *p;
    u_char                  header[sizeof(NGX_CMS_REDIS_SPOOL_MAGIC) + 256];
    size_t                  len;
    ssize_t                 n;
    ngx_cms_redis_spool_t  *spool;

    if (source->len > 200) {
        return NULL;
    }

    /* the start time first, fixed width: names sort by age */

    p = ngx_sprintf(name, NGX_CMS_REDIS_SPOOL_PREFIX "%013M.%P"
                    NGX_CMS_REDIS_SPOOL_SUFFIX, ngx_cms_redis_now(), ngx_pid);

    spool = ngx_cms_redis_spool_alloc(dir, name, p - name, log);
    if (spool == NULL) {
        return NULL;
    }

    spool->fd = open((char *) spool->path, O_RDWR|O_CREAT|O_EXCL|O_APPEND,
                     0600);

    if (spool->fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "cms redis: cannot create spool file \"%s\"",
                      spool->path);
        ngx_free(spool);
        return NULL;
    }

    if (ngx_cms_redis_spool_lock(spool->fd) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "cms redis: cannot lock spool file \"%s\"",
                      spool->path);
        goto failed;
    }

    ngx_memcpy(spool->source, source->data, source->len);
    spool->source_len = source->len;

    len = ngx_sprintf(header, NGX_CMS_REDIS_SPOOL_MAGIC "%V\n", source)
          - header;

    n = write(spool->fd, header, len);

    if (n != (ssize_t) len) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "cms redis: cannot write spool file \"%s\"",
                      spool->path);
        goto failed;
    }

    spool->own = 1;
    spool->header = len;
    spool->cursor = len;
    spool->size = len;

    return spool;

failed:

    (void) unlink((char *) spool->path);
    (void) close(spool->fd);
    ngx_free(spool);

    return NULL;
}


/* one record line, in one write(): it is there or it is not */

ngx_int_t
ngx_cms_redis_spool_append(ngx_cms_redis_spool_t *spool, u_char *line,
    size_t len, ngx_log_t *log)
{
    ssize_t    n;
    ngx_err_t  err;

    n = write(spool->fd, line, len);

    if (n == (ssize_t) len) {
        spool->size += n;
        return NGX_OK;
    }

    err = ngx_errno;

    if (n > 0) {
        /* a short write (disk full): no half line may stay behind */
        (void) ftruncate(spool->fd, spool->size);
    }

    ngx_log_error(NGX_LOG_ERR, log, n < 0 ? err : 0,
                  "cms redis: spool write to \"%s\" failed%s",
                  spool->path, n >= 0 ? " (short write)" : "");

    return NGX_ERROR;
}


ssize_t
ngx_cms_redis_spool_read(ngx_cms_redis_spool_t *spool, u_char *buf,
    size_t size, ngx_log_t *log)
{
    ssize_t  n;

    if ((off_t) size > spool->size - spool->cursor) {
        size = spool->size - spool->cursor;
    }

    n = pread(spool->fd, buf, size, spool->cursor);

    if (n < 0) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "cms redis: cannot read spool file \"%s\"",
                      spool->path);
    }

    return n;
}


/* the first n bytes after the cursor are confirmed */

void
ngx_cms_redis_spool_consume(ngx_cms_redis_spool_t *spool, off_t n,
    ngx_log_t *log)
{
    spool->cursor += n;

    if (!spool->own || spool->size == spool->header) {
        return;
    }

    if (spool->cursor < spool->size) {
        ngx_cms_redis_spool_punch(spool, log);
        return;
    }

    /* all confirmed: keep the header only */

    if (ftruncate(spool->fd, spool->header) == -1) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "cms redis: cannot truncate spool file \"%s\"",
                      spool->path);
        return;
    }

    spool->size = spool->header;
    spool->cursor = spool->header;
    spool->punched = 0;
}


/* bytes on disk: max_size is about those */

off_t
ngx_cms_redis_spool_used(ngx_cms_redis_spool_t *spool)
{
    if (spool->punched == 0) {
        return spool->size;
    }

    return spool->size - spool->punched
           + ngx_align(spool->header, NGX_CMS_REDIS_SPOOL_BLOCK);
}


/*
 * Whole blocks only, after the header's block and before the cursor's
 * (strictly: the line the hole ends in then began before the cursor).
 */

static void
ngx_cms_redis_spool_punch(ngx_cms_redis_spool_t *spool, ngx_log_t *log)
{
#if (NGX_LINUX && defined FALLOC_FL_PUNCH_HOLE)

    off_t  from, to;

    if (spool->no_punch) {
        return;
    }

    from = ngx_max(spool->punched,
                   ngx_align(spool->header, NGX_CMS_REDIS_SPOOL_BLOCK));
    to = (spool->cursor - 1) & ~((off_t) NGX_CMS_REDIS_SPOOL_BLOCK - 1);

    if (to - from < NGX_CMS_REDIS_SPOOL_PUNCH) {
        return;
    }

    if (fallocate(spool->fd, FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE,
                  from, to - from)
        == -1)
    {
        spool->no_punch = 1;
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                      "cms redis: cannot free the confirmed part of spool "
                      "file \"%s\" (it is cut back when all is confirmed)",
                      spool->path);
        return;
    }

    spool->freed += to - from;
    spool->punched = to;

#endif
}


/* removed when nothing is left in it, kept (and unlocked) otherwise */

void
ngx_cms_redis_spool_close(ngx_cms_redis_spool_t *spool, ngx_log_t *log)
{
    if (spool->cursor >= spool->size) {
        if (unlink((char *) spool->path) == -1) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          "cms redis: cannot remove spool file \"%s\"",
                          spool->path);
        }

    } else {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "cms redis: spool file \"%s\" keeps %O bytes of "
                      "records for a later worker",
                      spool->path, spool->size - spool->cursor);
    }

    (void) close(spool->fd);
    ngx_free(spool);
}


/*
 * Claims the spool files of processes that are gone, oldest first, and
 * appends them to "orphans".  Returns how many were claimed.
 */

ngx_uint_t
ngx_cms_redis_spool_claim(ngx_str_t *dir, ngx_cms_redis_spool_t *own,
    ngx_queue_t *orphans, ngx_log_t *log)
{
    DIR                    *d;
    size_t                  len, plen, slen;
    u_char                 *name;
    ngx_fd_t                fd;
    ngx_str_t              *names, *nm;
    off_t                   data;
    ngx_uint_t              i, n, claimed, held;
    ngx_queue_t            *q;
    struct dirent          *de;
    ngx_file_info_t         fi;
    ngx_cms_redis_spool_t  *spool, *sp;

    d = opendir((char *) dir->data);
    if (d == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "cms redis: cannot open spool directory \"%V\"", dir);
        return 0;
    }

    plen = sizeof(NGX_CMS_REDIS_SPOOL_PREFIX) - 1;
    slen = sizeof(NGX_CMS_REDIS_SPOOL_SUFFIX) - 1;

    n = 0;
    names = NULL;

    while ((de = readdir(d)) != NULL) {
        len = ngx_strlen(de->d_name);

        if (len <= plen + slen
            || ngx_strncmp(de->d_name, NGX_CMS_REDIS_SPOOL_PREFIX, plen) != 0
            || ngx_strcmp(de->d_name + len - slen, NGX_CMS_REDIS_SPOOL_SUFFIX)
               != 0)
        {
            continue;
        }

        if (n % 16 == 0) {
            nm = ngx_alloc((n + 16) * sizeof(ngx_str_t), log);
            if (nm == NULL) {
                break;
            }

            if (names) {
                ngx_memcpy(nm, names, n * sizeof(ngx_str_t));
                ngx_free(names);
            }

            names = nm;
        }

        name = ngx_alloc(len + 1, log);
        if (name == NULL) {
            break;
        }

        ngx_memcpy(name, de->d_name, len + 1);
        names[n].data = name;
        names[n].len = len;
        n++;

        if (n == 1024) {
            break;
        }
    }

    (void) closedir(d);

    if (n > 1) {
        ngx_qsort(names, n, sizeof(ngx_str_t), ngx_cms_redis_spool_cmp);
    }

    claimed = 0;

    for (i = 0; i < n; i++) {

        spool = ngx_cms_redis_spool_alloc(dir, names[i].data, names[i].len,
                                          log);
        if (spool == NULL) {
            continue;
        }

        /* ours, or held already: opening it again would drop our lock */

        held = (own && ngx_strcmp(own->path, spool->path) == 0);

        for (q = ngx_queue_head(orphans);
             !held && q != ngx_queue_sentinel(orphans);
             q = ngx_queue_next(q))
        {
            sp = ngx_queue_data(q, ngx_cms_redis_spool_t, queue);
            held = (ngx_strcmp(sp->path, spool->path) == 0);
        }

        if (held) {
            ngx_free(spool);
            continue;
        }

        fd = open((char *) spool->path, O_RDWR);

        if (fd == NGX_INVALID_FILE) {
            ngx_free(spool);
            continue;
        }

        /* a live writer holds the lock; so did whoever removed it */

        if (ngx_cms_redis_spool_lock(fd) != NGX_OK
            || ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
            || fi.st_nlink == 0)
        {
            (void) close(fd);
            ngx_free(spool);
            continue;
        }

        spool->fd = fd;
        spool->size = ngx_file_size(&fi);

        if (ngx_cms_redis_spool_header(spool, log) != NGX_OK) {
            (void) close(fd);
            ngx_free(spool);
            continue;
        }

        /* the hole its writer made: zeros, then the end of a sent line */

        data = lseek(fd, spool->cursor, SEEK_DATA);

        if (data > spool->cursor && data < spool->size) {
            spool->cursor = data;
            spool->torn = 1;
        }

        if (spool->cursor >= spool->size) {
            /* nothing was left in it */
            ngx_cms_redis_spool_close(spool, log);
            continue;
        }

        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "cms redis: replaying spool file \"%s\" (%O bytes) "
                      "left by a previous process",
                      spool->path, spool->size - spool->cursor);

        ngx_queue_insert_tail(orphans, &spool->queue);
        claimed++;
    }

    for (i = 0; i < n; i++) {
        ngx_free(names[i].data);
    }

    if (names) {
        ngx_free(names);
    }

    return claimed;
}


static ngx_cms_redis_spool_t *
ngx_cms_redis_spool_alloc(ngx_str_t *dir, u_char *name, size_t len,
    ngx_log_t *log)
{
    u_char                 *p;
    ngx_cms_redis_spool_t  *spool;

    spool = ngx_calloc(sizeof(ngx_cms_redis_spool_t) + dir->len + len + 2,
                       log);
    if (spool == NULL) {
        return NULL;
    }

    spool->fd = NGX_INVALID_FILE;
    spool->path = (u_char *) (spool + 1);

    p = ngx_cpymem(spool->path, dir->data, dir->len);
    *p++ = '/';
    p = ngx_cpymem(p, name, len);
    *p = '\0';

    return spool;
}


static ngx_int_t
ngx_cms_redis_spool_header(ngx_cms_redis_spool_t *spool, ngx_log_t *log)
{
    u_char   buf[sizeof(NGX_CMS_REDIS_SPOOL_MAGIC) + 256], *nl, *src;
    size_t   mlen;
    ssize_t  n;
    u_char   bad[NGX_MAX_PATH];

    mlen = sizeof(NGX_CMS_REDIS_SPOOL_MAGIC) - 1;

    n = pread(spool->fd, buf, sizeof(buf), 0);

    if (n > (ssize_t) mlen
        && ngx_strncmp(buf, NGX_CMS_REDIS_SPOOL_MAGIC, mlen) == 0
        && (nl = ngx_strlchr(buf, buf + n, '\n')) != NULL
        && (size_t) (nl - buf) > mlen
        && (size_t) (nl - buf) - mlen <= sizeof(spool->source))
    {
        src = buf + mlen;
        spool->source_len = nl - src;
        ngx_memcpy(spool->source, src, spool->source_len);
        spool->header = nl + 1 - buf;
        spool->cursor = spool->header;

        return NGX_OK;
    }

    if (n == 0) {
        /* a writer that died before its header: nothing to replay */
        spool->header = 0;
        spool->cursor = 0;
        return NGX_OK;
    }

    /* not ours to interpret: set it aside once, loudly */

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "cms redis: spool file \"%s\" has no valid header, "
                  "renamed to \"%s.bad\"", spool->path, spool->path);

    ngx_snprintf(bad, sizeof(bad), "%s.bad%Z", spool->path);
    (void) rename((char *) spool->path, (char *) bad);

    return NGX_ERROR;
}


static ngx_int_t
ngx_cms_redis_spool_lock(ngx_fd_t fd)
{
    struct flock  fl;

    ngx_memzero(&fl, sizeof(struct flock));

    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;

    if (fcntl(fd, F_SETLK, &fl) == -1) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static int
ngx_cms_redis_spool_cmp(const void *one, const void *two)
{
    const ngx_str_t  *a = one;
    const ngx_str_t  *b = two;

    return (int) ngx_strcmp(a->data, b->data);
}
