
/*
 * ngx_cms: the bridge's answer on its way back, for response hooks.
 *
 * Without a hook that asked for the body, response hooks run in the
 * header filter (status, Location) and the body streams through.  When
 * one asked, an XML answer up to cms_response_buffer bytes is held (the
 * image filter's shape: headers wait for the whole body), parsed once,
 * shown to the hooks, and sent on unchanged or re-serialized with a new
 * Content-Length.  Over the cap, or not XML, it passes through untouched
 * and the hooks are told so.
 */


#include "ngx_cms.h"


static ngx_int_t ngx_cms_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_cms_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_cms_pass_through(ngx_http_request_t *r,
    ngx_cms_ctx_t *ctx, ngx_chain_t *rest);
static ngx_int_t ngx_cms_send_buffered(ngx_http_request_t *r,
    ngx_cms_ctx_t *ctx);
static void ngx_cms_free_doc(void *data);
static ngx_int_t ngx_cms_error_header(ngx_http_request_t *r,
    ngx_cms_ctx_t *ctx);
static ngx_str_t *ngx_cms_answering_bridge(ngx_http_request_t *r,
    ngx_cms_ctx_t *ctx);
static ngx_int_t ngx_cms_credentials_rejected(ngx_http_request_t *r,
    ngx_cms_ctx_t *ctx);
static ngx_uint_t ngx_cms_answers_empty(const char *operation);
static ngx_int_t ngx_cms_answer_invalid(ngx_http_request_t *r,
    ngx_cms_ctx_t *ctx);
static ngx_int_t ngx_cms_error_answer(ngx_http_request_t *r,
    ngx_cms_ctx_t *ctx, const char *element, const char *error,
    ngx_str_t *reason);
static ngx_int_t ngx_cms_error_body(ngx_http_request_t *r,
    ngx_cms_ctx_t *ctx, ngx_chain_t *in);


/*
 * nginx's own error pages (413 from client_max_body_size, 502/504 when no
 * bridge answered, ...) become failureDetails in a cms_api location, so
 * CMS-aware clients read them as failed API calls.
 */

typedef struct {
    ngx_uint_t    status;
    const char   *element;
    const char   *error;
    const char   *reason;
} ngx_cms_error_map_t;


static ngx_cms_error_map_t  ngx_cms_error_map[] = {
    { 400, "parameterError", "badRequest", "malformed request" },
    { 405, "invalidOperation", NULL, "method not allowed" },
    { 408, "parameterError", "requestTimeout",
      "request not received in time" },
    { 413, "parameterError", "tooLarge",
      "request body larger than client_max_body_size" },
    { 414, "parameterError", "uriTooLong", "request URI too long" },
    { 500, "internalError", NULL, "proxy error" },
    { 502, "callBridgeUnavailable", NULL, "no answer from the call bridge" },
    { 503, "callBridgeUnavailable", NULL, "call bridge unavailable" },
    { 504, "callBridgeUnavailable", NULL,
      "call bridge did not answer in time" },
    { 0, NULL, NULL, NULL }
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_cms_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_cms_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_cms_body_filter;

    return NGX_OK;
}


static ngx_uint_t
ngx_cms_is_xml(ngx_http_request_t *r)
{
    ngx_str_t  *type;

    type = &r->headers_out.content_type;

    return (type->len >= 8
            && (ngx_strncasecmp(type->data, (u_char *) "text/xml", 8) == 0
                || (type->len >= 15
                    && ngx_strncasecmp(type->data,
                                       (u_char *) "application/xml", 15)
                       == 0)));
}


