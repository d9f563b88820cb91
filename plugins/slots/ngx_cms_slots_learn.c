
/*
 * ngx_cms slots plugin: what the bridge's answers teach.
 *
 *   POST/PUT /cospaceBulkParameterSets   a pool's definition
 *   POST /cospaceBulkSyncs               a sync of a set is under way
 *   GET /cospaceBulkSyncs/<id>           ... and "complete": the pool's
 *                                        spaces were all recreated
 *   GET /coSpaces[?...]                  which space is which slot, and
 *                                        whether CMS has it free
 *   GET /coSpaces/<id>                   the same, with nonMemberAccess
 *                                        and the secret
 *
 * An answer only corrects a slot that did not change after the request
 * was sent: answers of concurrent requests arrive in any order, and an
 * old listing must not undo a newer check-out.
 */


#include "ngx_cms_slots.h"


static void ngx_cms_slots_learn_set(ngx_cms_call_t *call,
    ngx_cms_slots_main_conf_t *smcf);
static void ngx_cms_slots_learn_sync_create(ngx_cms_call_t *call,
    ngx_cms_slots_main_conf_t *smcf);
static void ngx_cms_slots_learn_sync(ngx_cms_call_t *call,
    ngx_cms_slots_main_conf_t *smcf, xmlNodePtr root);
static void ngx_cms_slots_learn_detail(ngx_cms_call_t *call,
    ngx_cms_slots_main_conf_t *smcf, xmlNodePtr root);
static ngx_uint_t ngx_cms_slots_lookalike_locked(
    ngx_cms_slots_main_conf_t *smcf, ngx_cms_slots_pool_t *pool, long index,
    ngx_cms_slots_slot_t *slot, u_char *id, size_t id_len,
    ngx_cms_slots_change_t *ch);
static xmlNodePtr ngx_cms_slots_child(xmlNodePtr node, const char *name);
static ngx_uint_t ngx_cms_slots_text(xmlNodePtr node, const char *name,
    u_char *buf, size_t size, size_t *len);
static ngx_uint_t ngx_cms_slots_attr(xmlNodePtr node, const char *name,
    u_char *buf, size_t size, size_t *len);
static ngx_uint_t ngx_cms_slots_str_is(ngx_str_t *s, const char *text);
static ngx_uint_t ngx_cms_slots_memo_hit(ngx_cms_slots_main_conf_t *smcf,
    ngx_str_t *body);
static void ngx_cms_slots_memo_keep(ngx_str_t *body, uint64_t zone,
    ngx_log_t *log);
static uint64_t ngx_cms_slots_zone_print(ngx_cms_slots_main_conf_t *smcf);


/*
 * Per worker: the last listing that taught nothing (the zone agreed with
 * every space in it already, and nothing in the zone changed while it
 * was read), with the zone's fingerprint then.  The same bytes against
 * the same zone would teach nothing again, so they are not parsed: a
 * client that polls the coSpaces costs a comparison, not a parse of the
 * whole list.  Learning is a function of the listing, the zone and, for
 * what it leaves alone, of time (a newer change, a check-out under way):
 * a listing that left anything alone is never kept.
 */

static u_char    *ngx_cms_slots_memo;
static size_t     ngx_cms_slots_memo_len;
static size_t     ngx_cms_slots_memo_size;
static uint64_t   ngx_cms_slots_memo_zone;


static uint64_t
ngx_cms_slots_asked_ms(ngx_http_request_t *r)
{
    return (uint64_t) r->start_sec * 1000 + r->start_msec;
}


