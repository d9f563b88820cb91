
/*
 * ngx_cms slots plugin: the proxy's own requests to the bridge, through
 * the core's internal client (ngx_cms_client.h).
 *
 * Reconciliation: CMS is the ground truth.  For every active pool, the
 * spaces named like it are listed page by page (GET /coSpaces?filter=
 * <prefix>&offset=<n>&limit=<n>): their placeholder names say "free".
 * Known slot spaces the listing did not show (a meeting's name does not
 * match the filter) are then read one by one (GET /coSpaces/<id>): a
 * meeting's name says "in use", 404 says the space is gone.  Every
 * difference is corrected, logged and audited; with Redis the whole
 * table is then written there, which is how a flushed Redis is rebuilt.
 *
 * Force release: the end-of-meeting PUT TMS would have sent (placeholder
 * name, nonMemberAccess=false, regenerateSecret=true), sent by the
 * proxy itself, then the slot is free.
 *
 * The bridge: the active one of the cms_slot_upstream cluster
 * (include/ngx_cms_bridge.h), with its credentials.
 */


#include "ngx_cms_slots.h"

#include <ngx_cms_bridge.h>
#include <ngx_cms_xml.h>

#include <libxml/parser.h>


#define NGX_CMS_SLOTS_MAX_RESPONSE  (512 * 1024)
#define NGX_CMS_SLOTS_MAX_PAGES     200


typedef struct {
    ngx_cms_slots_main_conf_t  *smcf;
    ngx_pool_t                 *pool;
    ngx_log_t                  *log;
    ngx_cms_slots_done_pt       done;
    void                       *data;
    ngx_cms_client_target_t     target;

    /* reconciliation */
    ngx_uint_t                  npools;
    ngx_uint_t                  pools[NGX_CMS_SLOTS_MAX_POOLS];
    ngx_uint_t                  generations[NGX_CMS_SLOTS_MAX_POOLS];
    ngx_uint_t                  current;
    ngx_uint_t                  offset;
    ngx_uint_t                  pages;
    ngx_array_t                *seen;       /* of ngx_cms_slots_id_t */
    ngx_array_t                *unseen;     /* of ngx_cms_slots_id_t */
    ngx_uint_t                  next_unseen;
    ngx_uint_t                  corrections;
    uint64_t                    asked_ms;

    /* release */
    ngx_uint_t                  npool;
    long                        index;
    ngx_uint_t                  generation;
    ngx_cms_slots_id_t          space;
    ngx_cms_slots_user_t        by;
} ngx_cms_slots_job_t;


static ngx_int_t ngx_cms_slots_target(ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_client_target_t *target, ngx_log_t *log);
static ngx_cms_slots_job_t *ngx_cms_slots_job(ngx_cms_slots_main_conf_t *smcf,
    ngx_log_t *log, ngx_cms_slots_done_pt done, void *data);
static void ngx_cms_slots_job_end(ngx_cms_slots_job_t *job, ngx_int_t rc,
    const char *fmt, ...);
static ngx_int_t ngx_cms_slots_get(ngx_cms_slots_job_t *job, ngx_str_t *path,
    ngx_cms_client_handler_pt handler);
static void ngx_cms_slots_rec_next(ngx_cms_slots_job_t *job);
static void ngx_cms_slots_rec_page(ngx_cms_client_t *cc);
static void ngx_cms_slots_rec_unseen(ngx_cms_slots_job_t *job);
static void ngx_cms_slots_rec_detail(ngx_cms_client_t *cc);
static void ngx_cms_slots_rec_finish(ngx_cms_slots_job_t *job);
static void ngx_cms_slots_release_done(ngx_cms_client_t *cc);
static size_t ngx_cms_slots_urlencode(u_char *dst, u_char *src, size_t len);


ngx_uint_t
ngx_cms_slots_bridge_available(ngx_cms_slots_main_conf_t *smcf)
{
    ngx_cms_client_target_t  target;

    return ngx_cms_slots_target(smcf, &target, smcf->log) == NGX_OK;
}