static ngx_int_t
ngx_cms_header_filter(ngx_http_request_t *r)
{
    ngx_cms_ctx_t       *ctx;
    ngx_cms_loc_conf_t  *lcf;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_cms_module);

    if (r->headers_out.status == NGX_HTTP_UNAUTHORIZED
        && r->upstream != NULL
        && lcf->credentials == NGX_CMS_CREDENTIALS_INJECT)
    {
        ctx = ngx_http_get_module_ctx(r, ngx_http_cms_module);

        if (ctx != NULL && ctx->state == NGX_CMS_STATE_PROXY) {
            return ngx_cms_credentials_rejected(r, ctx);
        }
    }

    if (r->headers_out.status == NGX_HTTP_OK
        && r->headers_out.content_length_n > 0
        && (r->method & (NGX_HTTP_POST|NGX_HTTP_PUT|NGX_HTTP_DELETE))
        && r->upstream != NULL
        && lcf->enable)
    {
        ctx = ngx_http_get_module_ctx(r, ngx_http_cms_module);

        if (ctx != NULL && ctx->state == NGX_CMS_STATE_PROXY
            && ngx_cms_answers_empty(ctx->operation))
        {
            return ngx_cms_answer_invalid(r, ctx);
        }
    }

    if (r->err_status >= NGX_HTTP_BAD_REQUEST && lcf->enable) {
        ctx = ngx_cms_classify(r);
        if (ctx != NULL) {
            return ngx_cms_error_header(r, ctx);
        }
    }

    if (!lcf->has_response_hooks) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_cms_module);

    /* our own answers (denials, bad input) are not the bridge's */

    if (ctx == NULL || ctx->state != NGX_CMS_STATE_PROXY
        || r->upstream == NULL)
    {
        return ngx_http_next_header_filter(r);
    }

    if (ctx->call.response_body_wanted
        && r->headers_out.status == NGX_HTTP_OK
        && !r->header_only
        && ngx_cms_is_xml(r)
        && (r->headers_out.content_encoding == NULL
            || r->headers_out.content_encoding->value.len == 0))
    {
        if (r->headers_out.content_length_n > (off_t) lcf->response_buffer) {
            ctx->call.response_too_big = 1;

        } else {
            ctx->buffering = 1;
            r->allow_ranges = 0;

            /* the headers go out with the body, when it is complete */
            return NGX_OK;
        }
    }

    ngx_cms_run_response_hooks(r, ctx);

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_cms_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t               size, cap;
    ngx_buf_t           *b;
    ngx_uint_t           last;
    ngx_chain_t         *cl;
    ngx_cms_ctx_t       *ctx;
    ngx_cms_loc_conf_t  *lcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_cms_module);

    if (ctx != NULL && ctx->error_page) {
        return ngx_cms_error_body(r, ctx, in);
    }

    if (ctx == NULL || !ctx->buffering || in == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_cms_module);
    cap = lcf->response_buffer;

    if (ctx->response == NULL) {
        size = (r->headers_out.content_length_n > 0)
               ? (size_t) r->headers_out.content_length_n : cap;

        ctx->response = ngx_create_temp_buf(r->pool, size ? size : 1);
        if (ctx->response == NULL) {
            return NGX_ERROR;
        }
    }

    b = ctx->response;
    last = 0;

    for (cl = in; cl; cl = cl->next) {

        if (cl->buf->in_file && !ngx_buf_in_memory(cl->buf)) {
            /* spilled to a temp file: reading it would block */
            ctx->call.response_too_big = 1;
            return ngx_cms_pass_through(r, ctx, cl);
        }

        size = cl->buf->last - cl->buf->pos;

        if (size > (size_t) (b->end - b->last)) {
            ctx->call.response_too_big = 1;
            return ngx_cms_pass_through(r, ctx, cl);
        }

        /* an empty buffer (the last_buf one) may have no memory at all */
        if (size) {
            b->last = ngx_cpymem(b->last, cl->buf->pos, size);
            cl->buf->pos = cl->buf->last;
        }

        if (cl->buf->last_buf || cl->buf->last_in_chain) {
            last = 1;
        }
    }

    if (!last) {
        return NGX_OK;
    }

    ctx->buffering = 0;

    return ngx_cms_send_buffered(r, ctx);
}


/* too big or unreadable: what we hold, then the rest, as it came */

static ngx_int_t
ngx_cms_pass_through(ngx_http_request_t *r, ngx_cms_ctx_t *ctx,
    ngx_chain_t *rest)
{
    ngx_int_t     rc;
    ngx_chain_t  *held;

    ctx->buffering = 0;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "cms: answer to %V over cms_response_buffer, "
                  "passed through unexamined", &ctx->call.operation);

    ngx_cms_run_response_hooks(r, ctx);

    rc = ngx_http_next_header_filter(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    if (ngx_buf_size(ctx->response) == 0) {
        return ngx_http_next_body_filter(r, rest);
    }

    held = ngx_alloc_chain_link(r->pool);
    if (held == NULL) {
        return NGX_ERROR;
    }

    held->buf = ctx->response;
    held->next = rest;

    return ngx_http_next_body_filter(r, held);
}


