
/*
 * ngx_cms: call affinity -- which bridge hosts a call, a call leg or a
 * participant.
 *
 * Calls are local to the bridge that runs them (cms-api-notes §1.10), so
 * /calls/<id>..., /callLegs/<id> and /participants/<id> must go there,
 * whatever the active bridge is.  The map (object id -> bridge) lives in
 * the shared zone, least recently used first out when it is full, and is
 * learned from the answers that pass through:
 *
 *   - the Location of a successful POST under /calls (a call, or a leg or
 *     participant of a call: they live where the call lives, moves
 *     included), as the bridge that answered;
 *   - a 200 to GET on one call, leg or participant;
 *   - listings of calls, call legs and participants (local entries only;
 *     a participant with <callBridge> lives elsewhere);
 *
 * and forgotten when the object is deleted, or when its bridge answers
 * 404 for it.  Ids are compared case-insensitively, as CMS does.
 *
 * With Redis, what an instance learns that is new to it goes to Redis
 * too (ngx_cms_fo_redis_call): the other instances take it into their
 * zones at once, and a starting instance loads what is there.
 *
 * This file is the map (cluster layer); the learning from answers is the
 * http layer's (ngx_cms_affinity_filter.c).
 */


#include "ngx_cms_failover.h"
#include "ngx_cms_fo_redis.h"


static ngx_cms_shm_call_t *ngx_cms_affinity_find(ngx_cms_shm_cluster_t *sh,
    uint32_t hash, u_char *id, size_t len);
static size_t ngx_cms_affinity_key(u_char *dst, u_char *id, size_t len);
static ngx_uint_t ngx_cms_affinity_learn_locked(ngx_cms_fo_cluster_t *cl,
    u_char *key, size_t len, ngx_uint_t slot);
static void ngx_cms_affinity_share(ngx_cms_fo_cluster_t *cl, u_char *key,
    size_t len, ngx_uint_t slot);


ngx_uint_t
ngx_cms_affinity_lookup(ngx_cms_fo_cluster_t *cl, u_char *id, size_t len)
{
    size_t               n;
    uint32_t             hash;
    ngx_uint_t           slot;
    ngx_cms_shm_call_t  *call;
    u_char               key[NGX_CMS_SHM_CALL_ID_LEN];

    if (cl->sh == NULL || len == 0 || len > NGX_CMS_SHM_CALL_ID_LEN) {
        return NGX_CMS_SHM_NO_SLOT;
    }

    n = ngx_cms_affinity_key(key, id, len);
    hash = ngx_crc32_short(key, n);

    slot = NGX_CMS_SHM_NO_SLOT;

    ngx_shmtx_lock(&cl->shpool->mutex);

    call = ngx_cms_affinity_find(cl->sh, hash, key, n);

    if (call) {
        slot = call->slot;

        ngx_queue_remove(&call->lru);
        ngx_queue_insert_head(&cl->sh->calls_lru, &call->lru);
    }

    ngx_shmtx_unlock(&cl->shpool->mutex);

    return slot;
}


/* share: tell Redis (and so the other instances) if it is news */

void
ngx_cms_affinity_learn(ngx_cms_fo_cluster_t *cl, u_char *id, size_t len,
    ngx_uint_t slot, ngx_uint_t share)
{
    size_t      n;
    ngx_uint_t  changed;
    u_char      key[NGX_CMS_SHM_CALL_ID_LEN];

    if (cl->sh == NULL || len == 0 || len > NGX_CMS_SHM_CALL_ID_LEN) {
        return;
    }

    n = ngx_cms_affinity_key(key, id, len);

    ngx_shmtx_lock(&cl->shpool->mutex);
    changed = ngx_cms_affinity_learn_locked(cl, key, n, slot);
    ngx_shmtx_unlock(&cl->shpool->mutex);

    if (changed && share) {
        ngx_cms_affinity_share(cl, key, n, slot);
    }
}


static void
ngx_cms_affinity_share(ngx_cms_fo_cluster_t *cl, u_char *key, size_t len,
    ngx_uint_t slot)
{
    ngx_cms_bridge_t  *b;

    if (cl->redis == NULL) {
        return;
    }

    b = (slot == NGX_CMS_SHM_NO_SLOT)
        ? NULL : ngx_cms_failover_bridge_by_slot(cl, slot);

    if (slot != NGX_CMS_SHM_NO_SLOT && b == NULL) {
        return;
    }

    ngx_cms_fo_redis_call(cl, key, len, b ? &b->name : NULL);
}