void
ngx_cms_slots_learn_response(ngx_cms_call_t *call, ngx_cms_slots_req_t *sr)
{
    uint64_t                    zone;
    ngx_str_t                   body;
    xmlDocPtr                   doc;
    xmlNodePtr                  root;
    ngx_uint_t                  items, total, learned, has_body;
    ngx_http_request_t         *r;
    ngx_cms_slots_main_conf_t  *smcf;

    r = ngx_cms_call_request(call);

    smcf = ngx_http_get_module_main_conf(r, ngx_cms_slots_module);

    switch (sr->kind) {

    case NGX_CMS_SLOTS_REQ_SET:
        ngx_cms_slots_learn_set(call, smcf);
        return;

    case NGX_CMS_SLOTS_REQ_SYNC_CREATE:
        ngx_cms_slots_learn_sync_create(call, smcf);
        return;

    case NGX_CMS_SLOTS_REQ_PUT_UNKNOWN:
        return;

    default:
        break;
    }

    has_body = (ngx_cms_response_body(call, &body) == NGX_OK);

    if (has_body && ngx_cms_slots_memo_hit(smcf, &body)) {
        return;
    }

    doc = ngx_cms_response_xml(call);
    if (doc == NULL) {
        return;
    }

    root = xmlDocGetRootElement(doc);
    if (root == NULL) {
        return;
    }

    if (xmlStrcmp(root->name, (const xmlChar *) "cospaceBulkSync") == 0) {
        ngx_cms_slots_learn_sync(call, smcf, root);

    } else if (xmlStrcmp(root->name, (const xmlChar *) "coSpaces") == 0) {
        zone = ngx_cms_slots_zone_print(smcf);

        (void) ngx_cms_slots_learn_listing(smcf, doc,
                                           ngx_cms_slots_asked_ms(r), 1,
                                           r->connection->log, &items,
                                           &total, NULL, &learned);

        if (has_body
            && learned == NGX_CMS_SLOTS_LEARN_NOTHING
            && ngx_cms_slots_zone_print(smcf) == zone)
        {
            ngx_cms_slots_memo_keep(&body, zone, r->connection->log);
        }

    } else if (xmlStrcmp(root->name, (const xmlChar *) "coSpace") == 0) {
        ngx_cms_slots_learn_detail(call, smcf, root);
    }
}


/* POST or PUT /cospaceBulkParameterSets[/<id>], DELETE too */

static void
ngx_cms_slots_learn_set(ngx_cms_call_t *call, ngx_cms_slots_main_conf_t *smcf)
{
    long                   start, end;
    ngx_str_t             *id, *mapping, *method, location;
    ngx_uint_t             n, create;
    ngx_cms_param_t       *ps, *pe, *pm;
    ngx_cms_slots_pool_t  *pool;
    ngx_cms_slot_pool_t    def;

    method = ngx_cms_call_str(call, NGX_CMS_CALL_METHOD);
    create = ngx_cms_slots_str_is(method, "POST");
    id = ngx_cms_call_str(call, NGX_CMS_CALL_OBJECT_ID);

    if (create) {
        if (ngx_cms_slots_location_id(call, &location) != NGX_OK) {
            return;
        }

        id = &location;
    }

    if (id->len == 0 || id->len > NGX_CMS_SLOTS_ID_LEN) {
        return;
    }

    ps = ngx_cms_param_get(call, "startIndex");
    pe = ngx_cms_param_get(call, "endIndex");
    pm = ngx_cms_param_get(call, "coSpaceNameMapping");

    ngx_shmtx_lock(&smcf->shpool->mutex);

    pool = ngx_cms_slots_pool_by_id_locked(smcf, id->data, id->len, &n);

    if (ngx_cms_slots_str_is(method, "DELETE")) {
        if (pool) {
            /* its spaces stay until a sync removes them */
            pool->defined = 0;
        }

        goto done;
    }

    if (pool == NULL || !pool->defined) {
        if (ps == NULL || pe == NULL || pm == NULL) {
            /* a set we never saw whole: reconciliation will tell */
            goto done;
        }

        ngx_memzero(&def, sizeof(ngx_cms_slot_pool_t));

    } else {
        def = pool->def;
    }

    start = ps ? ngx_cms_slot_parse_index(ps->value.data, ps->value.len)
               : def.start;
    end = pe ? ngx_cms_slot_parse_index(pe->value.data, pe->value.len)
             : def.end;

    if (pm) {
        mapping = &pm->value;

        if (ngx_cms_slot_pool_parse(mapping->data, mapping->len, start, end,
                                    &def)
            != 0)
        {
            /* not a slot pool: every space gets the same name */
            if (pool) {
                pool->defined = 0;
            }

            goto done;
        }

    } else {
        def.start = start;
        def.end = end;

        if (start < 0 || end < start
            || end - start >= NGX_CMS_SLOT_RANGE_MAX)
        {
            if (pool) {
                pool->defined = 0;
            }

            goto done;
        }
    }

    if (pool == NULL) {
        pool = ngx_cms_slots_pool_new_locked(smcf, id->data, id->len, &n);
        if (pool == NULL) {
            ngx_shmtx_unlock(&smcf->shpool->mutex);
            ngx_log_error(NGX_LOG_ERR,
                          ngx_cms_call_request(call)->connection->log, 0,
                          "cms slots: no room for pool \"%V\" (at most %d)",
                          id, NGX_CMS_SLOTS_MAX_POOLS);
            return;
        }
    }

    pool->def = def;
    pool->defined = 1;

done:

    ngx_shmtx_unlock(&smcf->shpool->mutex);
}


