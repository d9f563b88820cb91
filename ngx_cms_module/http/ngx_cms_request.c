
/*
 * ngx_cms: understanding one API request.
 *
 * The precontent handler classifies the path, reads the (small,
 * urlencoded) body, parses it into an ordered list of parameters and then
 * lets the request go on to proxy_pass.  The body the bridge receives is
 * the buffer nginx read: nothing here changes it.
 */


#include "ngx_cms.h"


/* parameters a body has room for in the context's block (ngx_cms_ctx.c) */
#define NGX_CMS_FEW_PARAMS  8


static void ngx_cms_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_cms_parse_body(ngx_http_request_t *r,
    ngx_cms_ctx_t *ctx, ngx_cms_loc_conf_t *lcf);
static ngx_int_t ngx_cms_refuse_repeated(ngx_http_request_t *r,
    ngx_cms_form_param_t *dup);


/*
 * A small state machine, re-entered by ngx_http_core_run_phases(): after
 * the body arrives (ngx_cms_body_handler) and after a suspended hook
 * resumes (ngx_cms_resume).
 */

ngx_int_t
ngx_cms_precontent_handler(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_str_t            reason;
    ngx_cms_ctx_t       *ctx;
    ngx_cms_loc_conf_t  *lcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_cms_module);

    if (!lcf->enable) {
        return NGX_DECLINED;
    }

    ctx = ngx_cms_classify(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (ctx->state) {

    case NGX_CMS_STATE_INIT:
        break;

    case NGX_CMS_STATE_READING:
        if (!ctx->body_done) {
            return NGX_AGAIN;
        }

        goto parse;

    case NGX_CMS_STATE_HOOKS:
        goto hooks;

    case NGX_CMS_STATE_PROXY:
        return NGX_DECLINED;
    }

    if (ctx->api_rc == NGX_CMS_API_BAD_PATH) {
        reason.data = (u_char *) ctx->api.bad_reason;
        reason.len = ngx_strlen(ctx->api.bad_reason);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "cms: rejected path \"%V\": %V",
                      &r->unparsed_uri, &reason);

        ctx->state = NGX_CMS_STATE_PROXY;

        return ngx_cms_send_failure(r, NGX_HTTP_BAD_REQUEST,
                                    "parameterError", "parameter", "path",
                                    "error", "invalidPath", &reason);
    }

    if (ctx->api_rc == NGX_CMS_API_NOT_API) {
        ctx->state = NGX_CMS_STATE_PROXY;
        return NGX_DECLINED;
    }

    if (ctx->method != NGX_CMS_METHOD_POST
        && ctx->method != NGX_CMS_METHOD_PUT
        && r->headers_in.content_length_n <= 0
        && r->headers_in.chunked == 0)
    {
        ctx->state = NGX_CMS_STATE_HOOKS;
        goto hooks;
    }

    /*
     * Read the body the way the mirror module does: keep it in one memory
     * buffer, let proxy_pass send the same buffer on.
     */

    r->request_body_in_single_buf = 1;
    ctx->state = NGX_CMS_STATE_READING;

    ctx->body_reading = 1;
    rc = ngx_http_read_client_request_body(r, ngx_cms_body_handler);
    ctx->body_reading = 0;

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    if (!ctx->body_done) {
        /* ngx_cms_body_handler() runs the phases again when it arrives */
        ngx_http_finalize_request(r, NGX_DONE);
        return NGX_DONE;
    }

    /*
     * The whole body came with the headers (a TMS PUT does): the handler
     * ran inside the call and left the rest to this one.  The reference
     * the call took is given back the way ngx_http_finalize_request(r,
     * NGX_DONE) would give it, with the request still in its phases.
     */

    r->main->count--;

parse:

    rc = ngx_cms_parse_body(r, ctx, lcf);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    ctx->state = NGX_CMS_STATE_HOOKS;

hooks:

    rc = lcf->plugins ? ngx_cms_run_request_hooks(r, ctx) : NGX_DECLINED;

    if (rc == NGX_AGAIN) {
        /* a hook waits for something (Redis, a bridge): keep reading
         * only to notice the client going away */
        r->read_event_handler = ngx_http_test_reading;

        /* only ngx_cms_resume() may run the phases again: with epoll's
         * edge-triggered events any client byte fires the write handler */
        r->write_event_handler = ngx_http_request_empty_handler;

        return NGX_AGAIN;
    }

    if (rc == NGX_DECLINED) {
        ctx->state = NGX_CMS_STATE_PROXY;
        r->read_event_handler = ngx_http_block_reading;
    }

    return rc;
}


static void
ngx_cms_body_handler(ngx_http_request_t *r)
{
    ngx_cms_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_cms_module);

    ctx->body_done = 1;
    r->preserve_body = 1;

    if (ctx->body_reading) {
        /* called from inside ngx_http_read_client_request_body() */
        return;
    }

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


