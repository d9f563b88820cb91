
/*
 * ngx_cms Redis client: health as JSON, and "cms_redis_status", a content
 * handler that returns it (until a general status endpoint takes it in).
 * The view is the answering worker's: every worker has its own
 * connections and counters.
 */


#include "ngx_cms_redis_int.h"
#include "ngx_cms_json_escape.h"


static u_char *ngx_cms_redis_status_conn(u_char *p, u_char *last,
    ngx_cms_redis_conn_t *conn);
static ngx_int_t ngx_cms_redis_status_handler(ngx_http_request_t *r);


static const char  *ngx_cms_redis_states[] = {
    "down", "connecting", "connected", "closing"
};


ngx_int_t
ngx_cms_redis_status_json(ngx_pool_t *pool, ngx_str_t *out)
{
    u_char                  *p, *last;
    size_t                   size;
    ngx_cms_redis_conn_t    *cmd;
    ngx_cms_redis_worker_t  *w;

    w = &ngx_cms_redis_worker;

    if (!w->running) {
        ngx_str_set(out, "{\"configured\":false}");
        return NGX_OK;
    }

    cmd = &w->cmd;

    /* up to three connections */

    size = 3072 + 18 * NGX_CMS_REDIS_ERRLEN
           + ngx_cms_redis_stream_status_size()
           + (w->conf->sentinels ? ngx_cms_redis_sentinel_status_size() : 0);

    p = ngx_pnalloc(pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;
    last = p + size;

    p = ngx_slprintf(p, last,
                     "{\"configured\":true,\"pid\":%P,\"connected\":%s,"
                     "\"available\":%s,",
                     ngx_pid,
                     cmd->state == NGX_CMS_REDIS_READY ? "true" : "false",
                     ngx_cms_redis_available() ? "true" : "false");

    p = ngx_cms_redis_status_conn(p, last, cmd);

    p = ngx_slprintf(p, last, ",\"orphaned\":%ui,\"pubsub\":{",
                     w->orphaned);
    p = ngx_cms_redis_status_conn(p, last, &w->pubsub);

    /* the stream's own, with cms_redis_stream_replicas */

    p = ngx_slprintf(p, last, "},\"stream_connection\":");

    if (w->conf->stream_replicas) {
        p = ngx_slprintf(p, last, "{");
        p = ngx_cms_redis_status_conn(p, last, &w->stream);
        p = ngx_slprintf(p, last, "}");

    } else {
        p = ngx_slprintf(p, last, "null");
    }

    p = ngx_slprintf(p, last, ",\"sentinel\":");

    if (w->conf->sentinels) {
        p = ngx_cms_redis_sentinel_status(p, last);
    } else {
        p = ngx_slprintf(p, last, "null");
    }

    p = ngx_slprintf(p, last, ",\"stream\":");
    p = ngx_cms_redis_stream_status(p, last);
    p = ngx_slprintf(p, last, "}");

    out->len = p - out->data;

    return NGX_OK;
}


static u_char *
ngx_cms_redis_status_conn(u_char *p, u_char *last, ngx_cms_redis_conn_t *conn)
{
    p = ngx_slprintf(p, last, "\"address\":");

    if (conn->addr.text.len) {
        p = ngx_cms_redis_json_str(p, last, conn->addr.text.data,
                                   conn->addr.text.len);
    } else {
        p = ngx_slprintf(p, last, "null");
    }

    p = ngx_slprintf(p, last,
                     ",\"state\":\"%s\",\"since\":%M,\"commands_sent\":%ui"
                     ",\"commands_failed\":%ui,\"connects\":%ui"
                     ",\"disconnects\":%ui,\"last_error\":",
                     ngx_cms_redis_states[conn->state], conn->since,
                     conn->sent, conn->failed, conn->connects,
                     conn->disconnects);

    if (conn->error_len) {
        p = ngx_cms_redis_json_str(p, last, conn->error, conn->error_len);
        p = ngx_slprintf(p, last, ",\"last_error_at\":%M", conn->error_time);

    } else {
        p = ngx_slprintf(p, last, "null,\"last_error_at\":null");
    }

    return p;
}


/* a JSON string; cut short rather than overflow */

u_char *
ngx_cms_redis_json_str(u_char *p, u_char *last, u_char *s, size_t len)
{
    size_t  n;

    n = ngx_cms_json_escaped_len(s, len);

    if (p + n + 2 > last) {
        return ngx_slprintf(p, last, "\"\"");
    }

    *p++ = '"';
    p = ngx_cms_json_escape_utf8(p, s, len);
    *p++ = '"';

    return p;
}


char *
ngx_cms_redis_status_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_cms_redis_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_cms_redis_status_handler(ngx_http_request_t *r)
{
    ngx_int_t    rc;
    ngx_buf_t   *b;
    ngx_str_t    json;
    ngx_chain_t  out;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_cms_redis_status_json(r->pool, &json) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_create_temp_buf(r->pool, json.len + 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, json.data, json.len);
    *b->last++ = LF;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
