
/*
 * ngx_cms Redis client: "cms_redis_stream <key>|off [maxlen=<n>]", one
 * stream record per request, appended from the log phase so that every
 * request counts, answered, denied or aborted.  It exercises the stream
 * without the audit plugin, which calls the same
 * ngx_cms_redis_stream_add().
 *
 *   {"ts":<ms>,"id":"<$cms_request_id>","method":"GET","uri":"<as sent>",
 *    "status":<$status>}
 */


#include "ngx_cms_redis_int.h"


/* cms_redis_stream <key>|off [maxlen=<n>]: one record per request */

char *
ngx_cms_redis_stream_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_redis_loc_conf_t  *rlcf = conf;

    ngx_int_t                   n;
    ngx_str_t                  *value, name;
    ngx_uint_t                  i;
    ngx_cms_redis_main_conf_t  *rmcf;

    if (rlcf->stream_key.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts > 2) {
            return "takes no parameters after \"off\"";
        }

        ngx_str_set(&rlcf->stream_key, "");
        rlcf->stream_maxlen = 0;
        return NGX_CONF_OK;
    }

    if (ngx_cms_redis_stream_key_valid(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid stream key \"%V\" in \"%V\": 1 to 512 "
                           "bytes, no white space", &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    rlcf->stream_key = value[1];
    rlcf->stream_maxlen = NGX_CMS_REDIS_STREAM_MAXLEN;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "maxlen=", 7) == 0) {
            n = ngx_atoi(value[i].data + 7, value[i].len - 7);
            if (n == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\" in \"%V\": a number, "
                                   "0 for no cap", &value[i], &cmd->name);
                return NGX_CONF_ERROR;
            }

            rlcf->stream_maxlen = n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\"",
                           &value[i], &cmd->name);
        return NGX_CONF_ERROR;
    }

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_cms_redis_module);

    if (!rmcf->stream_used) {
        rmcf->stream_used = 1;
        rmcf->stream_file = cf->conf_file->file.name.data;
        rmcf->stream_line = cf->conf_file->line;
    }

    if (rmcf->request_id_index == NGX_CONF_UNSET) {
        /* the http module's cheap id, the one the audit records carry */
        ngx_str_set(&name, "cms_request_id");
        rmcf->request_id_index = ngx_http_get_variable_index(cf, &name);

        if (rmcf->request_id_index == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_cms_redis_stream_postconfiguration(ngx_conf_t *cf,
    ngx_cms_redis_main_conf_t *rmcf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    if (rmcf->stream_used && !rmcf->enabled) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"cms_redis_stream\" in %s:%ui needs \"cms_redis\" "
                      "or \"cms_redis_sentinel\" in http{}",
                      rmcf->stream_file, rmcf->stream_line);
        return NGX_ERROR;
    }

    if (!rmcf->enabled) {
        return NGX_OK;
    }

    if (ngx_cms_redis_stream_configure(cf, rmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!rmcf->stream_used) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_cms_redis_stream_log_handler;

    return NGX_OK;
}


/* {"ts":<ms>,"id":"<request id>","method":"..","uri":"..","status":<n>} */

ngx_int_t
ngx_cms_redis_stream_log_handler(ngx_http_request_t *r)
{
    ngx_str_t                   id, record;
    ngx_cms_json_t              j;
    ngx_uint_t                  status;
    ngx_msec_t                  ts;
    ngx_time_t                 *tp;
    ngx_http_variable_value_t  *vv;
    ngx_cms_redis_loc_conf_t   *rlcf;
    ngx_cms_redis_main_conf_t  *rmcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_cms_redis_module);

    if (rlcf->stream_key.len == 0) {
        return NGX_OK;
    }

    rmcf = ngx_http_get_module_main_conf(r, ngx_cms_redis_module);

    ngx_str_null(&id);

    if (rmcf->request_id_index != NGX_CONF_UNSET) {
        vv = ngx_http_get_indexed_variable(r, rmcf->request_id_index);

        if (vv && !vv->not_found) {
            id.data = vv->data;
            id.len = vv->len;
        }
    }

    if (r->err_status) {
        status = r->err_status;

    } else {
        status = r->headers_out.status;
    }

    tp = ngx_timeofday();
    ts = (ngx_msec_t) tp->sec * 1000 + tp->msec;

    if (ngx_cms_json_init_pool(&j, r->pool, 256 + r->unparsed_uri.len)
        != NGX_OK)
    {
        return NGX_OK;
    }

    ngx_cms_json_open(&j, '{');
    ngx_cms_json_key_lit(&j, "ts");
    ngx_cms_json_uint(&j, ts);
    ngx_cms_json_key_lit(&j, "id");
    ngx_cms_json_string(&j, id.data, id.len);
    ngx_cms_json_key_lit(&j, "method");
    ngx_cms_json_string(&j, r->method_name.data, r->method_name.len);
    ngx_cms_json_key_lit(&j, "uri");
    ngx_cms_json_string(&j, r->unparsed_uri.data, r->unparsed_uri.len);
    ngx_cms_json_key_lit(&j, "status");
    ngx_cms_json_uint(&j, status);
    ngx_cms_json_close(&j, '}');

    if (!ngx_cms_json_fits(&j)) {
        return NGX_OK;
    }

    record.data = j.start;
    record.len = j.pos - j.start;

    (void) ngx_cms_redis_stream_add(&rlcf->stream_key, rlcf->stream_maxlen,
                                    &record);

    return NGX_OK;
}
