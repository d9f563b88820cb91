
/*
 * ngx_cms: the request body after a hook changed the parameters.
 *
 * The parameters are encoded again (application/x-www-form-urlencoded,
 * in their order) into one buffer that replaces the body proxy_pass will
 * send, and Content-Length follows; proxy_pass takes the length from
 * r->headers_in.content_length_n, so the bridge sees a well-formed
 * request.  An untouched body is never re-encoded: it goes on byte for
 * byte.
 */


#include "ngx_cms.h"


ngx_int_t
ngx_cms_body_replace(ngx_http_request_t *r, ngx_cms_ctx_t *ctx)
{
    size_t             len;
    u_char            *p;
    ngx_buf_t         *b;
    ngx_uint_t         i;
    ngx_chain_t       *cl;
    ngx_table_elt_t   *h;
    ngx_cms_param_t   *prm;
    ngx_cms_call_t    *call;

    call = &ctx->call;

    if (r->request_body == NULL) {
        /* a body-less request (GET, DELETE) has nothing to rewrite */
        return NGX_OK;
    }

    prm = call->params->elts;
    len = 0;

    for (i = 0; i < call->params->nelts; i++) {
        len += (i ? 1 : 0)
               + ngx_cms_form_escape(NULL, prm[i].name.data, prm[i].name.len)
               + 1
               + ngx_cms_form_escape(NULL, prm[i].value.data,
                                     prm[i].value.len);
    }

    b = ngx_create_temp_buf(r->pool, len ? len : 1);
    if (b == NULL) {
        return NGX_ERROR;
    }

    p = b->pos;

    for (i = 0; i < call->params->nelts; i++) {
        if (i) {
            *p++ = '&';
        }

        p += ngx_cms_form_escape(p, prm[i].name.data, prm[i].name.len);
        *p++ = '=';
        p += ngx_cms_form_escape(p, prm[i].value.data, prm[i].value.len);
    }

    b->last = p;
    b->last_buf = 1;
    b->last_in_chain = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    r->request_body->bufs = cl;
    r->request_body->buf = b;
    r->request_body->temp_file = NULL;

    r->headers_in.content_length_n = len;

    h = r->headers_in.content_length;

    if (h == NULL) {
        h = ngx_list_push(&r->headers_in.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        ngx_str_set(&h->key, "Content-Length");
        h->lowcase_key = (u_char *) "content-length";
        h->hash = ngx_hash_key(h->lowcase_key, h->key.len);

        r->headers_in.content_length = h;
    }

    h->value.data = ngx_pnalloc(r->pool, NGX_OFF_T_LEN);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    h->value.len = ngx_sprintf(h->value.data, "%O", (off_t) len)
                   - h->value.data;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "cms: body re-encoded, %uz bytes", len);

    return NGX_OK;
}
