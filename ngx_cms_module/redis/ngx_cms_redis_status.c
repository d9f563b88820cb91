
/*
 * ngx_cms Redis client: health as JSON, and "cms_redis_status", a content
 * handler that returns it (until a general status endpoint takes it in).
 * The view is the answering worker's: every worker has its own
 * connections and counters.
 */


#include "ngx_cms_redis_int.h"
#include "ngx_cms_json_pool.h"


static void ngx_cms_redis_status_conn(ngx_cms_json_t *j,
    ngx_cms_redis_conn_t *conn);
static ngx_int_t ngx_cms_redis_status_handler(ngx_http_request_t *r);


static const char  *ngx_cms_redis_states[] = {
    "down", "connecting", "connected", "closing"
};


ngx_int_t
ngx_cms_redis_status_json(ngx_pool_t *pool, ngx_str_t *out)
{
    ngx_cms_json_t           j;
    ngx_cms_redis_conn_t    *cmd;
    ngx_cms_redis_worker_t  *w;

    w = &ngx_cms_redis_worker;

    if (!w->running) {
        ngx_str_set(out, "{\"configured\":false}");
        return NGX_OK;
    }

    cmd = &w->cmd;

    if (ngx_cms_json_init_pool(&j, pool, 2048) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_cms_json_printf(&j,
                        "{\"configured\":true,\"pid\":%P,\"connected\":%s,"
                        "\"available\":%s,",
                        ngx_pid,
                        cmd->state == NGX_CMS_REDIS_READY ? "true" : "false",
                        ngx_cms_redis_available() ? "true" : "false");

    ngx_cms_redis_status_conn(&j, cmd);

    ngx_cms_json_printf(&j, ",\"orphaned\":%ui,\"pubsub\":{", w->orphaned);
    ngx_cms_redis_status_conn(&j, &w->pubsub);

    /* the stream's own, with cms_redis_stream_replicas */

    ngx_cms_json_raw(&j, "},\"stream_connection\":", 22);

    if (w->conf->stream_replicas) {
        ngx_cms_json_raw(&j, "{", 1);
        ngx_cms_redis_status_conn(&j, &w->stream);
        ngx_cms_json_raw(&j, "}", 1);

    } else {
        ngx_cms_json_raw(&j, "null", 4);
    }

    ngx_cms_json_raw(&j, ",\"sentinel\":", 12);

    if (w->conf->sentinels) {
        ngx_cms_redis_sentinel_status(&j);
    } else {
        ngx_cms_json_raw(&j, "null", 4);
    }

    ngx_cms_json_raw(&j, ",\"stream\":", 10);
    ngx_cms_redis_stream_status(&j);
    ngx_cms_json_raw(&j, "}", 1);

    if (!ngx_cms_json_fits(&j)) {
        return NGX_ERROR;
    }

    out->data = j.start;
    out->len = j.pos - j.start;

    return NGX_OK;
}


static void
ngx_cms_redis_status_conn(ngx_cms_json_t *j, ngx_cms_redis_conn_t *conn)
{
    ngx_cms_json_raw(j, "\"address\":", 10);

    if (conn->addr.text.len) {
        ngx_cms_json_string(j, conn->addr.text.data, conn->addr.text.len);
    } else {
        ngx_cms_json_raw(j, "null", 4);
    }

    ngx_cms_json_printf(j,
                        ",\"state\":\"%s\",\"since\":%M,\"commands_sent\":%ui"
                        ",\"commands_failed\":%ui,\"connects\":%ui"
                        ",\"disconnects\":%ui,\"last_error\":",
                        ngx_cms_redis_states[conn->state], conn->since,
                        conn->sent, conn->failed, conn->connects,
                        conn->disconnects);

    if (conn->error_len) {
        ngx_cms_json_string(j, conn->error, conn->error_len);
        ngx_cms_json_printf(j, ",\"last_error_at\":%M", conn->error_time);

    } else {
        ngx_cms_json_raw(j, "null,\"last_error_at\":null", 25);
    }
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
