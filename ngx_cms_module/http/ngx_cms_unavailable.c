
/*
 * ngx_cms: CMS-shaped answers for requests no bridge answered.
 *
 * When the balancer finds no bridge for a request, or every attempt
 * failed, nginx finalizes the request with 502/504 and its own HTML
 * page.  A CMS-aware client (TMS, CMM) understands failureDetails, so
 * this filter replaces that page, and only that page (a bridge's own
 * 5xx answer passes untouched):
 *
 *   no usable bridge at all      503 + Retry-After (CMS's "busy, retry")
 *                                <callBridgeUnavailable
 *                                 error="noHealthyCallBridge" />
 *   the call's bridge is down    503 + Retry-After
 *                                <callBridgeUnavailable callBridge="core1"
 *                                 error="callBridgeDown" />
 *   tried, no answer             502/504 as nginx decided
 *                                <callBridgeUnavailable callBridge="core1"
 *                                 error="noAnswer" />, or, for a write that
 *                                reached the bridge and was not sent to
 *                                another one, error="noAnswerNotReplayed"
 *
 * with a human-readable X-Cms-Proxy-Reason, as the core's denials have.
 * It runs before the core's filter, which gives every other nginx error
 * page a generic failureDetails.
 */


#include "ngx_cms.h"


#define NGX_CMS_UNAVAILABLE_HEAD                                              \
    "<?xml version=\"1.0\"?>\n<failureDetails><callBridgeUnavailable"
#define NGX_CMS_UNAVAILABLE_TAIL  " /></failureDetails>"


static ngx_int_t ngx_cms_unavailable_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_cms_unavailable_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_cms_unavailable_header(ngx_http_request_t *r,
    const char *name, u_char *value, size_t len);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_cms_unavailable_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_cms_unavailable_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_cms_unavailable_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_cms_unavailable_header_filter(ngx_http_request_t *r)
{
    u_char                *p;
    size_t                 len;
    ngx_str_t             *bridge;
    ngx_buf_t             *b;
    ngx_uint_t             status, retry;
    const char            *error;
    ngx_cms_ctx_t         *ctx;
    ngx_cms_fo_req_t      *fr;
    ngx_http_upstream_t   *u;
    u_char                 reason[512], number[NGX_INT_T_LEN];

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    status = r->headers_out.status;

    /* the status first: nearly every answer is not one of these */

    if (status != NGX_HTTP_BAD_GATEWAY
        && status != NGX_HTTP_SERVICE_UNAVAILABLE
        && status != NGX_HTTP_GATEWAY_TIME_OUT)
    {
        return ngx_http_next_header_filter(r);
    }

    fr = ngx_http_get_module_ctx(r, ngx_cms_failover_module);
    u = r->upstream;

    if (fr == NULL || fr->cluster == NULL || u == NULL
        || u->headers_in.status_n != 0)
    {
        return ngx_http_next_header_filter(r);
    }

    bridge = fr->bridge ? &fr->bridge->name : NULL;
    retry = 0;

    switch (fr->unavailable) {

    case NGX_CMS_UNAVAILABLE_NO_BRIDGE:
        status = NGX_HTTP_SERVICE_UNAVAILABLE;
        retry = 1;
        bridge = NULL;
        error = "noHealthyCallBridge";
        p = ngx_snprintf(reason, sizeof(reason),
                         "no healthy call bridge in upstream \"%V\"",
                         &fr->cluster->name);
        break;

    case NGX_CMS_UNAVAILABLE_CALL_DOWN:
        status = NGX_HTTP_SERVICE_UNAVAILABLE;
        retry = 1;
        error = "callBridgeDown";
        p = ngx_snprintf(reason, sizeof(reason),
                         "the call lives on bridge \"%V\", which is down",
                         bridge);
        break;

    default:

        if (fr->not_replayed) {
            error = "noAnswerNotReplayed";
            p = ngx_snprintf(reason, sizeof(reason),
                             "bridge \"%V\" did not answer a %V it "
                             "received; it was not sent to another bridge "
                             "because it may have been applied",
                             bridge, &r->method_name);

        } else {
            error = "noAnswer";
            p = bridge ? ngx_snprintf(reason, sizeof(reason),
                                      "no bridge answered, bridge \"%V\" "
                                      "was the last tried", bridge)
                       : ngx_snprintf(reason, sizeof(reason),
                                      "no bridge answered");
        }
    }

    len = sizeof(NGX_CMS_UNAVAILABLE_HEAD) - 1
          + sizeof(" error=\"\"") - 1 + ngx_strlen(error)
          + sizeof(NGX_CMS_UNAVAILABLE_TAIL) - 1;

    if (bridge) {
        len += sizeof(" callBridge=\"\"") - 1 + bridge->len
               + ngx_escape_html(NULL, bridge->data, bridge->len);
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, NGX_CMS_UNAVAILABLE_HEAD,
                         sizeof(NGX_CMS_UNAVAILABLE_HEAD) - 1);

    if (bridge) {
        b->last = ngx_cpymem(b->last, " callBridge=\"", 13);
        b->last = (u_char *) ngx_escape_html(b->last, bridge->data,
                                             bridge->len);
        *b->last++ = '"';
    }

    b->last = ngx_sprintf(b->last, " error=\"%s\"" NGX_CMS_UNAVAILABLE_TAIL,
                          error);

    b->last_buf = 1;
    b->last_in_chain = 1;

    /*
     * Ours now, not nginx's error page: the core's filter, which turns
     * error pages into a generic failureDetails, must leave it alone.
     */

    r->headers_out.status = status;
    r->err_status = 0;
    r->headers_out.content_length_n = b->last - b->pos;

    ctx = ngx_http_get_module_ctx(r, ngx_http_cms_module);
    if (ctx) {
        ctx->call.upstream_failed = 1;
    }

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    ngx_str_set(&r->headers_out.content_type, "text/xml");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    if (ngx_cms_unavailable_header(r, "X-Cms-Proxy-Reason", reason,
                                   p - reason)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_cms_request_id_header(r) != NGX_OK) {
        return NGX_ERROR;
    }

    if (retry) {
        p = ngx_sprintf(number, "%ui",
                        ngx_cms_failover_retry_after(fr->cluster));

        if (ngx_cms_unavailable_header(r, "Retry-After", number, p - number)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    fr->answer = b;
    fr->replace = 1;

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_cms_unavailable_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t        out, *cl;
    ngx_cms_fo_req_t  *fr;

    if (r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    fr = ngx_http_get_module_ctx(r, ngx_cms_failover_module);

    if (fr == NULL || !fr->replace) {
        return ngx_http_next_body_filter(r, in);
    }

    /* nginx's page goes nowhere; ours goes once */

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
    }

    if (fr->replaced) {
        return NGX_OK;
    }

    fr->replaced = 1;

    out.buf = fr->answer;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


static ngx_int_t
ngx_cms_unavailable_header(ngx_http_request_t *r, const char *name,
    u_char *value, size_t len)
{
    u_char           *p;
    ngx_table_elt_t  *h;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, value, len);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = p;
    h->value.len = len;

    return NGX_OK;
}