/* POST /cospaceBulkSyncs: remember it, its completion recreates spaces */

static void
ngx_cms_slots_learn_sync_create(ngx_cms_call_t *call,
    ngx_cms_slots_main_conf_t *smcf)
{
    ngx_str_t              id;
    ngx_cms_param_t       *set, *remove;
    ngx_cms_slots_sync_t  *sync;

    set = ngx_cms_param_get(call, "cospaceBulkParameterSet");
    remove = ngx_cms_param_get(call, "removeAll");

    if (set == NULL || ngx_cms_slots_location_id(call, &id) != NGX_OK) {
        return;
    }

    ngx_shmtx_lock(&smcf->shpool->mutex);

    sync = &smcf->sh->syncs[smcf->sh->next_sync++ % NGX_CMS_SLOTS_MAX_SYNCS];

    sync->used = 1;
    ngx_cms_slots_set_id(&sync->id, id.data, id.len);
    ngx_cms_slots_set_id(&sync->set, set->value.data, set->value.len);
    sync->remove_all = (remove && ngx_cms_slots_str_is(&remove->value,
                                                       "true"));

    ngx_shmtx_unlock(&smcf->shpool->mutex);
}


/*
 * GET /cospaceBulkSyncs/<id> says "complete": the set's spaces were all
 * removed and made anew, with new ids and the placeholder names.  Each
 * sync is applied once: TMS may look at it again later, when meetings
 * run in the new spaces.
 */