static ngx_int_t
ngx_cms_slots_target(ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_client_target_t *target, ngx_log_t *log)
{
    ngx_cms_bridge_target_t  bt;

    if (ngx_cms_bridge_targets(&smcf->cluster, NGX_CMS_BRIDGE_ACTIVE, &bt, 1,
                               smcf->bridge_timeout,
                               NGX_CMS_SLOTS_MAX_RESPONSE, log)
        == 0)
    {
        return NGX_DECLINED;
    }

    *target = bt.target;

    return NGX_OK;
}


static ngx_cms_slots_job_t *
ngx_cms_slots_job(ngx_cms_slots_main_conf_t *smcf, ngx_log_t *log,
    ngx_cms_slots_done_pt done, void *data)
{
    ngx_pool_t           *pool;
    ngx_cms_slots_job_t  *job;

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return NULL;
    }

    job = ngx_pcalloc(pool, sizeof(ngx_cms_slots_job_t));
    if (job == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    job->pool = pool;
    job->smcf = smcf;
    job->log = log;
    job->done = done;
    job->data = data;

    if (ngx_cms_slots_target(smcf, &job->target, log) != NGX_OK) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    return job;
}


static void
ngx_cms_slots_job_end(ngx_cms_slots_job_t *job, ngx_int_t rc,
    const char *fmt, ...)
{
    u_char     buf[NGX_CMS_SLOTS_TEXT_LEN * 2];
    va_list    args;
    ngx_str_t  msg;

    va_start(args, fmt);
    msg.len = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args) - buf;
    va_end(args);
    msg.data = buf;

    if (job->done) {
        job->done(job->data, rc, &msg);
    }

    ngx_destroy_pool(job->pool);
}