static ngx_int_t
ngx_cms_parse_body(ngx_http_request_t *r, ngx_cms_ctx_t *ctx,
    ngx_cms_loc_conf_t *lcf)
{
    int                    rc;
    size_t                 len, n;
    u_char                *body, *scratch, *p, *last;
    ngx_str_t              reason;
    ngx_buf_t             *b;
    ngx_chain_t           *cl;
    ngx_cms_form_param_t  *params, *dup, *moved;
    ngx_cms_form_error_t   err;

    static ngx_str_t  too_big =
        ngx_string("request body larger than client_body_buffer_size");

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_DECLINED;
    }

    if (r->request_body->temp_file) {
        /*
         * CMS bodies are a few hundred bytes.  One that spilled to disk
         * would need a blocking read to be understood, so it is refused
         * rather than proxied unexamined.
         */

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "cms: %V", &too_big);

        return ngx_cms_send_failure(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                    "parameterError", "parameter", "body",
                                    "error", "tooLarge", &too_big);
    }

    /* request_body_in_single_buf: at most one memory buffer */

    len = 0;
    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len == 0) {
        return NGX_DECLINED;
    }

    cl = r->request_body->bufs;
    b = cl->buf;

    if (cl->next == NULL) {
        body = b->pos;

    } else {
        body = ngx_pnalloc(r->pool, len);
        if (body == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        len = 0;
        for ( /* void */ ; cl; cl = cl->next) {
            b = cl->buf;

            /* an empty buffer may have no memory: memcpy(NULL) is UB */
            if (b->last == b->pos) {
                continue;
            }

            ngx_memcpy(body + len, b->pos, b->last - b->pos);
            len += b->last - b->pos;
        }
    }

    /*
     * Room for NGX_CMS_FEW_PARAMS parameters first (a TMS PUT has four),
     * in the context's block, not for cms_max_params of them: 64 would
     * take 4.5 KB of the pool, a malloc() of its own.  A body with more
     * is parsed again with room for as many as it can hold (components
     * are split on '&'), up to cms_max_params.  The first parse stops at
     * the first component past its room, before looking into it, so the
     * second one gives what one parse with all the room would give.
     * The scratch for the decoded names and values follows them.
     */

    n = ngx_min(NGX_CMS_FEW_PARAMS, lcf->max_params);

    params = ngx_cms_ctx_palloc(ctx, r->pool,
                                n * sizeof(ngx_cms_form_param_t)
                                + NGX_CMS_FORM_SCRATCH_SIZE(len));
    if (params == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    scratch = (u_char *) (params + n);

    rc = ngx_cms_form_parse(body, len, scratch, NGX_CMS_FORM_SCRATCH_SIZE(len),
                            params, n, &n, &err);

    if (rc == NGX_CMS_FORM_E_TOO_MANY && lcf->max_params > NGX_CMS_FEW_PARAMS) {

        n = 1;
        last = body + len;

        for (p = body;
             n < lcf->max_params && (p = memchr(p, '&', last - p)) != NULL;
             p++)
        {
            n++;
        }

        params = ngx_palloc(r->pool, n * sizeof(ngx_cms_form_param_t));
        if (params == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_cms_form_parse(body, len, scratch,
                                NGX_CMS_FORM_SCRATCH_SIZE(len), params, n, &n,
                                &err);
    }

    if (rc != 0) {
        reason.data = ngx_pnalloc(r->pool, 128);
        if (reason.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        reason.len = ngx_snprintf(reason.data, 128,
                                  "malformed urlencoded body: %s at byte %uz",
                                  err.message, err.offset)
                     - reason.data;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "cms: %V", &reason);

        return ngx_cms_send_failure(r, NGX_HTTP_BAD_REQUEST,
                                    "parameterError", "parameter", "body",
                                    "error", "malformedBody", &reason);
    }

    /*
     * The bridge's view of the body: names without case, and no name
     * given twice, since which copy the bridge acts on is undocumented
     * and a decision (the operation, a policy rule) could rest on the
     * other one.
     */

    dup = ngx_cms_form_repeated(params, n);

    if (dup != NULL) {
        return ngx_cms_refuse_repeated(r, dup);
    }

    ctx->params = params;
    ctx->nparams = n;

    /*
     * CMS moves only with an id: an empty movedParticipant= dials out.
     * Only a participant's creation can be a move, so only its body is
     * looked into.
     */

    if (ngx_cms_api_may_move(&ctx->api)) {
        moved = ngx_cms_form_get(params, n, "movedParticipant");

        ctx->operation = ngx_cms_api_refine(&ctx->api,
                                            moved != NULL && moved->value_len);
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_cms_refuse_repeated(ngx_http_request_t *r, ngx_cms_form_param_t *dup)
{
    size_t      i;
    u_char     *name;
    ngx_str_t   reason;
    ngx_uint_t  plain;

    /* the name is echoed only when it is a plain word, as CMS's are */

    plain = (dup->name_len <= 64);

    for (i = 0; plain && i < dup->name_len; i++) {
        plain = (isalnum(dup->name[i]) || dup->name[i] == '_');
    }

    /* and as a C string: the name is the body's own bytes */

    name = ngx_pnalloc(r->pool, dup->name_len + 1);
    reason.data = ngx_pnalloc(r->pool, 160);

    if (name == NULL || reason.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_cpymem(name, dup->name, dup->name_len) = '\0';

    reason.len = ngx_snprintf(reason.data, 160,
                              "parameter \"%*s\" given more than once "
                              "(names are compared without case)",
                              plain ? dup->name_len : 1,
                              plain ? dup->name : (u_char *) "?")
                 - reason.data;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0, "cms: %V", &reason);

    return ngx_cms_send_failure(r, NGX_HTTP_BAD_REQUEST, "parameterError",
                                "parameter",
                                plain ? (char *) name : "body",
                                "error", "ambiguous", &reason);
}
