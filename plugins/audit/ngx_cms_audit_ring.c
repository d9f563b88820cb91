
/*
 * ngx_cms audit plugin: the shared ring of an audit file
 * ("cms_audit_log <path> ring=<size> [flush=<time>]").
 *
 * Records go into a ring in shared memory, one ring per file, which every
 * worker appends to.  A worker writes what the ring holds with one
 * write() (two when it wraps) at the end of the event-loop pass that
 * logged a record (a posted event), or at most flush= later when that is
 * given; under load one write carries many records, where write-through
 * makes one system call a record.
 *
 * What a crash costs:
 *   - a worker killed with -9 loses nothing it had logged: the ring is
 *     not its memory.  The worker the master starts in its place writes
 *     what was left (init_process), and so does any worker's next write;
 *   - a reload keeps the zone (same name and size), and old workers write
 *     the ring on their way out, as "nginx -s reopen" and a stop do
 *     (open_file->flush);
 *   - nginx killed as a whole, or the OS crashing, loses what the ring
 *     held at that moment: the records of the passes in progress (or of
 *     the last flush= at most), as the page cache loses what was written
 *     but not synced in either mode.
 *
 * Order: appends and writes hold the zone's mutex, the write() included,
 * so the file has the records in the order they were appended, whoever
 * writes them.  A worker that dies holding it is unlocked by the master
 * (ngx_unlock_mutexes() unlocks every zone's slab mutex).
 */


#include "ngx_cms_audit.h"


typedef struct {
    size_t                      size;     /* of data[] */
    uint64_t                    head;     /* bytes ever appended */
    uint64_t                    tail;     /* bytes ever written */
    u_char                      data[1];
} ngx_cms_audit_ring_sh_t;


struct ngx_cms_audit_ring_s {
    size_t                      size;
    ngx_msec_t                  flush;    /* 0: at the end of the pass */
    ngx_slab_pool_t            *shpool;
    ngx_cms_audit_ring_sh_t    *sh;
    ngx_cms_audit_file_t       *file;
    ngx_event_t                 post;     /* this worker's write */
};


static ngx_int_t ngx_cms_audit_ring_init_zone(ngx_shm_zone_t *zone,
    void *data);
static void ngx_cms_audit_ring_write_locked(ngx_cms_audit_ring_t *ring,
    ngx_log_t *log);
static void ngx_cms_audit_ring_handler(ngx_event_t *ev);


ngx_cms_audit_ring_t *
ngx_cms_audit_ring_create(ngx_conf_t *cf, ngx_cms_audit_file_t *af,
    size_t size, ngx_msec_t flush)
{
    u_char                *p;
    ngx_str_t              name;
    ngx_shm_zone_t        *zone;
    ngx_cms_audit_ring_t  *ring;

    ring = ngx_pcalloc(cf->pool, sizeof(ngx_cms_audit_ring_t));
    if (ring == NULL) {
        return NULL;
    }

    /* one zone per file: its name is the file's */

    name.len = sizeof("cms_audit:") - 1 + af->file->name.len;
    name.data = ngx_pnalloc(cf->pool, name.len);
    if (name.data == NULL) {
        return NULL;
    }

    p = ngx_cpymem(name.data, "cms_audit:", sizeof("cms_audit:") - 1);
    ngx_memcpy(p, af->file->name.data, af->file->name.len);

    /* room for the slab pool's own pages besides the ring */

    zone = ngx_shared_memory_add(cf, &name,
                                 size + sizeof(ngx_cms_audit_ring_sh_t)
                                 + 8 * ngx_pagesize,
                                 &ngx_cms_audit_module);
    if (zone == NULL) {
        return NULL;
    }

    if (zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cms_audit_log\" \"%V\": its ring is defined "
                           "twice", &af->file->name);
        return NULL;
    }

    zone->init = ngx_cms_audit_ring_init_zone;
    zone->data = ring;

    ring->size = size;
    ring->flush = flush;
    ring->file = af;

    ring->post.handler = ngx_cms_audit_ring_handler;
    ring->post.data = ring;
    ring->post.log = &cf->cycle->new_log;
    ring->post.cancelable = 1;

    return ring;
}