static ngx_int_t
ngx_cms_slots_get(ngx_cms_slots_job_t *job, ngx_str_t *path,
    ngx_cms_client_handler_pt handler)
{
    ngx_str_t  method;

    ngx_str_set(&method, "GET");

    job->asked_ms = ngx_cms_slots_now_ms();

    if (ngx_cms_client_request(&job->target, &method, path, NULL, handler,
                               job)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* reconciliation */

ngx_int_t
ngx_cms_slots_reconcile(ngx_cms_slots_main_conf_t *smcf, ngx_log_t *log,
    ngx_str_t *why, ngx_cms_slots_done_pt done, void *data)
{
    ngx_uint_t              i, busy;
    ngx_cms_slots_job_t    *job;
    ngx_cms_slots_pool_t   *pool;

    busy = 0;

    ngx_shmtx_lock(&smcf->shpool->mutex);

    for (i = 0; i < NGX_CMS_SLOTS_MAX_POOLS; i++) {
        if (smcf->sh->pools[i].used && smcf->sh->pools[i].active) {
            break;
        }
    }

    if (i == NGX_CMS_SLOTS_MAX_POOLS && done == NULL) {
        /* no pool yet: nothing to ask CMS about */
        smcf->sh->reconcile_wanted = 0;
        ngx_shmtx_unlock(&smcf->shpool->mutex);
        return NGX_DECLINED;
    }

    /* one at a time per instance; a reconciler that died is replaced */

    if (smcf->sh->reconciling && smcf->sh->reconciler != ngx_pid
        && kill(smcf->sh->reconciler, 0) == 0
        && ngx_time() - smcf->sh->reconcile_started < 60)
    {
        busy = 1;

    } else if (smcf->sh->reconciling && smcf->sh->reconciler == ngx_pid) {
        busy = 1;

    } else {
        smcf->sh->reconciling = 1;
        smcf->sh->reconciler = ngx_pid;
        smcf->sh->reconcile_started = ngx_time();
        smcf->sh->reconcile_wanted = 0;
    }

    ngx_shmtx_unlock(&smcf->shpool->mutex);

    if (busy) {
        return NGX_BUSY;
    }

    job = ngx_cms_slots_job(smcf, log, done, data);
    if (job == NULL) {
        ngx_shmtx_lock(&smcf->shpool->mutex);
        smcf->sh->reconciling = 0;
        ngx_cms_slots_set_text(&smcf->sh->reconcile_error,
                               (u_char *) "no bridge to ask", 16);
        ngx_shmtx_unlock(&smcf->shpool->mutex);
        return NGX_DECLINED;
    }

    job->seen = ngx_array_create(job->pool, 16, sizeof(ngx_cms_slots_id_t));
    job->unseen = ngx_array_create(job->pool, 8, sizeof(ngx_cms_slots_id_t));

    if (job->seen == NULL || job->unseen == NULL) {
        ngx_destroy_pool(job->pool);
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&smcf->shpool->mutex);

    for (i = 0; i < NGX_CMS_SLOTS_MAX_POOLS; i++) {
        pool = &smcf->sh->pools[i];

        if (pool->used && pool->active) {
            job->pools[job->npools] = i;
            job->generations[job->npools] = pool->generation;
            job->npools++;
        }
    }

    job->corrections = smcf->sh->corrections;

    ngx_shmtx_unlock(&smcf->shpool->mutex);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "cms slots: reconciling %ui pools with the bridge %V (%V)",
                  job->npools, &job->target.host, why);

    job->current = 0;
    job->offset = 0;

    ngx_cms_slots_rec_next(job);

    return NGX_OK;
}


/* the next page of the current pool's listing */

static void
ngx_cms_slots_rec_next(ngx_cms_slots_job_t *job)
{
    u_char                     *p;
    size_t                      len;
    ngx_str_t                   path;
    ngx_cms_slot_pool_t         model;
    ngx_cms_slots_pool_t       *pool;
    ngx_cms_slots_main_conf_t  *smcf;

    smcf = job->smcf;

    if (job->current == job->npools) {
        ngx_cms_slots_rec_unseen(job);
        return;
    }

    ngx_shmtx_lock(&smcf->shpool->mutex);
    pool = &smcf->sh->pools[job->pools[job->current]];
    model = pool->model;
    ngx_shmtx_unlock(&smcf->shpool->mutex);

    len = sizeof("/api/v1/coSpaces?filter=&offset=&limit=")
          + 3 * NGX_CMS_SLOT_AFFIX_MAX + 2 * NGX_INT_T_LEN;

    p = ngx_pnalloc(job->pool, len);
    if (p == NULL) {
        ngx_cms_slots_rec_finish(job);
        return;
    }

    path.data = p;
    p = ngx_cpymem(p, "/api/v1/coSpaces?", 17);

    /* CMS filters by substring: the longer affix narrows it most */

    if (model.prefix_len || model.suffix_len) {
        p = ngx_cpymem(p, "filter=", 7);

        if (model.prefix_len >= model.suffix_len) {
            p += ngx_cms_slots_urlencode(p, model.prefix, model.prefix_len);
        } else {
            p += ngx_cms_slots_urlencode(p, model.suffix, model.suffix_len);
        }

        *p++ = '&';
    }

    p = ngx_sprintf(p, "offset=%ui&limit=%ui", job->offset, smcf->page_limit);
    path.len = p - path.data;

    if (ngx_cms_slots_get(job, &path, ngx_cms_slots_rec_page) != NGX_OK) {
        ngx_cms_slots_rec_finish(job);
    }
}


static void
ngx_cms_slots_rec_page(ngx_cms_client_t *cc)
{
    ngx_cms_slots_job_t  *job = cc->data;

    xmlDocPtr             doc;
    ngx_uint_t            items, total;

    if (cc->rc != NGX_OK || cc->status != NGX_HTTP_OK) {
        ngx_shmtx_lock(&job->smcf->shpool->mutex);
        job->smcf->sh->reconcile_error.len =
            ngx_snprintf(job->smcf->sh->reconcile_error.data,
                         NGX_CMS_SLOTS_TEXT_LEN, "listing: %s%V status %ui",
                         cc->rc == NGX_OK ? "" : "no answer, ", &cc->error,
                         cc->status)
            - job->smcf->sh->reconcile_error.data;
        job->smcf->sh->reconciling = 0;
        ngx_shmtx_unlock(&job->smcf->shpool->mutex);

        ngx_log_error(NGX_LOG_ERR, job->log, 0,
                      "cms slots: reconciliation failed: bridge %V answered "
                      "the listing with %ui%s%V", &job->target.host,
                      cc->status, cc->rc == NGX_OK ? "" : ", ", &cc->error);

        ngx_cms_slots_job_end(job, NGX_ERROR, "listing failed: status %ui %V",
                              cc->status, &cc->error);
        return;
    }

    doc = ngx_cms_xml_read(cc->body.data, cc->body.len, NULL, NULL);
    if (doc == NULL) {
        ngx_shmtx_lock(&job->smcf->shpool->mutex);
        ngx_cms_slots_set_text(&job->smcf->sh->reconcile_error,
                               (u_char *) "listing: not XML", 16);
        job->smcf->sh->reconciling = 0;
        ngx_shmtx_unlock(&job->smcf->shpool->mutex);

        ngx_log_error(NGX_LOG_ERR, job->log, 0,
                      "cms slots: reconciliation failed: bridge %V answered "
                      "the listing with a body that is not XML",
                      &job->target.host);

        /* last: it frees the job */
        ngx_cms_slots_job_end(job, NGX_ERROR, "listing not XML");
        return;
    }

    (void) ngx_cms_slots_learn_listing(job->smcf, doc, job->asked_ms, 1,
                                       job->log, &items, &total, job->seen,
                                       NULL);
    xmlFreeDoc(doc);

    job->offset += items;
    job->pages++;

    if (items == 0 || job->offset >= total
        || job->pages >= NGX_CMS_SLOTS_MAX_PAGES)
    {
        job->current++;
        job->offset = 0;
    }

    ngx_cms_slots_rec_next(job);
}


/* the known slot spaces the listings did not show */

static void
ngx_cms_slots_rec_unseen(ngx_cms_slots_job_t *job)
{
    u_char                     *p;
    ngx_str_t                   path;
    ngx_uint_t                  i, j, k;
    ngx_cms_slots_id_t         *seen, *id;
    ngx_cms_slots_pool_t       *pool;
    ngx_cms_slots_slot_t       *slot;
    ngx_cms_slots_main_conf_t  *smcf;

    smcf = job->smcf;

    if (job->next_unseen == 0 && job->unseen->nelts == 0) {

        seen = job->seen->elts;

        ngx_shmtx_lock(&smcf->shpool->mutex);

        for (i = 0; i < job->npools; i++) {
            pool = &smcf->sh->pools[job->pools[i]];

            if (!pool->used || !pool->active
                || pool->generation != job->generations[i])
            {
                continue;
            }

            for (j = 0; j < pool->nslots; j++) {
                slot = &pool->slots[j];

                if (slot->space.len == 0) {
                    continue;
                }

                for (k = 0; k < job->seen->nelts; k++) {
                    if (seen[k].len == slot->space.len
                        && ngx_strncmp(seen[k].data, slot->space.data,
                                       slot->space.len) == 0)
                    {
                        break;
                    }
                }

                if (k < job->seen->nelts) {
                    continue;
                }

                id = ngx_array_push(job->unseen);
                if (id) {
                    *id = slot->space;
                }
            }
        }

        ngx_shmtx_unlock(&smcf->shpool->mutex);
    }

    if (job->next_unseen == job->unseen->nelts) {
        ngx_cms_slots_rec_finish(job);
        return;
    }

    id = job->unseen->elts;
    id = &id[job->next_unseen];

    p = ngx_pnalloc(job->pool, sizeof("/api/v1/coSpaces/") + id->len);
    if (p == NULL) {
        ngx_cms_slots_rec_finish(job);
        return;
    }

    path.data = p;
    p = ngx_cpymem(p, "/api/v1/coSpaces/", 17);
    p = ngx_cpymem(p, id->data, id->len);
    path.len = p - path.data;

    if (ngx_cms_slots_get(job, &path, ngx_cms_slots_rec_detail) != NGX_OK) {
        ngx_cms_slots_rec_finish(job);
    }
}


static void
ngx_cms_slots_rec_detail(ngx_cms_client_t *cc)
{
    ngx_cms_slots_job_t  *job = cc->data;

    long                     index;
    xmlChar                 *name, *nma, *secret;
    xmlDocPtr                doc;
    xmlNodePtr               root, c;
    ngx_uint_t               n, gone;
    ngx_cms_slots_id_t      *id;
    ngx_cms_slots_slot_t    *slot;
    ngx_cms_slots_change_t   ch;

    id = job->unseen->elts;
    id = &id[job->next_unseen++];

    gone = 0;

    if (cc->rc == NGX_OK && cc->status == NGX_HTTP_OK) {
        doc = ngx_cms_xml_read(cc->body.data, cc->body.len, NULL, NULL);
        root = doc ? xmlDocGetRootElement(doc) : NULL;

        if (root && xmlStrcmp(root->name, (const xmlChar *) "coSpace") == 0)
        {
            name = NULL;
            nma = NULL;
            secret = NULL;

            for (c = root->children; c; c = c->next) {
                if (c->type != XML_ELEMENT_NODE) {
                    continue;
                }

                if (xmlStrcmp(c->name, (const xmlChar *) "name") == 0) {
                    name = xmlNodeGetContent(c);

                } else if (xmlStrcmp(c->name,
                                     (const xmlChar *) "nonMemberAccess")
                           == 0)
                {
                    nma = xmlNodeGetContent(c);

                } else if (xmlStrcmp(c->name, (const xmlChar *) "secret")
                           == 0)
                {
                    secret = xmlNodeGetContent(c);
                }
            }

            if (name) {
                ngx_cms_slots_learn_space(job->smcf, id->data, id->len,
                          name, ngx_strlen(name),
                          nma, nma ? ngx_strlen(nma) : 0,
                          secret, secret ? ngx_strlen(secret) : 0,
                          job->asked_ms, "reconciliation", job->log);
            }

            if (name) {
                xmlFree(name);
            }

            if (nma) {
                xmlFree(nma);
            }

            if (secret) {
                xmlFree(secret);
            }
        }

        if (doc) {
            xmlFreeDoc(doc);
        }

    } else if (cc->rc == NGX_OK
               && (cc->status == NGX_HTTP_NOT_FOUND
                   || cc->status == NGX_HTTP_BAD_REQUEST))
    {
        gone = 1;
    }

    if (gone) {
        /* the space is no more: its slot forgets it (and its meeting) */

        ngx_shmtx_lock(&job->smcf->shpool->mutex);

        slot = ngx_cms_slots_by_space_locked(job->smcf, id->data, id->len,
                                             &n, &index);
        if (slot && slot->changed_ms < job->asked_ms) {
            ngx_cms_slots_change_fill_locked(&ch, "corrected",
                                             &job->smcf->sh->pools[n], index,
                                             slot);
            ngx_memzero(&slot->hold, sizeof(ngx_cms_slots_hold_t));
            ngx_cms_slots_unmap_locked(job->smcf, slot);
            ngx_cms_slots_touch_locked(slot, job->asked_ms);
            job->smcf->sh->corrections++;

        } else {
            slot = NULL;
        }

        ngx_shmtx_unlock(&job->smcf->shpool->mutex);

        if (slot) {
            ch.note.len = ngx_snprintf(ch.note.data, NGX_CMS_SLOTS_TEXT_LEN,
                                       "space gone from CMS")
                          - ch.note.data;
            ch.hold.state = NGX_CMS_SLOT_FREE;

            ngx_log_error(NGX_LOG_WARN, job->log, 0,
                          "cms slots: slot \"%*s\" corrected: its space %*s "
                          "is gone from CMS", ch.slot.len, ch.slot.data,
                          id->len, id->data);

            ngx_cms_slots_emit(&ch, job->log);
            ngx_cms_slots_redis_publish(job->smcf, n, index);
        }
    }

    ngx_cms_slots_rec_unseen(job);
}


static void
ngx_cms_slots_rec_finish(ngx_cms_slots_job_t *job)
{
    ngx_uint_t                  corrections;
    ngx_cms_slots_change_t      ch;
    ngx_cms_slots_main_conf_t  *smcf;

    smcf = job->smcf;

    ngx_shmtx_lock(&smcf->shpool->mutex);
    corrections = smcf->sh->corrections - job->corrections;
    smcf->sh->reconciling = 0;
    smcf->sh->reconciled = ngx_time();
    smcf->sh->reconcile_error.len = 0;
    ngx_shmtx_unlock(&smcf->shpool->mutex);

    /* Redis gets the whole table: it may have lost it */
    ngx_cms_slots_redis_push_all(smcf);

    ngx_memzero(&ch, sizeof(ngx_cms_slots_change_t));
    ch.action = "reconciled";
    ch.index = -1;
    ch.note.len = ngx_snprintf(ch.note.data, NGX_CMS_SLOTS_TEXT_LEN,
                               "%ui pools, %ui corrections, bridge %V",
                               job->npools, corrections, &job->target.host)
                  - ch.note.data;

    ngx_log_error(NGX_LOG_NOTICE, job->log, 0,
                  "cms slots: reconciled: %*s", ch.note.len, ch.note.data);

    ngx_cms_slots_emit(&ch, job->log);

    ngx_cms_slots_job_end(job, NGX_OK, "%ui corrections", corrections);
}


/* force release */

ngx_int_t
ngx_cms_slots_release(ngx_cms_slots_main_conf_t *smcf, ngx_uint_t npool,
    long index, ngx_str_t *by, ngx_log_t *log, ngx_cms_slots_done_pt done,
    void *data, ngx_str_t *err)
{
    u_char                *p;
    u_char                 name[NGX_CMS_SLOTS_TEXT_LEN * 2];
    size_t                 name_len;
    ngx_str_t              method, path, body;
    ngx_cms_slots_job_t   *job;
    ngx_cms_slots_pool_t  *pool;
    ngx_cms_slots_slot_t  *slot;

    job = ngx_cms_slots_job(smcf, log, done, data);
    if (job == NULL) {
        ngx_str_set(err, "no bridge to send the release to");
        return NGX_DECLINED;
    }

    ngx_shmtx_lock(&smcf->shpool->mutex);

    pool = &smcf->sh->pools[npool];
    slot = &pool->slots[index - pool->model.start];

    job->npool = npool;
    job->index = index;
    job->generation = pool->generation;
    job->space = slot->space;
    ngx_cms_slots_set_user(&job->by, by->data, by->len);

    name_len = ngx_cms_slot_name(&pool->model, index, name, sizeof(name));

    ngx_shmtx_unlock(&smcf->shpool->mutex);

    if (job->space.len == 0 || name_len == 0) {
        ngx_destroy_pool(job->pool);
        ngx_str_set(err, "the slot's space is not known: reconcile first");
        return NGX_DECLINED;
    }

    path.data = ngx_pnalloc(job->pool, 17 + job->space.len);
    body.data = ngx_pnalloc(job->pool, 3 * name_len + 64);

    if (path.data == NULL || body.data == NULL) {
        ngx_destroy_pool(job->pool);
        return NGX_ERROR;
    }

    p = ngx_cpymem(path.data, "/api/v1/coSpaces/", 17);
    p = ngx_cpymem(p, job->space.data, job->space.len);
    path.len = p - path.data;

    p = ngx_cpymem(body.data, "name=", 5);
    p += ngx_cms_slots_urlencode(p, name, name_len);
    p = ngx_cpymem(p, "&nonMemberAccess=false&regenerateSecret=true", 44);
    body.len = p - body.data;

    ngx_str_set(&method, "PUT");

    if (ngx_cms_client_request(&job->target, &method, &path, &body,
                               ngx_cms_slots_release_done, job)
        == NULL)
    {
        ngx_destroy_pool(job->pool);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_cms_slots_release_done(ngx_cms_client_t *cc)
{
    ngx_cms_slots_job_t  *job = cc->data;

    ngx_uint_t                  done;
    ngx_cms_slots_pool_t       *pool;
    ngx_cms_slots_slot_t       *slot;
    ngx_cms_slots_change_t      ch;
    ngx_cms_slots_main_conf_t  *smcf;

    smcf = job->smcf;

    if (cc->rc != NGX_OK || cc->status != NGX_HTTP_OK) {
        ngx_log_error(NGX_LOG_ERR, job->log, 0,
                      "cms slots: force release of space %*s failed: bridge "
                      "%V answered %ui%s%V", job->space.len, job->space.data,
                      &job->target.host, cc->status,
                      cc->rc == NGX_OK ? "" : ", ", &cc->error);

        ngx_cms_slots_job_end(job, NGX_ERROR, "bridge answered %ui %V",
                              cc->status, &cc->error);
        return;
    }

    done = 0;

    ngx_shmtx_lock(&smcf->shpool->mutex);

    pool = &smcf->sh->pools[job->npool];

    if (pool->used && pool->active && pool->generation == job->generation) {
        slot = &pool->slots[job->index - pool->model.start];

        ngx_cms_slots_change_fill_locked(&ch, "force_release", pool,
                                         job->index, slot);

        if (slot->hold.call.len) {
            slot->last_call = slot->hold.call;
        }

        ngx_memzero(&slot->hold, sizeof(ngx_cms_slots_hold_t));
        slot->res_token = 0;
        ngx_cms_slots_touch_locked(slot, 0);
        smcf->sh->released++;
        done = 1;
    }

    ngx_shmtx_unlock(&smcf->shpool->mutex);

    if (done) {
        ch.note.len = ngx_snprintf(ch.note.data, NGX_CMS_SLOTS_TEXT_LEN,
                                   "released by \"%*s\" through %V",
                                   job->by.len, job->by.data,
                                   &job->target.host)
                      - ch.note.data;

        ngx_log_error(NGX_LOG_WARN, job->log, 0,
                      "cms slots: slot \"%*s\" force-released by \"%*s\" "
                      "(meeting \"%*s\")", ch.slot.len, ch.slot.data,
                      job->by.len, job->by.data, ch.hold.meeting.len,
                      ch.hold.meeting.data);

        ngx_cms_slots_emit(&ch, job->log);
        ngx_cms_slots_redis_publish(smcf, job->npool, job->index);
    }

    ngx_cms_slots_job_end(job, NGX_OK, "released");
}


static size_t
ngx_cms_slots_urlencode(u_char *dst, u_char *src, size_t len)
{
    u_char         *p;
    size_t          i;
    static u_char   hex[] = "0123456789ABCDEF";

    p = dst;

    for (i = 0; i < len; i++) {
        if ((src[i] >= 'a' && src[i] <= 'z')
            || (src[i] >= 'A' && src[i] <= 'Z')
            || (src[i] >= '0' && src[i] <= '9') || src[i] == '-'
            || src[i] == '.' || src[i] == '_' || src[i] == '~')
        {
            *p++ = src[i];

        } else {
            *p++ = '%';
            *p++ = hex[src[i] >> 4];
            *p++ = hex[src[i] & 0xf];
        }
    }

    return p - dst;
}


