
/*
 * ngx_cms: a plugin changes which object the bridge is asked about, and
 * what the client is told in the answer's Location header.
 *
 * The recovery plugin needs both: a call re-created on another bridge
 * has a new id, and the client goes on naming it by the old one
 * ("DELETE /calls/<old>").  The id is replaced in the path proxy_pass
 * sends (the query kept), the path is classified again so the balancer
 * picks the bridge by the new id, and from then on every plugin sees the
 * request as the bridge will act on it; the path as the client sent it
 * stays readable (NGX_CMS_CALL_CLIENT_PATH) for the audit.
 */


#include "ngx_cms.h"


static ngx_uint_t ngx_cms_call_id_valid(ngx_str_t *id);


ngx_int_t
ngx_cms_call_set_id(ngx_cms_call_t *call, ngx_cms_call_str_e which,
    ngx_str_t *id)
{
    u_char              *p, *q, *last;
    size_t               len;
    ngx_str_t           *src;
    ngx_cms_ctx_t       *ctx;
    ngx_cms_span_t      *span;
    ngx_cms_api_req_t    api;
    ngx_http_request_t  *r;

    ctx = call->core;
    r = call->request;

    /* only before the request is proxied, and only for a path understood */

    if (ctx->state != NGX_CMS_STATE_HOOKS || ctx->api_rc != NGX_CMS_API_OK) {
        return NGX_DECLINED;
    }

    switch (which) {

    case NGX_CMS_CALL_OBJECT_ID:
        span = &ctx->api.object_id;
        break;

    case NGX_CMS_CALL_SUB_ID:
        span = &ctx->api.sub_id;
        break;

    case NGX_CMS_CALL_CALL_ID:
        span = &ctx->api.call_id;
        break;

    default:
        return NGX_ERROR;
    }

    if (span->len == 0) {
        return NGX_DECLINED;
    }

    if (!ngx_cms_call_id_valid(id)) {
        return NGX_ERROR;
    }

    /* what proxy_pass sends: the raw URI, or r->uri once rewritten */

    src = r->valid_unparsed_uri ? &r->unparsed_uri : &r->uri;

    if (span->data < src->data
        || span->data + span->len > src->data + src->len)
    {
        return NGX_ERROR;
    }

    len = src->len - span->len + id->len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    q = ngx_cpymem(p, src->data, (u_char *) span->data - src->data);
    q = ngx_cpymem(q, id->data, id->len);
    last = src->data + src->len;
    ngx_memcpy(q, span->data + span->len,
               last - ((u_char *) span->data + span->len));

    /* the path part of it, as ngx_cms_classify() takes it */

    last = p + len;

    if (r->valid_unparsed_uri && r->args.len) {
        last = ngx_strlchr(p, p + len, '?');

        if (last == NULL) {
            return NGX_ERROR;
        }
    }

    if (ngx_cms_api_classify(p, last - p, ctx->method, &api)
        != NGX_CMS_API_OK
        || ngx_strcmp(api.operation, ctx->api.operation) != 0)
    {
        /* an id must not change what the request is */
        return NGX_ERROR;
    }

    ctx->api = api;

    if (r->valid_unparsed_uri && r->args.len) {
        r->args.data = last + 1;
    }

    src->data = p;
    src->len = len;

    call->path.data = p;
    call->path.len = last - p;

    call->object_id.data = (u_char *) api.object_id.data;
    call->object_id.len = api.object_id.len;
    call->sub_id.data = (u_char *) api.sub_id.data;
    call->sub_id.len = api.sub_id.len;
    call->call_id.data = (u_char *) api.call_id.data;
    call->call_id.len = api.call_id.len;

    return NGX_OK;
}


/* an id CMS could have made: a path segment nobody reads otherwise */

static ngx_uint_t
ngx_cms_call_id_valid(ngx_str_t *id)
{
    u_char  c;
    size_t  i;

    if (id->len == 0 || id->len > NGX_CMS_API_MAX_SEGMENT_LEN) {
        return 0;
    }

    for (i = 0; i < id->len; i++) {
        c = id->data[i];

        if (!((c >= '0' && c <= '9')
              || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
              || c == '-' || c == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * The bridge's Location.  nginx keeps a relative one (CMS sends
 * "/api/v1/calls/<id>") only in the header list, not in
 * r->headers_out.location, so that the header filter does not make it
 * absolute.
 */

ngx_table_elt_t *
ngx_cms_location_header(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (r->headers_out.location) {
        return r->headers_out.location;
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

        if (h[i].hash != 0
            && h[i].key.len == sizeof("Location") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Location",
                               sizeof("Location") - 1) == 0)
        {
            return &h[i];
        }
    }

    return NULL;
}


/* from a response hook: the Location the client gets */

ngx_int_t
ngx_cms_response_set_location(ngx_cms_call_t *call, ngx_str_t *location)
{
    u_char              *p;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r;

    r = call->request;

    if (r->header_sent) {
        return NGX_DECLINED;
    }

    h = ngx_cms_location_header(r);
    if (h == NULL) {
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(r->pool, location->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, location->data, location->len);

    h->value.data = p;
    h->value.len = location->len;

    call->location = h->value;
    ngx_cms_call_location_id(call);

    return NGX_OK;
}
