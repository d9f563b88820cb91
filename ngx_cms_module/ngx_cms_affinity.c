
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
 */


#include "ngx_cms_failover.h"

#if (NGX_CMS_FAILOVER_REDIS)
#include "ngx_cms_fo_redis.h"
#endif

#include <libxml/parser.h>

#include "ngx_cms_xml_read.h"


#define NGX_CMS_AFFINITY_CAPTURE  (256 * 1024)
#define NGX_CMS_AFFINITY_BATCH    512


typedef struct {
    u_char                     len;
    u_char                     changed;
    u_char                     id[NGX_CMS_SHM_CALL_ID_LEN];
} ngx_cms_affinity_id_t;


static ngx_cms_shm_call_t *ngx_cms_affinity_find(ngx_cms_shm_cluster_t *sh,
    uint32_t hash, u_char *id, size_t len);
static size_t ngx_cms_affinity_key(u_char *dst, u_char *id, size_t len);
static ngx_uint_t ngx_cms_affinity_learn_locked(ngx_cms_fo_cluster_t *cl,
    u_char *key, size_t len, ngx_uint_t slot);
static void ngx_cms_affinity_share(ngx_cms_fo_cluster_t *cl, u_char *key,
    size_t len, ngx_uint_t slot);
static ngx_int_t ngx_cms_affinity_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_cms_affinity_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static void ngx_cms_affinity_learn_listing(ngx_http_request_t *r,
    ngx_cms_fo_req_t *fr);
static ngx_uint_t ngx_cms_affinity_is(const char *name, const char *what);
static ngx_str_t *ngx_cms_affinity_location(ngx_http_request_t *r);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


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
#if (NGX_CMS_FAILOVER_REDIS)
    ngx_cms_fo_bridge_t  *b;

    if (cl->redis == NULL) {
        return;
    }

    b = (slot == NGX_CMS_SHM_NO_SLOT)
        ? NULL : ngx_cms_failover_bridge_by_slot(cl, slot);

    if (slot != NGX_CMS_SHM_NO_SLOT && b == NULL) {
        return;
    }

    ngx_cms_fo_redis_call(cl, key, len, b ? &b->conf->name : NULL);
#endif
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


/* learning from answers */