/* 1 if it was not known so */

static ngx_uint_t
ngx_cms_affinity_learn_locked(ngx_cms_fo_cluster_t *cl, u_char *key,
    size_t len, ngx_uint_t slot)
{
    uint32_t                hash;
    ngx_uint_t              changed;
    ngx_cms_shm_call_t     *call;
    ngx_cms_shm_cluster_t  *sh;

    sh = cl->sh;
    hash = ngx_crc32_short(key, len);

    call = ngx_cms_affinity_find(sh, hash, key, len);

    if (call) {
        changed = (call->slot != slot);
        call->slot = slot;
        ngx_queue_remove(&call->lru);
        ngx_queue_insert_head(&sh->calls_lru, &call->lru);
        return changed;
    }

    call = ngx_cms_shm_alloc_call(cl->shpool, sh, len);
    if (call == NULL) {
        return 0;
    }

    call->node.key = hash;
    call->slot = slot;
    call->len = (u_char) len;
    ngx_memcpy(call->id, key, len);

    ngx_rbtree_insert(&sh->calls, &call->node);
    ngx_queue_insert_head(&sh->calls_lru, &call->lru);
    sh->ncalls++;

    return 1;
}


void
ngx_cms_affinity_forget(ngx_cms_fo_cluster_t *cl, u_char *id, size_t len,
    ngx_uint_t share)
{
    size_t               n;
    ngx_cms_shm_call_t  *call;
    u_char               key[NGX_CMS_SHM_CALL_ID_LEN];

    if (cl->sh == NULL || len == 0 || len > NGX_CMS_SHM_CALL_ID_LEN) {
        return;
    }

    n = ngx_cms_affinity_key(key, id, len);

    ngx_shmtx_lock(&cl->shpool->mutex);

    call = ngx_cms_affinity_find(cl->sh, ngx_crc32_short(key, n), key, n);

    if (call) {
        ngx_cms_shm_free_call(cl->shpool, cl->sh, call);
    }

    ngx_shmtx_unlock(&cl->shpool->mutex);

    if (call && share) {
        ngx_cms_affinity_share(cl, key, n, NGX_CMS_SHM_NO_SLOT);
    }
}


static ngx_cms_shm_call_t *
ngx_cms_affinity_find(ngx_cms_shm_cluster_t *sh, uint32_t hash, u_char *id,
    size_t len)
{
    ngx_int_t            rc;
    ngx_rbtree_node_t   *node, *sentinel;
    ngx_cms_shm_call_t  *call;

    node = sh->calls.root;
    sentinel = sh->calls.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        call = (ngx_cms_shm_call_t *) node;

        rc = ngx_memn2cmp(id, call->id, len, call->len);

        if (rc == 0) {
            return call;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static size_t
ngx_cms_affinity_key(u_char *dst, u_char *id, size_t len)
{
    ngx_strlow(dst, id, len);
    return len;
}


/* many at once (a listing), under one lock; ids as they came */

void
ngx_cms_affinity_learn_batch(ngx_cms_fo_cluster_t *cl,
    ngx_cms_affinity_id_t *ids, ngx_uint_t n, ngx_uint_t slot)
{
    ngx_uint_t  i;

    if (n == 0) {
        return;
    }

    for (i = 0; i < n; i++) {
        ids[i].len = (u_char) ngx_cms_affinity_key(ids[i].id, ids[i].id,
                                                   ids[i].len);
    }

    ngx_shmtx_lock(&cl->shpool->mutex);

    for (i = 0; i < n; i++) {
        ids[i].changed = ngx_cms_affinity_learn_locked(cl, ids[i].id,
                                                       ids[i].len, slot);
    }

    ngx_shmtx_unlock(&cl->shpool->mutex);

    for (i = 0; i < n; i++) {
        if (ids[i].changed) {
            ngx_cms_affinity_share(cl, ids[i].id, ids[i].len, slot);
        }
    }
}