static ngx_int_t
ngx_cms_send_buffered(ngx_http_request_t *r, ngx_cms_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_str_t            body;
    ngx_buf_t           *b;
    ngx_chain_t          out;

    b = ctx->response;

    /*
     * Parsed when a hook first asks for the tree (or whether it is well
     * formed): a hook that can tell from the bytes that it has nothing
     * to learn (ngx_cms_response_body()) costs no parse.
     */

    ctx->body_ready = 1;

    ngx_cms_run_response_hooks(r, ctx);

    if (ctx->doc && ctx->call.response_changed) {
        if (ngx_cms_xml_serialize(r->pool, ctx->doc, b->pos,
                                  b->last - b->pos, &body)
            == NGX_OK)
        {
            b->pos = body.data;
            b->last = body.data + body.len;

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "cms: could not re-serialize the answer to %V, "
                          "sent unchanged", &ctx->call.operation);
        }
    }

    b->last_buf = 1;
    b->last_in_chain = 1;

    ngx_http_clear_content_length(r);
    r->headers_out.content_length_n = b->last - b->pos;

    rc = ngx_http_next_header_filter(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


/* the buffered answer as a tree, parsed once, on first demand */

void
ngx_cms_response_parse(ngx_cms_ctx_t *ctx)
{
    ngx_buf_t           *b;
    ngx_uint_t           malformed;
    ngx_http_request_t  *r;
    ngx_pool_cleanup_t  *cln;

    if (ctx->parsed || !ctx->body_ready) {
        return;
    }

    ctx->parsed = 1;

    r = ctx->call.request;
    b = ctx->response;

    if (r == NULL || b == NULL) {
        return;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return;
    }

    ctx->doc = ngx_cms_xml_parse(r->connection->log, b->pos,
                                 b->last - b->pos, &malformed);

    ctx->call.response_malformed = malformed;

    if (ctx->doc) {
        cln->handler = ngx_cms_free_doc;
        cln->data = ctx;
    }
}


static void
ngx_cms_free_doc(void *data)
{
    ngx_cms_ctx_t  *ctx = data;

    if (ctx->doc) {
        xmlFreeDoc(ctx->doc);
        ctx->doc = NULL;
    }
}


/* the bridge whose answer this is, for the error log */

static ngx_str_t *
ngx_cms_answering_bridge(ngx_http_request_t *r, ngx_cms_ctx_t *ctx)
{
    static ngx_str_t  unknown = ngx_string("?");

    if (ctx->bridge) {
        return &ctx->bridge->name;
    }

    return r->upstream->peer.name ? r->upstream->peer.name : &unknown;
}


/*
 * The bridge refused the credentials the proxy injected.  Passed on as
 * it came (401 with the bridge's WWW-Authenticate) it would read as the
 * client's own login failing, and clients such as TMS prompt for a new
 * password or lock the account; it is the proxy's failure, answered as
 * one: 502 in CMS style, with the reason.
 */

static ngx_int_t
ngx_cms_credentials_rejected(ngx_http_request_t *r, ngx_cms_ctx_t *ctx)
{
    ngx_str_t        *bridge;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    bridge = ngx_cms_answering_bridge(r, ctx);

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "cms: bridge \"%V\" rejected the proxy's credentials "
                  "(401): check its cms_bridge user= and password=", bridge);

    /* the bridge's challenge is copied as a plain header line */

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

        if (h[i].key.len == sizeof("WWW-Authenticate") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "WWW-Authenticate",
                               sizeof("WWW-Authenticate") - 1) == 0)
        {
            h[i].hash = 0;
        }
    }

    r->headers_out.www_authenticate = NULL;

    r->headers_out.status = NGX_HTTP_BAD_GATEWAY;
    r->headers_out.status_line.len = 0;

    ngx_str_set(&ctx->call.reason,
                "the call bridge rejected the proxy's credentials");

    return ngx_cms_error_answer(r, ctx, "callBridgeUnavailable",
                                "credentialsRejected", &ctx->call.reason);
}


/*
 * The writes CMS answers with 200 and an empty body when it carried them
 * out (cms-api-notes.md 1.2): creations (with Location), changes and
 * deletions.  Its actions may answer with a body (POST /accessQuery
 * returns what it found), and an unknown operation is not judged.
 */

static ngx_uint_t
ngx_cms_answers_empty(const char *operation)
{
    const char  *verb;
    ngx_uint_t   i;

    static const char  *verbs[] = {
        "create", "modify", "delete", "modifyAll", "deleteAll", "move"
    };

    verb = (operation != NULL) ? strrchr(operation, '.') : NULL;

    if (verb == NULL) {
        return 0;
    }

    for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcmp(verb + 1, verbs[i]) == 0) {
            return 1;
        }
    }

    return 0;
}