ngx_int_t
ngx_cms_affinity_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_cms_affinity_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_cms_affinity_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_cms_affinity_header_filter(ngx_http_request_t *r)
{
    u_char                *p, *last, *id;
    ngx_str_t             *location;
    ngx_uint_t             status, slot;
    ngx_cms_ctx_t         *ctx;
    ngx_cms_fo_req_t      *fr;
    ngx_http_upstream_t   *u;
    ngx_cms_fo_cluster_t  *cl;
    ngx_cms_api_req_t     *api;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    fr = ngx_http_get_module_ctx(r, ngx_cms_failover_module);
    u = r->upstream;

    if (fr == NULL || fr->cluster == NULL || !fr->cluster->affinity
        || fr->bridge == NULL || u == NULL)
    {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_cms_module);

    if (ctx == NULL || ctx->api_rc != NGX_CMS_API_OK || !ctx->api.call_scoped)
    {
        return ngx_http_next_header_filter(r);
    }

    cl = fr->cluster;
    api = &ctx->api;
    slot = fr->bridge->slot;
    status = u->headers_in.status_n;

    if (status == NGX_HTTP_NOT_FOUND && fr->call_bridge
        && api->object_id.len)
    {
        /* where we sent it, it is gone */
        ngx_cms_affinity_forget(cl, (u_char *) api->object_id.data,
                                api->object_id.len, 1);
        return ngx_http_next_header_filter(r);
    }

    if (status != NGX_HTTP_OK) {
        return ngx_http_next_header_filter(r);
    }

    switch (ctx->method) {

    case NGX_CMS_METHOD_POST:

        location = ngx_cms_affinity_location(r);

        if (location == NULL || location->len == 0) {
            break;
        }

        p = location->data;
        last = p + location->len;

        while (last > p && last[-1] == ' ') {
            last--;
        }

        for (id = last; id > p && id[-1] != '/'; id--) {
            /* void */
        }

        if (last > id
            && (ngx_strlcasestrn(p, id, (u_char *) "/calls/", 7 - 1)
                || ngx_strlcasestrn(p, id, (u_char *) "/callLegs/", 10 - 1)
                || ngx_strlcasestrn(p, id, (u_char *) "/participants/",
                                    14 - 1)))
        {
            ngx_cms_affinity_learn(cl, id, last - id, slot, 1);
        }

        break;

    case NGX_CMS_METHOD_DELETE:

        if (api->object_id.len && api->sub_raw.len == 0) {
            ngx_cms_affinity_forget(cl, (u_char *) api->object_id.data,
                                    api->object_id.len, 1);
        }

        break;

    case NGX_CMS_METHOD_GET:

        if (api->object_id.len == 0
            || (api->sub_collection
                && (ngx_cms_affinity_is(api->sub_collection, "callLegs")
                    || ngx_cms_affinity_is(api->sub_collection,
                                           "participants"))
                && api->sub_id.len == 0))
        {
            /* a listing: learned from the body, if it is plain XML */

            if (r->headers_out.content_encoding == NULL && !r->header_only) {
                fr->learn = 1;
            }

        } else if (api->sub_raw.len == 0
                   && !(api->object_id.len == 1
                        && api->object_id.data[0] == '*'))
        {
            ngx_cms_affinity_learn(cl, (u_char *) api->object_id.data,
                                   api->object_id.len, slot, 1);
        }

        break;

    default:
        break;
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_cms_affinity_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t             size;
    ngx_buf_t         *b;
    ngx_chain_t       *cl;
    ngx_cms_fo_req_t  *fr;

    if (in == NULL || r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    fr = ngx_http_get_module_ctx(r, ngx_cms_failover_module);

    if (fr == NULL || !fr->learn) {
        return ngx_http_next_body_filter(r, in);
    }

    /* a copy on the side: the answer itself streams on untouched */

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (!ngx_buf_in_memory(b)) {
            if (ngx_buf_size(b)) {
                fr->learn = 0;
                break;
            }

        } else {
            size = b->last - b->pos;

            if (fr->capture == NULL) {
                fr->capture = ngx_create_temp_buf(r->pool,
                                                  NGX_CMS_AFFINITY_CAPTURE);
                if (fr->capture == NULL) {
                    fr->learn = 0;
                    break;
                }
            }

            if (size > (size_t) (fr->capture->end - fr->capture->last)) {
                fr->learn = 0;
                break;
            }

            fr->capture->last = ngx_cpymem(fr->capture->last, b->pos, size);
        }

        if (b->last_buf) {
            ngx_cms_affinity_learn_listing(r, fr);
            fr->learn = 0;
            break;
        }
    }

    return ngx_http_next_body_filter(r, in);
}


static void
ngx_cms_affinity_learn_listing(ngx_http_request_t *r, ngx_cms_fo_req_t *fr)
{
    int                     line;
    size_t                  len;
    u_char                 *data;
    xmlChar                *id;
    ngx_uint_t              i, n, slot, remote;
    xmlDocPtr               doc;
    xmlNodePtr              root, item, child;
    ngx_cms_xml_read_e      rc;
    ngx_cms_fo_cluster_t   *cl;
    ngx_cms_affinity_id_t  *ids;

    cl = fr->cluster;
    data = fr->capture ? fr->capture->pos : NULL;
    len = fr->capture ? (size_t) (fr->capture->last - fr->capture->pos) : 0;

    doc = ngx_cms_xml_read(data, len, &rc, &line);
    if (doc == NULL) {
        return;
    }

    root = xmlDocGetRootElement(doc);
    if (root == NULL) {
        goto done;
    }

    ids = ngx_palloc(r->pool,
                     NGX_CMS_AFFINITY_BATCH * sizeof(ngx_cms_affinity_id_t));
    if (ids == NULL) {
        goto done;
    }

    n = 0;

    for (item = root->children; item && n < NGX_CMS_AFFINITY_BATCH;
         item = item->next)
    {
        if (item->type != XML_ELEMENT_NODE
            || (xmlStrcmp(item->name, (const xmlChar *) "call") != 0
                && xmlStrcmp(item->name, (const xmlChar *) "callLeg") != 0
                && xmlStrcmp(item->name, (const xmlChar *) "participant")
                   != 0))
        {
            continue;
        }

        remote = 0;

        for (child = item->children; child; child = child->next) {
            if (child->type == XML_ELEMENT_NODE
                && xmlStrcmp(child->name, (const xmlChar *) "callBridge") == 0
                && child->children)
            {
                remote = 1;
            }
        }

        if (remote) {
            continue;
        }

        id = xmlGetProp(item, (const xmlChar *) "id");
        if (id == NULL) {
            continue;
        }

        len = ngx_strlen(id);

        if (len && len <= NGX_CMS_SHM_CALL_ID_LEN) {
            ids[n].len = (u_char) ngx_cms_affinity_key(ids[n].id, id, len);
            n++;
        }

        xmlFree(id);
    }

    slot = fr->bridge->slot;

    if (n) {
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

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "cms: learned %ui objects on bridge \"%V\"", n,
                   &fr->bridge->conf->name);

done:

    xmlFreeDoc(doc);
}


static ngx_uint_t
ngx_cms_affinity_is(const char *name, const char *what)
{
    return ngx_strcmp(name, what) == 0;
}


/*
 * The bridge's Location.  nginx keeps a relative one (CMS sends
 * "/api/v1/calls/<id>") only in the header list, not in
 * r->headers_out.location, so that the header filter does not make it
 * absolute.
 */

static ngx_str_t *
ngx_cms_affinity_location(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (r->headers_out.location) {
        return &r->headers_out.location->value;
    }

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0 || h[i].key.len != sizeof("Location") - 1) {
            continue;
        }

        if (ngx_strncasecmp(h[i].key.data, (u_char *) "Location",
                            sizeof("Location") - 1) == 0)
        {
            return &h[i].value;
        }
    }

    return NULL;
}