static void
ngx_cms_slots_learn_sync(ngx_cms_call_t *call, ngx_cms_slots_main_conf_t *smcf,
    xmlNodePtr root)
{
    u_char                   id[NGX_CMS_SLOTS_ID_LEN];
    u_char                   status[32];
    size_t                   id_len, status_len;
    ngx_log_t               *log;
    ngx_uint_t               i, n, applied;
    ngx_cms_slots_pool_t    *pool, *other;
    ngx_cms_slots_sync_t    *sync;
    ngx_cms_slots_change_t   ch;

    log = ngx_cms_call_request(call)->connection->log;

    if (!ngx_cms_slots_attr(root, "id", id, sizeof(id), &id_len)
        || !ngx_cms_slots_text(root, "status", status, sizeof(status),
                               &status_len))
    {
        return;
    }

    if (status_len != 8 || ngx_strncmp(status, "complete", 8) != 0) {
        return;
    }

    applied = 0;
    pool = NULL;
    n = 0;

    ngx_shmtx_lock(&smcf->shpool->mutex);

    for (i = 0; i < NGX_CMS_SLOTS_MAX_SYNCS; i++) {
        sync = &smcf->sh->syncs[i];

        if (sync->used && sync->id.len == id_len
            && ngx_strncmp(sync->id.data, id, id_len) == 0)
        {
            break;
        }
    }

    if (i == NGX_CMS_SLOTS_MAX_SYNCS) {
        /* not one we saw created, or applied already */
        goto done;
    }

    sync->used = 0;

    pool = ngx_cms_slots_pool_by_id_locked(smcf, sync->set.data,
                                           sync->set.len, &n);
    if (pool == NULL) {
        goto done;
    }

    if (sync->remove_all || !pool->defined) {
        ngx_cms_slots_pool_remove_locked(smcf, pool);
        applied = 2;
        goto done;
    }

    /* a configured pool naming the same spaces is this one now */

    for (i = 0; i < NGX_CMS_SLOTS_MAX_POOLS; i++) {
        other = &smcf->sh->pools[i];

        if (other != pool && other->used && other->configured
            && ngx_cms_slot_pool_same(&other->model, &pool->def))
        {
            ngx_cms_slots_pool_remove_locked(smcf, other);
            other->used = 0;
        }
    }

    if (ngx_cms_slots_pool_activate_locked(smcf, pool, &pool->def)
        == NGX_OK)
    {
        applied = 1;
    }

done:

    if (applied) {
        ngx_cms_slots_change_fill_locked(&ch, applied == 1 ? "pool_synced"
                                                            : "pool_removed",
                                         pool, -1, NULL);
        ch.note.len = ngx_snprintf(ch.note.data, NGX_CMS_SLOTS_TEXT_LEN,
                                   "%ui slots, generation %ui",
                                   pool->nslots, pool->generation)
                      - ch.note.data;
    }

    ngx_shmtx_unlock(&smcf->shpool->mutex);

    if (applied) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "cms slots: pool \"%*s\": %*s", ch.pool.len,
                      ch.pool.data, ch.note.len, ch.note.data);
        ngx_cms_slots_emit(&ch, log);
        ngx_cms_slots_redis_publish_pool(smcf, n);
    }
}


/* GET /coSpaces/<id> */

static void
ngx_cms_slots_learn_detail(ngx_cms_call_t *call,
    ngx_cms_slots_main_conf_t *smcf, xmlNodePtr root)
{
    u_char               id[NGX_CMS_SLOTS_ID_LEN];
    u_char               name[NGX_CMS_SLOTS_TEXT_LEN * 2];
    u_char               nma[8], secret[NGX_CMS_SLOTS_TEXT_LEN];
    size_t               id_len, name_len, nma_len, secret_len;
    ngx_http_request_t  *r;

    r = ngx_cms_call_request(call);

    if (!ngx_cms_slots_attr(root, "id", id, sizeof(id), &id_len)
        || !ngx_cms_slots_text(root, "name", name, sizeof(name), &name_len))
    {
        return;
    }

    if (!ngx_cms_slots_text(root, "nonMemberAccess", nma, sizeof(nma),
                            &nma_len))
    {
        nma_len = 0;
    }

    if (!ngx_cms_slots_text(root, "secret", secret, sizeof(secret),
                            &secret_len))
    {
        secret_len = 0;
    }

    ngx_cms_slots_learn_space(smcf, id, id_len, name, name_len,
                              nma_len ? nma : NULL, nma_len,
                              secret_len ? secret : NULL, secret_len,
                              ngx_cms_slots_asked_ms(r),
                              "detail", r->connection->log);
}


/*
 * A listing: maps spaces to slots and, when "correct", lets CMS's names
 * correct the slots' states.  "seen" (of ngx_cms_slots_id_t), when
 * given, receives the ids of the slot spaces listed.
 */

