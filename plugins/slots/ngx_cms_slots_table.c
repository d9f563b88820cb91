
/*
 * ngx_cms slots plugin: the slot table in the shared zone.
 *
 * Pools are a fixed array (a deployment has one or two); each active
 * pool owns a slab-allocated array of slots, one per index, recreated
 * when a bulk sync recreates the spaces.  Slots whose space is known are
 * in a red-black tree by space id, so a PUT finds its slot without a
 * scan.  Everything here runs under the zone's mutex (the *_locked
 * functions) except the zone's initialization.
 */


#include "ngx_cms_slots.h"


static ngx_int_t ngx_cms_slots_conf_pools_locked(
    ngx_cms_slots_main_conf_t *smcf);


ngx_int_t
ngx_cms_slots_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_cms_slots_sh_t         *osh = data;

    ngx_int_t                   rc;
    ngx_slab_pool_t            *shpool;
    ngx_cms_slots_sh_t         *sh;
    ngx_cms_slots_main_conf_t  *smcf;

    smcf = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    smcf->shpool = shpool;

    if (osh) {
        /* a reload: the table lives on, as does every slot's meeting */
        sh = osh;

    } else if (zone->shm.exists) {
        sh = shpool->data;

    } else {
        sh = ngx_slab_calloc(shpool, sizeof(ngx_cms_slots_sh_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        ngx_rbtree_init(&sh->tree, &sh->sentinel,
                        ngx_str_rbtree_insert_value);

        sh->next_token = 1;

        shpool->data = sh;
        shpool->log_nomem = 0;
    }

    smcf->sh = sh;

    /* what a reload's init_zone gets as "data" */
    zone->data = sh;

    ngx_shmtx_lock(&shpool->mutex);
    rc = ngx_cms_slots_conf_pools_locked(smcf);
    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}


/* pools declared with cms_slot_pool: active from the start */

static ngx_int_t
ngx_cms_slots_conf_pools_locked(ngx_cms_slots_main_conf_t *smcf)
{
    u_char                      buf[NGX_CMS_SLOTS_ID_LEN];
    size_t                      len;
    ngx_uint_t                  i, j, n;
    ngx_cms_slots_pool_t       *pool;
    ngx_cms_slots_conf_pool_t  *cp;

    cp = smcf->pools.elts;

    for (i = 0; i < smcf->pools.nelts; i++) {

        for (j = 0; j < NGX_CMS_SLOTS_MAX_POOLS; j++) {
            pool = &smcf->sh->pools[j];

            if (pool->used && pool->active
                && ngx_cms_slot_pool_same(&pool->model, &cp[i].model))
            {
                break;
            }
        }

        if (j < NGX_CMS_SLOTS_MAX_POOLS) {
            continue;
        }

        len = ngx_snprintf(buf, sizeof(buf), "config:%ui", i + 1) - buf;

        pool = ngx_cms_slots_pool_by_id_locked(smcf, buf, len, &n);
        if (pool == NULL) {
            pool = ngx_cms_slots_pool_new_locked(smcf, buf, len, &n);
            if (pool == NULL) {
                return NGX_ERROR;
            }
        }

        pool->configured = 1;
        pool->def = cp[i].model;
        pool->defined = 1;

        if (ngx_cms_slots_pool_activate_locked(smcf, pool, &cp[i].model)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The clock itself, not nginx's time cached at the start of the event
 * loop's pass: versions are compared with Redis's clock and with other
 * instances', and a pass can be long (under valgrind, hundreds of ms),
 * long enough for a cached time to rank a change behind an older one.
 */

static uint64_t
ngx_cms_slots_now_us(void)
{
    struct timeval  tv;

    ngx_gettimeofday(&tv);

    return (uint64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}


uint64_t
ngx_cms_slots_now_ms(void)
{
    return ngx_cms_slots_now_us() / 1000;
}


/*
 * The zone changed a slot itself (a decision's outcome, a correction,
 * a release): when, and a version above any the slot has had, in the
 * microseconds Redis's records are versioned in (the change script), so
 * that a change made here during an outage outranks what Redis had.
 * seen_ms: when what the change says was true (a bridge's answer to
 * reconciliation), 0 for now.
 */

void
ngx_cms_slots_touch_locked(ngx_cms_slots_slot_t *slot, uint64_t seen_ms)
{
    uint64_t  now_us;

    now_us = ngx_cms_slots_now_us();

    slot->changed_ms = now_us / 1000;
    slot->version = ngx_max(slot->version + 1,
                            seen_ms ? seen_ms * 1000 : now_us);
}


/*
 * A change of one field (a call linked or ended, a stuck flag): while
 * Redis is there, the change script applies it to Redis's own record
 * and the version comes back with it, so the zone, which may not have
 * heard the latest news, does not claim a newer one; without Redis the
 * zone's table is pushed whole later and must outrank what Redis had.
 */

void
ngx_cms_slots_field_changed_locked(ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_slots_slot_t *slot)
{
    if (ngx_cms_slots_redis_active(smcf)) {
        slot->changed_ms = ngx_cms_slots_now_ms();
        return;
    }

    ngx_cms_slots_touch_locked(slot, 0);
}


/* the setters copy nothing when empty: an empty field may come as NULL */

void
ngx_cms_slots_set_id(ngx_cms_slots_id_t *dst, u_char *s, size_t len)
{
    dst->len = ngx_min(len, NGX_CMS_SLOTS_ID_LEN);
    if (dst->len) {
        ngx_memcpy(dst->data, s, dst->len);
    }
}


void
ngx_cms_slots_set_text(ngx_cms_slots_text_t *dst, u_char *s, size_t len)
{
    dst->len = ngx_min(len, NGX_CMS_SLOTS_TEXT_LEN);
    if (dst->len) {
        ngx_memcpy(dst->data, s, dst->len);
    }
}


void
ngx_cms_slots_set_user(ngx_cms_slots_user_t *dst, u_char *s, size_t len)
{
    dst->len = ngx_min(len, NGX_CMS_SLOTS_USER_LEN);
    if (dst->len) {
        ngx_memcpy(dst->data, s, dst->len);
    }
}


ngx_cms_slots_pool_t *
ngx_cms_slots_pool_by_id_locked(ngx_cms_slots_main_conf_t *smcf, u_char *id,
    size_t len, ngx_uint_t *n)
{
    ngx_uint_t             i;
    ngx_cms_slots_pool_t  *pool;

    for (i = 0; i < NGX_CMS_SLOTS_MAX_POOLS; i++) {
        pool = &smcf->sh->pools[i];

        if (pool->used && pool->id.len == len
            && ngx_strncmp(pool->id.data, id, len) == 0)
        {
            *n = i;
            return pool;
        }
    }

    return NULL;
}


ngx_cms_slots_pool_t *
ngx_cms_slots_pool_new_locked(ngx_cms_slots_main_conf_t *smcf, u_char *id,
    size_t len, ngx_uint_t *n)
{
    ngx_uint_t             i;
    ngx_cms_slots_pool_t  *pool;

    if (len > NGX_CMS_SLOTS_ID_LEN) {
        return NULL;
    }

    for (i = 0; i < NGX_CMS_SLOTS_MAX_POOLS; i++) {
        pool = &smcf->sh->pools[i];

        if (!pool->used) {
            ngx_memzero(pool, sizeof(ngx_cms_slots_pool_t));
            pool->used = 1;
            ngx_cms_slots_set_id(&pool->id, id, len);
            *n = i;
            return pool;
        }
    }

    return NULL;
}


/*
 * The pool's spaces were (re)created: a bulk sync removes every space
 * the set made and makes new ones with new ids, all free.
 */

ngx_int_t
ngx_cms_slots_pool_activate_locked(ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_slots_pool_t *pool, ngx_cms_slot_pool_t *model)
{
    size_t                 n;
    ngx_cms_slots_slot_t  *slots;

    n = (size_t) (model->end - model->start + 1);

    slots = ngx_slab_calloc_locked(smcf->shpool,
                                   n * sizeof(ngx_cms_slots_slot_t));
    if (slots == NULL) {
        ngx_log_error(NGX_LOG_ERR, smcf->log, 0,
                      "cms slots: zone too small for %uz slots of pool "
                      "\"%*s\"", n, pool->id.len, pool->id.data);
        return NGX_ERROR;
    }

    ngx_cms_slots_pool_remove_locked(smcf, pool);

    pool->used = 1;
    pool->model = *model;
    pool->active = 1;
    pool->generation++;
    pool->synced = ngx_time();
    pool->nslots = n;
    pool->slots = slots;

    return NGX_OK;
}


/* the pool's spaces are gone (removeAll) or about to be recreated */

void
ngx_cms_slots_pool_remove_locked(ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_slots_pool_t *pool)
{
    ngx_uint_t  i;

    if (pool->slots == NULL) {
        pool->active = 0;
        return;
    }

    for (i = 0; i < pool->nslots; i++) {
        ngx_cms_slots_unmap_locked(smcf, &pool->slots[i]);
    }

    ngx_slab_free_locked(smcf->shpool, pool->slots);

    pool->slots = NULL;
    pool->nslots = 0;
    pool->active = 0;
}


void
ngx_cms_slots_map_locked(ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_slots_pool_t *pool, long index, u_char *id, size_t len)
{
    ngx_uint_t             n;
    long                   other;
    ngx_cms_slots_slot_t  *slot, *prev;

    if (!pool->active || index < pool->model.start
        || index > pool->model.end || len == 0
        || len > NGX_CMS_SLOTS_ID_LEN)
    {
        return;
    }

    slot = &pool->slots[index - pool->model.start];

    if (slot->space.len == len
        && ngx_strncmp(slot->space.data, id, len) == 0)
    {
        return;
    }

    /* the id belonged to another slot: it does no longer */

    prev = ngx_cms_slots_by_space_locked(smcf, id, len, &n, &other);
    if (prev) {
        ngx_cms_slots_unmap_locked(smcf, prev);
    }

    ngx_cms_slots_unmap_locked(smcf, slot);

    ngx_cms_slots_set_id(&slot->space, id, len);

    slot->sn.str.data = slot->space.data;
    slot->sn.str.len = slot->space.len;
    slot->sn.node.key = ngx_crc32_short(id, len);

    ngx_rbtree_insert(&smcf->sh->tree, &slot->sn.node);

    smcf->sh->spaces_version++;
}


void
ngx_cms_slots_unmap_locked(ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_slots_slot_t *slot)
{
    if (slot->space.len == 0) {
        return;
    }

    ngx_rbtree_delete(&smcf->sh->tree, &slot->sn.node);
    slot->space.len = 0;

    smcf->sh->spaces_version++;
}


ngx_cms_slots_slot_t *
ngx_cms_slots_by_space_locked(ngx_cms_slots_main_conf_t *smcf, u_char *id,
    size_t len, ngx_uint_t *pool, long *index)
{
    ngx_str_t              s;
    ngx_uint_t             i;
    ngx_str_node_t        *sn;
    ngx_cms_slots_pool_t  *p;
    ngx_cms_slots_slot_t  *slot;

    if (len == 0 || len > NGX_CMS_SLOTS_ID_LEN) {
        return NULL;
    }

    s.data = id;
    s.len = len;

    sn = ngx_str_rbtree_lookup(&smcf->sh->tree, &s, ngx_crc32_short(id, len));
    if (sn == NULL) {
        return NULL;
    }

    slot = (ngx_cms_slots_slot_t *) sn;

    /* which pool: the slot lies inside its pool's array */

    for (i = 0; i < NGX_CMS_SLOTS_MAX_POOLS; i++) {
        p = &smcf->sh->pools[i];

        if (p->used && p->active && slot >= p->slots
            && slot < p->slots + p->nslots)
        {
            *pool = i;
            *index = p->model.start + (slot - p->slots);
            return slot;
        }
    }

    return NULL;
}


/* calls are few at a time: a scan of the held slots is enough */

ngx_cms_slots_slot_t *
ngx_cms_slots_by_call_locked(ngx_cms_slots_main_conf_t *smcf, u_char *id,
    size_t len, ngx_uint_t *pool, long *index)
{
    ngx_uint_t             i, j;
    ngx_cms_slots_pool_t  *p;
    ngx_cms_slots_slot_t  *slot;

    for (i = 0; i < NGX_CMS_SLOTS_MAX_POOLS; i++) {
        p = &smcf->sh->pools[i];

        if (!p->used || !p->active) {
            continue;
        }

        for (j = 0; j < p->nslots; j++) {
            slot = &p->slots[j];

            if ((slot->hold.call.len == len
                 && ngx_strncmp(slot->hold.call.data, id, len) == 0)
                || (slot->last_call.len == len
                    && ngx_strncmp(slot->last_call.data, id, len) == 0))
            {
                *pool = i;
                *index = p->model.start + j;
                return slot;
            }
        }
    }

    return NULL;
}


ngx_uint_t
ngx_cms_slots_in_use_locked(ngx_cms_slots_main_conf_t *smcf,
    ngx_uint_t *total)
{
    uint64_t               now;
    ngx_uint_t             i, j, n;
    ngx_cms_slots_pool_t  *p;
    ngx_cms_slots_slot_t  *slot;

    now = ngx_cms_slots_now_ms();
    n = 0;
    *total = 0;

    for (i = 0; i < NGX_CMS_SLOTS_MAX_POOLS; i++) {
        p = &smcf->sh->pools[i];

        if (!p->used || !p->active) {
            continue;
        }

        *total += p->nslots;

        for (j = 0; j < p->nslots; j++) {
            slot = &p->slots[j];

            if (slot->hold.state != NGX_CMS_SLOT_FREE
                || (slot->res_token && slot->res_until_ms > now))
            {
                n++;
            }
        }
    }

    return n;
}


/*
 * The slot as a new PUT must see it: a check-out still on its way to
 * the bridge holds the slot as firmly as a finished one.
 */

void
ngx_cms_slots_view_locked(ngx_cms_slots_slot_t *slot,
    ngx_cms_slot_view_t *view, uint64_t now_ms)
{
    view->state = slot->hold.state;
    view->key = slot->hold.key;
    view->name_key = slot->hold.name_key;

    if (slot->res_token && slot->res_until_ms > now_ms) {
        view->state = NGX_CMS_SLOT_IN_USE;
        view->key = slot->res_key;
        view->name_key = slot->res_name_key;
    }
}


void
ngx_cms_slots_change_fill_locked(ngx_cms_slots_change_t *ch,
    const char *action, ngx_cms_slots_pool_t *pool, long index,
    ngx_cms_slots_slot_t *slot)
{
    ngx_memzero(ch, sizeof(ngx_cms_slots_change_t));

    ch->action = action;
    ch->pool = pool->id;
    ch->npool = pool - ngx_cms_slots_conf()->sh->pools;
    ch->index = index;
    ch->slot.len = ngx_cms_slot_name(&pool->model, index, ch->slot.data,
                                     NGX_CMS_SLOTS_TEXT_LEN);

    if (slot) {
        ch->space = slot->space;
        ch->hold = slot->hold;

        if (ch->hold.call.len == 0) {
            ch->hold.call = slot->last_call;
        }
    }
}


/*
 * Flags slots checked out for longer than cms_slot_stuck_after without a
 * call.  Every worker runs it from its timer (and the status handler
 * before it answers); the flag is set under the lock, so each slot is
 * reported once.
 */

ngx_uint_t
ngx_cms_slots_stuck_scan(ngx_cms_slots_main_conf_t *smcf, ngx_log_t *log)
{
    time_t                   now;
    ngx_str_t                reason;
    ngx_uint_t               i, j, n, found;
    ngx_cms_slots_pool_t    *p;
    ngx_cms_slots_slot_t    *slot;
    ngx_cms_slots_change_t   ch[8];

    if (smcf->sh == NULL || smcf->stuck_after == 0) {
        return 0;
    }

    now = ngx_time();
    found = 0;

    do {
        n = 0;

        ngx_shmtx_lock(&smcf->shpool->mutex);

        for (i = 0; i < NGX_CMS_SLOTS_MAX_POOLS && n < 8; i++) {
            p = &smcf->sh->pools[i];

            if (!p->used || !p->active) {
                continue;
            }

            for (j = 0; j < p->nslots && n < 8; j++) {
                slot = &p->slots[j];

                if (slot->hold.state != NGX_CMS_SLOT_IN_USE
                    || slot->hold.call.len
                    || now - ngx_max(slot->hold.since, slot->hold.extended)
                       < smcf->stuck_after)
                {
                    continue;
                }

                slot->hold.state = NGX_CMS_SLOT_STUCK;
                slot->hold.stuck = NGX_CMS_SLOTS_STUCK_NO_CALL;
                ngx_cms_slots_field_changed_locked(smcf, slot);

                ngx_cms_slots_change_fill_locked(&ch[n], "stuck", p,
                                                 p->model.start + j, slot);
                ngx_cms_slots_set_text(&ch[n].note,
                                       (u_char *) "no call", 7);
                n++;
            }
        }

        ngx_shmtx_unlock(&smcf->shpool->mutex);

        for (i = 0; i < n; i++) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "cms slots: slot \"%*s\" is stuck: checked out "
                          "by \"%*s\" for meeting \"%*s\" and no call "
                          "for %T s", ch[i].slot.len, ch[i].slot.data,
                          ch[i].hold.user.len, ch[i].hold.user.data,
                          ch[i].hold.meeting.len, ch[i].hold.meeting.data,
                          (time_t) smcf->stuck_after);

            ngx_cms_slots_emit(&ch[i], log);

            ngx_str_set(&reason, "1");
            ngx_cms_slots_redis_field(smcf, "stuck", ch[i].npool,
                                      ch[i].index, ch[i].hold.name_key,
                                      &reason);
        }

        found += n;

    } while (n == 8);

    return found;
}
