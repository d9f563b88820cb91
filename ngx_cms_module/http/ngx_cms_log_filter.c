
/*
 * ngx_cms: the plugins' log hooks run as the last byte of an answer is
 * handed to nginx's output, before it is sent.
 *
 * The log phase comes after the answer was sent.  A worker killed with -9
 * between the two (building an audit record takes some microseconds)
 * would leave a client with an answer that no record shows.  Here the
 * hooks run before the bytes that complete the answer go down the filter
 * chain: the last buffer, the buffer that completes a Content-Length, or
 * the header of a header-only answer.  Below this filter nginx may send
 * earlier parts of a long body already, never its end: nginx's own
 * filters under ours (chunked, postpone) only hold bytes back.
 *
 * What never gets that far (a client gone, an error mid-body) is logged
 * in the log phase as before: ngx_cms_log_now() runs the hooks once.
 */


#include "ngx_cms.h"


static ngx_int_t ngx_cms_log_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_cms_log_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_cms_log_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_cms_log_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_cms_log_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_cms_log_header_filter(ngx_http_request_t *r)
{
    if (r == r->main && r->header_only) {
        ngx_cms_log_now(r);
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_cms_log_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    off_t           size;
    ngx_uint_t      last;
    ngx_chain_t    *cl;
    ngx_cms_ctx_t  *ctx;

    if (r != r->main || in == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_cms_module);

    if (ctx != NULL && (ctx->logged || ctx->log_now_done)) {
        return ngx_http_next_body_filter(r, in);
    }

    last = 0;
    size = 0;

    for (cl = in; cl; cl = cl->next) {
        if (cl->buf->last_buf) {
            last = 1;
        }

        size += ngx_buf_size(cl->buf);
    }

    if (!last && ctx != NULL && r->headers_out.content_length_n > 0) {
        ctx->body_out += size;

        if (ctx->body_out >= r->headers_out.content_length_n) {
            last = 1;
        }
    }

    if (last) {
        ngx_cms_log_now(r);
    }

    return ngx_http_next_body_filter(r, in);
}