ngx_uint_t
ngx_cms_slots_learn_listing(ngx_cms_slots_main_conf_t *smcf, xmlDocPtr doc,
    uint64_t asked_ms, ngx_uint_t correct, ngx_log_t *log, ngx_uint_t *items,
    ngx_uint_t *total, ngx_array_t *seen, ngx_uint_t *learned)
{
    ngx_uint_t           rc;
    u_char               id[NGX_CMS_SLOTS_ID_LEN];
    u_char               name[NGX_CMS_SLOTS_TEXT_LEN * 2];
    size_t               id_len, name_len;
    xmlChar             *t;
    xmlNodePtr           root, node;
    ngx_cms_slots_id_t  *s;

    *items = 0;
    *total = 0;

    if (learned) {
        *learned = NGX_CMS_SLOTS_LEARN_NOTHING;
    }

    root = xmlDocGetRootElement(doc);

    if (root == NULL
        || xmlStrcmp(root->name, (const xmlChar *) "coSpaces") != 0)
    {
        return 0;
    }

    t = xmlGetProp(root, (const xmlChar *) "total");
    if (t) {
        *total = (ngx_uint_t) ngx_atoi(t, ngx_strlen(t));
        if (*total == (ngx_uint_t) NGX_ERROR) {
            *total = 0;
        }

        xmlFree(t);
    }

    for (node = root->children; node; node = node->next) {

        if (node->type != XML_ELEMENT_NODE
            || xmlStrcmp(node->name, (const xmlChar *) "coSpace") != 0)
        {
            continue;
        }

        (*items)++;

        if (!ngx_cms_slots_attr(node, "id", id, sizeof(id), &id_len)
            || !ngx_cms_slots_text(node, "name", name, sizeof(name),
                                   &name_len))
        {
            continue;
        }

        if (seen) {
            s = ngx_array_push(seen);
            if (s) {
                ngx_cms_slots_set_id(s, id, id_len);
            }
        }

        if (correct) {
            /* a listing passing through only maps spaces when Redis
             * shares the table; reconciliation's (with seen) corrects */
            rc = ngx_cms_slots_learn_space(smcf, id, id_len, name, name_len,
                                           NULL, 0, NULL, 0, asked_ms,
                                           seen ? "reconciliation"
                                                : "listing", log);

            if (learned && rc > *learned) {
                *learned = rc;
            }
        }
    }

    return 1;
}


/*
 * One space as CMS describes it.  A placeholder name means the slot is
 * free, any other name that a meeting holds it; nonMemberAccess, when
 * known, must agree (an open space with the placeholder name is not a
 * meeting, a closed one with a meeting's name not a free slot).
 */

