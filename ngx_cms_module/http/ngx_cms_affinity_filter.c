
/*
 * ngx_cms: call affinity learned from the answers that pass through (the
 * http layer's part; the map itself is the cluster's, ngx_cms_affinity.c):
 * the Location of a created call, leg or participant, a 200 or 404 on
 * one, and listings of calls, legs and participants.
 */


#include "ngx_cms.h"
#include "ngx_cms_xml.h"

#include <libxml/parser.h>

#include "ngx_cms_xml.h"


#define NGX_CMS_AFFINITY_CAPTURE  (256 * 1024)
#define NGX_CMS_AFFINITY_BATCH    512


static ngx_int_t ngx_cms_affinity_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_cms_affinity_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static void ngx_cms_affinity_learn_listing(ngx_http_request_t *r,
    ngx_cms_fo_req_t *fr);
static ngx_uint_t ngx_cms_affinity_is(const char *name, const char *what);
static ngx_str_t *ngx_cms_affinity_location(ngx_http_request_t *r);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


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

    /* a call-scoped request first: most are not */

    ctx = ngx_http_get_module_ctx(r, ngx_http_cms_module);

    if (ctx == NULL || ctx->api_rc != NGX_CMS_API_OK || !ctx->api.call_scoped)
    {
        return ngx_http_next_header_filter(r);
    }

    fr = ngx_http_get_module_ctx(r, ngx_cms_failover_module);
    u = r->upstream;

    if (fr == NULL || fr->cluster == NULL || !fr->cluster->affinity
        || fr->bridge == NULL || u == NULL)
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
    size_t                  len;
    u_char                 *data;
    xmlChar                *id;
    ngx_uint_t              n, slot, remote;
    xmlDocPtr               doc;
    xmlNodePtr              root, item, child;
    ngx_cms_fo_cluster_t   *cl;
    ngx_cms_affinity_id_t  *ids;

    cl = fr->cluster;
    data = fr->capture ? fr->capture->pos : NULL;
    len = fr->capture ? (size_t) (fr->capture->last - fr->capture->pos) : 0;

    doc = ngx_cms_xml_read(data, len, NULL, NULL);

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
            ngx_memcpy(ids[n].id, id, len);
            ids[n].len = (u_char) len;
            n++;
        }

        xmlFree(id);
    }

    slot = fr->bridge->slot;

    ngx_cms_affinity_learn_batch(cl, ids, n, slot);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "cms: learned %ui objects on bridge \"%V\"", n,
                   &fr->bridge->name);

done:

    xmlFreeDoc(doc);
}


static ngx_uint_t
ngx_cms_affinity_is(const char *name, const char *what)
{
    return ngx_strcmp(name, what) == 0;
}


/* the bridge's Location (relative, as CMS sends it, or rewritten) */

static ngx_str_t *
ngx_cms_affinity_location(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_cms_location_header(r);

    return h ? &h->value : NULL;
}