/*
 * CMS answers every such write it carried out with an empty 200 (above);
 * a 200 with a body is something else speaking for the bridge (a broken
 * bridge, a portal, a load balancer's page).  Passed on, the client and
 * the plugins would take the write as done (a slot checked out that the
 * bridge never changed); whether it was applied is unknown, so it is
 * answered as a failed bridge: 502, and counted against the bridge's
 * health when the peer is let go (ngx_cms_free_peer()).  An answer of
 * unknown length (chunked) cannot be told without waiting for its body,
 * and passes.
 */

static ngx_int_t
ngx_cms_answer_invalid(ngx_http_request_t *r, ngx_cms_ctx_t *ctx)
{
    ngx_str_t  *bridge;

    bridge = ngx_cms_answering_bridge(r, ctx);

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "cms: bridge \"%V\" answered %s with 200 and a body of "
                  "%O bytes, which CMS never does for it: answered 502",
                  bridge, ctx->operation,
                  r->headers_out.content_length_n);

    ctx->answer_invalid = 1;
    ctx->call.upstream_failed = 1;

    r->headers_out.status = NGX_HTTP_BAD_GATEWAY;
    r->headers_out.status_line.len = 0;

    /* no object was made that the client may be pointed at */

    if (r->headers_out.location) {
        r->headers_out.location->hash = 0;
        r->headers_out.location = NULL;
    }

    if (r->headers_out.content_encoding) {
        r->headers_out.content_encoding->hash = 0;
        r->headers_out.content_encoding = NULL;
    }

    ngx_str_set(&ctx->call.reason, "the call bridge answered a write with "
                "a body, which CMS does not do; it may or may not have "
                "been applied");

    return ngx_cms_error_answer(r, ctx, "callBridgeUnavailable",
                                "bridgeAnswerInvalid", &ctx->call.reason);
}


static ngx_int_t
ngx_cms_error_header(ngx_http_request_t *r, ngx_cms_ctx_t *ctx)
{
    ngx_str_t             reason;
    ngx_cms_error_map_t  *m;

    for (m = ngx_cms_error_map; m->status; m++) {
        if (m->status == r->headers_out.status) {
            break;
        }
    }

    if (m->status == 0 || r->header_only) {
        return ngx_http_next_header_filter(r);
    }

    ctx->call.upstream_failed = (r->headers_out.status >= 502);

    reason.data = (u_char *) m->reason;
    reason.len = ngx_strlen(m->reason);

    return ngx_cms_error_answer(r, ctx, m->element, m->error, &reason);
}


/* our failureDetails replaces whatever body the status came with */

static ngx_int_t
ngx_cms_error_answer(ngx_http_request_t *r, ngx_cms_ctx_t *ctx,
    const char *element, const char *error, ngx_str_t *reason)
{
    size_t            len;
    u_char           *p;
    ngx_buf_t        *b;
    ngx_table_elt_t  *h;

    len = sizeof("<?xml version=\"1.0\"?>\n<failureDetails><") - 1
          + ngx_strlen(element)
          + (error ? sizeof(" error=\"\"") - 1 + ngx_strlen(error) : 0)
          + sizeof(" /></failureDetails>") - 1;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(b->pos, "<?xml version=\"1.0\"?>\n<failureDetails><%s",
                    element);

    if (error) {
        p = ngx_sprintf(p, " error=\"%s\"", error);
    }

    b->last = ngx_cpymem(p, " /></failureDetails>",
                         sizeof(" /></failureDetails>") - 1);
    b->last_buf = 1;
    b->last_in_chain = 1;

    ctx->response = b;
    ctx->error_page = 1;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Cms-Proxy-Reason");
    h->value = *reason;

    if (ngx_cms_request_id_header(r) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_str_set(&r->headers_out.content_type, "text/xml");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    ngx_http_clear_content_length(r);
    r->headers_out.content_length_n = b->last - b->pos;

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_cms_error_body(ngx_http_request_t *r, ngx_cms_ctx_t *ctx,
    ngx_chain_t *in)
{
    ngx_chain_t   out, *cl;
    ngx_uint_t    last;

    /* nginx's HTML page is dropped; ours goes once, as the whole body */

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;

        if (cl->buf->last_buf) {
            last = 1;
        }
    }

    if (!last || ctx->response == NULL) {
        return NGX_OK;
    }

    out.buf = ctx->response;
    out.next = NULL;
    ctx->response = NULL;

    return ngx_http_next_body_filter(r, &out);
}