ngx_uint_t
ngx_cms_slots_learn_space(ngx_cms_slots_main_conf_t *smcf, u_char *id,
    size_t id_len, u_char *name, size_t name_len, u_char *nma,
    size_t nma_len, u_char *secret, size_t secret_len, uint64_t asked_ms,
    const char *how, ngx_log_t *log)
{
    long                     index, named;
    uint64_t                 now_ms, name_key;
    ngx_uint_t               i, n, change, placeholder, mapped, lookalike,
                             deferred;
    ngx_cms_slots_pool_t    *pool;
    ngx_cms_slots_slot_t    *slot;
    ngx_cms_slots_change_t   ch;

    change = 0;
    deferred = 0;
    mapped = 0;
    lookalike = 0;
    placeholder = 0;
    now_ms = ngx_cms_slots_now_ms();

    ngx_shmtx_lock(&smcf->shpool->mutex);

    slot = ngx_cms_slots_by_space_locked(smcf, id, id_len, &n, &index);

    if (slot == NULL) {
        /* not known yet: a placeholder name says which slot it is */

        for (i = 0; i < NGX_CMS_SLOTS_MAX_POOLS; i++) {
            pool = &smcf->sh->pools[i];

            if (!pool->used || !pool->active) {
                continue;
            }

            index = ngx_cms_slot_index(&pool->model, name, name_len);
            if (index < 0) {
                continue;
            }

            /*
             * A slot's space is the one learned first after the sync
             * made the pool (or the configured pool's): a space made
             * later with the same name is a look-alike, reported, never
             * adopted (it would free the real slot for a double
             * booking).  Only a new sync, or the space being gone from
             * CMS, gives the slot another space.
             */

            slot = &pool->slots[index - pool->model.start];

            if (slot->space.len) {
                lookalike = ngx_cms_slots_lookalike_locked(smcf, pool,
                                                           index, slot, id,
                                                           id_len, &ch);
                slot = NULL;
                break;
            }

            ngx_cms_slots_map_locked(smcf, pool, index, id, id_len);

            slot = ngx_cms_slots_by_space_locked(smcf, id, id_len, &n,
                                                 &index);
            mapped = (slot != NULL);
            break;
        }

        if (slot == NULL) {
            ngx_shmtx_unlock(&smcf->shpool->mutex);

            if (lookalike) {
                ngx_log_error(NGX_LOG_WARN, log, 0,
                              "cms slots: space %*s is named like slot "
                              "\"%*s\", which is space %*s: not adopted "
                              "(seen in a %s)", id_len, id,
                              ch.slot.len, ch.slot.data, ch.space.len,
                              ch.space.data, how);

                ngx_cms_slots_emit(&ch, log);
            }

            return lookalike ? NGX_CMS_SLOTS_LEARN_CHANGED
                             : NGX_CMS_SLOTS_LEARN_NOTHING;
        }
    }

    pool = &smcf->sh->pools[n];

    named = ngx_cms_slot_index(&pool->model, name, name_len);
    placeholder = (named >= 0);

    if (smcf->redis && how[0] != 'r') {
        /*
         * With Redis, an answer passing through may be older than a
         * change another instance made and this one has not heard of
         * yet: it maps spaces, only reconciliation corrects states.
         */
        goto done;
    }

    if (nma && !placeholder && nma_len == 5
        && ngx_strncmp(nma, "false", 5) == 0)
    {
        /* a meeting's name on a closed space: neither; leave it */
        goto done;
    }

    if (slot->changed_ms >= asked_ms
        || (slot->res_token && slot->res_until_ms > now_ms))
    {
        /* the proxy changed it after this answer was asked for */
        deferred = 1;
        goto done;
    }

    if (placeholder) {
        if (slot->hold.state == NGX_CMS_SLOT_FREE) {
            goto done;
        }

        ngx_cms_slots_change_fill_locked(&ch, "corrected", pool, index,
                                         slot);
        ngx_memzero(&slot->hold, sizeof(ngx_cms_slots_hold_t));
        ch.hold.state = NGX_CMS_SLOT_FREE;
        change = 1;

    } else {
        name_key = ngx_cms_slot_name_key(name, name_len);

        if (slot->hold.state != NGX_CMS_SLOT_FREE
            && slot->hold.name_key == name_key)
        {
            if (secret && slot->hold.key == 0) {
                slot->hold.key = ngx_cms_slot_meeting_key(name, name_len,
                                                          secret,
                                                          secret_len);
            }

            goto done;
        }

        if (slot->hold.state == NGX_CMS_SLOT_FREE) {
            slot->hold.since = ngx_time();
            slot->hold.extended = slot->hold.since;
            slot->hold.user.len = 0;
            slot->hold.call.len = 0;
        }

        slot->hold.state = (slot->hold.state == NGX_CMS_SLOT_STUCK)
                           ? NGX_CMS_SLOT_STUCK : NGX_CMS_SLOT_IN_USE;
        slot->hold.name_key = name_key;
        slot->hold.key = secret ? ngx_cms_slot_meeting_key(name, name_len,
                                                           secret,
                                                           secret_len)
                                : 0;
        ngx_cms_slots_set_text(&slot->hold.meeting, name, name_len);

        ngx_cms_slots_change_fill_locked(&ch, "corrected", pool, index,
                                         slot);
        change = 1;
    }

    /* versioned as of the question: a change another instance made
     * after it (not heard of yet) stays newer */
    ngx_cms_slots_touch_locked(slot, asked_ms);
    smcf->sh->corrections++;

done:

    ngx_shmtx_unlock(&smcf->shpool->mutex);

    if (!change) {
        if (mapped) {
            /* the other instances learn the space from Redis */
            ngx_cms_slots_redis_publish_map(smcf, n, index);
            return NGX_CMS_SLOTS_LEARN_CHANGED;
        }

        return deferred ? NGX_CMS_SLOTS_LEARN_DEFERRED
                        : NGX_CMS_SLOTS_LEARN_NOTHING;
    }

    ch.note.len = ngx_snprintf(ch.note.data, NGX_CMS_SLOTS_TEXT_LEN,
                               "CMS %s says %s", how,
                               placeholder ? "free" : "in use")
                  - ch.note.data;

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "cms slots: slot \"%*s\" corrected from the bridge's %s: "
                  "%s%s%*s", ch.slot.len, ch.slot.data, how,
                  placeholder ? "free" : "in use",
                  placeholder ? "" : " by meeting ",
                  placeholder ? (size_t) 0 : name_len, name);

    ngx_cms_slots_emit(&ch, log);
    ngx_cms_slots_redis_publish(smcf, n, index);

    return NGX_CMS_SLOTS_LEARN_CHANGED;
}