static ngx_int_t
ngx_cms_audit_ring_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_cms_audit_ring_t  *oring = data;

    size_t                 len;
    ngx_cms_audit_ring_t  *ring;

    ring = zone->data;
    ring->shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (oring) {
        /* a reload with the same size: the records waiting stay */
        ring->sh = oring->sh;
        return NGX_OK;
    }

    if (zone->shm.exists) {
        ring->sh = ring->shpool->data;
        return NGX_OK;
    }

    ring->sh = ngx_slab_alloc(ring->shpool,
                              offsetof(ngx_cms_audit_ring_sh_t, data)
                              + ring->size);
    if (ring->sh == NULL) {
        return NGX_ERROR;
    }

    ring->sh->size = ring->size;
    ring->sh->head = 0;
    ring->sh->tail = 0;

    ring->shpool->data = ring->sh;

    len = sizeof(" in cms_audit_log ring \"\"") + zone->shm.name.len;

    ring->shpool->log_ctx = ngx_slab_alloc(ring->shpool, len);
    if (ring->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ring->shpool->log_ctx, " in cms_audit_log ring \"%V\"%Z",
                &zone->shm.name);

    return NGX_OK;
}


/* a record (its newline included) into the ring, in a worker */

void
ngx_cms_audit_ring_add(ngx_cms_audit_ring_t *ring, u_char *buf, size_t len,
    ngx_log_t *log)
{
    size_t                    off, n;
    ngx_cms_audit_ring_sh_t  *sh;

    sh = ring->sh;

    ngx_shmtx_lock(&ring->shpool->mutex);

    if (len > sh->size - (size_t) (sh->head - sh->tail)) {
        ngx_cms_audit_ring_write_locked(ring, log);
    }

    if (len > sh->size) {
        /* larger than the whole ring, empty by now: in order all the same */
        ngx_cms_audit_write_fd(ring->file, buf, len, log);
        ngx_shmtx_unlock(&ring->shpool->mutex);
        return;
    }

    off = (size_t) (sh->head % sh->size);
    n = ngx_min(len, sh->size - off);

    ngx_memcpy(sh->data + off, buf, n);
    ngx_memcpy(sh->data, buf + n, len - n);

    sh->head += len;

    ngx_shmtx_unlock(&ring->shpool->mutex);

    if (ring->flush == 0) {
        if (!ring->post.posted) {
            ngx_post_event(&ring->post, &ngx_posted_events);
        }

    } else if (!ring->post.timer_set) {
        ngx_add_timer(&ring->post, ring->flush);
    }
}


/* everything the ring holds, whichever worker appended it */

void
ngx_cms_audit_ring_flush(ngx_cms_audit_ring_t *ring, ngx_log_t *log)
{
    if (ring->sh == NULL) {
        return;
    }

    ngx_shmtx_lock(&ring->shpool->mutex);
    ngx_cms_audit_ring_write_locked(ring, log);
    ngx_shmtx_unlock(&ring->shpool->mutex);

    if (ring->post.timer_set) {
        ngx_del_timer(&ring->post);
    }

    if (ring->post.posted) {
        ngx_delete_posted_event(&ring->post);
    }
}


/*
 * A failed write loses what it carried, as write-through does: keeping
 * it would only stop every later record at a full ring, and the error is
 * counted and logged by ngx_cms_audit_write_fd().
 */

static void
ngx_cms_audit_ring_write_locked(ngx_cms_audit_ring_t *ring, ngx_log_t *log)
{
    size_t                    off, len, n;
    ngx_cms_audit_ring_sh_t  *sh;

    sh = ring->sh;
    len = (size_t) (sh->head - sh->tail);

    if (len == 0) {
        return;
    }

    off = (size_t) (sh->tail % sh->size);
    n = ngx_min(len, sh->size - off);

    ngx_cms_audit_write_fd(ring->file, sh->data + off, n, log);

    if (n < len) {
        ngx_cms_audit_write_fd(ring->file, sh->data, len - n, log);
    }

    sh->tail = sh->head;
}


static void
ngx_cms_audit_ring_handler(ngx_event_t *ev)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "cms audit ring write handler");

    ngx_cms_audit_ring_flush(ev->data, ev->log);
}