/*
 * A look-alike of the slot at index: counted and described in ch (the
 * note names the look-alike) once per space, for the caller to log and
 * emit after the lock is released.  Returns whether it is new.
 */

static ngx_uint_t
ngx_cms_slots_lookalike_locked(ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_slots_pool_t *pool, long index, ngx_cms_slots_slot_t *slot,
    u_char *id, size_t id_len, ngx_cms_slots_change_t *ch)
{
    if (slot->lookalike.len == id_len
        && ngx_strncmp(slot->lookalike.data, id, id_len) == 0)
    {
        return 0;
    }

    ngx_cms_slots_set_id(&slot->lookalike, id, id_len);
    smcf->sh->lookalikes++;

    ngx_cms_slots_change_fill_locked(ch, "lookalike", pool, index, slot);

    ch->note.len = ngx_snprintf(ch->note.data, NGX_CMS_SLOTS_TEXT_LEN,
                                "space %*s has its name, not adopted",
                                id_len, id)
                   - ch->note.data;

    return 1;
}


/* the listing memo (above ngx_cms_slots_learn_response) */

static ngx_uint_t
ngx_cms_slots_memo_hit(ngx_cms_slots_main_conf_t *smcf, ngx_str_t *body)
{
    if (ngx_cms_slots_memo_len == 0
        || body->len != ngx_cms_slots_memo_len
        || ngx_memcmp(body->data, ngx_cms_slots_memo, body->len) != 0)
    {
        return 0;
    }

    return ngx_cms_slots_zone_print(smcf) == ngx_cms_slots_memo_zone;
}


static void
ngx_cms_slots_memo_keep(ngx_str_t *body, uint64_t zone, ngx_log_t *log)
{
    u_char  *p;

    if (body->len == 0) {
        return;
    }

    if (body->len > ngx_cms_slots_memo_size) {
        p = ngx_alloc(body->len, log);
        if (p == NULL) {
            return;
        }

        if (ngx_cms_slots_memo) {
            ngx_free(ngx_cms_slots_memo);
        }

        ngx_cms_slots_memo = p;
        ngx_cms_slots_memo_size = body->len;
    }

    ngx_memcpy(ngx_cms_slots_memo, body->data, body->len);
    ngx_cms_slots_memo_len = body->len;
    ngx_cms_slots_memo_zone = zone;
}


void
ngx_cms_slots_memo_free(void)
{
    if (ngx_cms_slots_memo) {
        ngx_free(ngx_cms_slots_memo);
        ngx_cms_slots_memo = NULL;
    }

    ngx_cms_slots_memo_len = 0;
    ngx_cms_slots_memo_size = 0;
}


/*
 * A fingerprint of everything learning a listing reads in the zone: the
 * pools (which, active, their generation and slots), every slot's state,
 * meeting name, last change and check-out under way, and the count of
 * spaces mapped and unmapped.  Every change of a slot's state sets its
 * changed_ms; a 64-bit mix of all of it, read under the zone's lock.
 */

#define ngx_cms_slots_mix(h, v)                                               \
    h = ((h) ^ (uint64_t) (v)) * 0x100000001b3ULL,                            \
    h ^= h >> 29

static uint64_t
ngx_cms_slots_zone_print(ngx_cms_slots_main_conf_t *smcf)
{
    uint64_t               h;
    ngx_uint_t             i, k;
    ngx_cms_slots_pool_t  *pool;
    ngx_cms_slots_slot_t  *slot;

    h = 0xcbf29ce484222325ULL;

    ngx_shmtx_lock(&smcf->shpool->mutex);

    ngx_cms_slots_mix(h, smcf->sh->spaces_version);

    for (i = 0; i < NGX_CMS_SLOTS_MAX_POOLS; i++) {
        pool = &smcf->sh->pools[i];

        if (!pool->used) {
            continue;
        }

        ngx_cms_slots_mix(h, i);
        ngx_cms_slots_mix(h, pool->active);
        ngx_cms_slots_mix(h, pool->generation);
        ngx_cms_slots_mix(h, pool->nslots);
        ngx_cms_slots_mix(h, (uintptr_t) pool->slots);

        if (pool->slots == NULL) {
            continue;
        }

        /* a slot's fields folded by odd multipliers, then one mix */

        for (k = 0; k < pool->nslots; k++) {
            slot = &pool->slots[k];

            h = (h ^ (slot->changed_ms
                      ^ slot->hold.name_key * 0x9e3779b97f4a7c15ULL
                      ^ slot->res_token * 0xc2b2ae3d27d4eb4fULL
                      ^ slot->res_until_ms * 0x165667b19e3779f9ULL
                      ^ (uint64_t) slot->hold.state << 59))
                * 0x100000001b3ULL;
        }

        ngx_cms_slots_mix(h, k);
    }

    ngx_shmtx_unlock(&smcf->shpool->mutex);

    return h;
}


/* tiny libxml2 helpers: copies into the caller's buffer */

static xmlNodePtr
ngx_cms_slots_child(xmlNodePtr node, const char *name)
{
    xmlNodePtr  c;

    for (c = node->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE
            && xmlStrcmp(c->name, (const xmlChar *) name) == 0)
        {
            return c;
        }
    }

    return NULL;
}


static ngx_uint_t
ngx_cms_slots_text(xmlNodePtr node, const char *name, u_char *buf,
    size_t size, size_t *len)
{
    size_t      n;
    xmlChar    *t;
    xmlNodePtr  c;

    c = ngx_cms_slots_child(node, name);
    if (c == NULL) {
        return 0;
    }

    t = xmlNodeGetContent(c);
    if (t == NULL) {
        return 0;
    }

    n = ngx_strlen(t);

    if (n > size) {
        xmlFree(t);
        return 0;
    }

    ngx_memcpy(buf, t, n);
    *len = n;

    xmlFree(t);

    return 1;
}


static ngx_uint_t
ngx_cms_slots_attr(xmlNodePtr node, const char *name, u_char *buf,
    size_t size, size_t *len)
{
    size_t    n;
    xmlChar  *t;

    t = xmlGetProp(node, (const xmlChar *) name);
    if (t == NULL) {
        return 0;
    }

    n = ngx_strlen(t);

    if (n == 0 || n > size) {
        xmlFree(t);
        return 0;
    }

    ngx_memcpy(buf, t, n);
    *len = n;

    xmlFree(t);

    return 1;
}


static ngx_uint_t
ngx_cms_slots_str_is(ngx_str_t *s, const char *text)
{
    size_t  len;

    len = ngx_strlen(text);

    return s->len == len && ngx_strncmp(s->data, text, len) == 0;
}
