
/*
 * ngx_cms: "cms_dashboard [status=<uri>] [slots=<uri>] [metrics=<uri>]
 * [admin=<uri>] [recovery=<uri>];" -- one self-contained page (HTML, CSS
 * and JS in ngx_cms_dashboard_html.h, generated from
 * dashboard/index.html) that polls the status JSON and draws it.
 * Nothing comes from elsewhere.
 *
 * "?recent" on the page's URI answers the last refusals as JSON (rule,
 * operation, role, why, and whether it was only reported), which the
 * metrics cannot carry: reasons are free text.
 *
 * The page gets its configuration inline, in place of the comment
 * CMS_CONFIG: the URIs to poll and, only when nginx verified the user
 * (auth_basic) and admin= is given, the admin URI -- the buttons exist
 * only then.
 */


#include "ngx_cms.h"
#include "ngx_cms_metrics.h"
#include "ngx_cms_dashboard_html.h"


#define NGX_CMS_DASHBOARD_MARK  "/*CMS_CONFIG*/"


static ngx_int_t ngx_cms_dashboard_handler(ngx_http_request_t *r);
static ngx_int_t ngx_cms_dashboard_recent(ngx_http_request_t *r);

char *ngx_cms_dashboard_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


/*
 * The URIs end up in a JavaScript string: only the characters of a path
 * are accepted, so nothing needs escaping.
 */

static ngx_int_t
ngx_cms_dashboard_uri_valid(ngx_str_t *v)
{
    size_t  i;

    if (v->len == 0 || v->data[0] != '/') {
        return 0;
    }

    for (i = 0; i < v->len; i++) {
        if (!((v->data[i] >= 'a' && v->data[i] <= 'z')
              || (v->data[i] >= 'A' && v->data[i] <= 'Z')
              || (v->data[i] >= '0' && v->data[i] <= '9')
              || v->data[i] == '/' || v->data[i] == '-'
              || v->data[i] == '_' || v->data[i] == '.'
              || v->data[i] == '~'))
        {
            return 0;
        }
    }

    return 1;
}


char *
ngx_cms_dashboard_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_dashboard_conf_t  *dcf = conf;

    size_t                     n;
    ngx_str_t                 *value, *dst, v;
    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *clcf;

    static const char  *names[] = { "status=", "slots=", "metrics=",
                                    "admin=", "recovery=", NULL };

    if (dcf->status.len) {
        return "is duplicate";
    }

    ngx_str_set(&dcf->status, "/cms-status");
    ngx_str_set(&dcf->slots, "/cms-slots");
    ngx_str_set(&dcf->metrics, "/metrics");

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        for (n = 0; names[n]; n++) {
            if (ngx_strncmp(value[i].data, names[n], ngx_strlen(names[n]))
                == 0)
            {
                break;
            }
        }

        if (names[n] == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" (status=, slots=, "
                               "metrics=, admin=, recovery=)", &value[i]);
            return NGX_CONF_ERROR;
        }

        dst = (n == 0) ? &dcf->status : (n == 1) ? &dcf->slots
              : (n == 2) ? &dcf->metrics : (n == 3) ? &dcf->admin
              : &dcf->recovery;

        v.data = value[i].data + ngx_strlen(names[n]);
        v.len = value[i].len - ngx_strlen(names[n]);

        if (!ngx_cms_dashboard_uri_valid(&v)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid URI in \"%V\": a path of letters, "
                               "digits and /-_.~", &value[i]);
            return NGX_CONF_ERROR;
        }

        *dst = v;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_cms_dashboard_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_cms_dashboard_handler(ngx_http_request_t *r)
{
    u_char                    *mark, *p;
    size_t                     len;
    ngx_int_t                  rc;
    ngx_buf_t                 *b[3];
    ngx_str_t                  user, page;
    ngx_uint_t                 i;
    ngx_chain_t                out[3];
    ngx_table_elt_t           *h;
    ngx_cms_dashboard_conf_t  *dcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (r->args.len == 6 && ngx_strncmp(r->args.data, "recent", 6) == 0) {
        return ngx_cms_dashboard_recent(r);
    }

    dcf = ngx_http_get_module_loc_conf(r, ngx_cms_metrics_module);

    page.data = (u_char *) ngx_cms_dashboard_html;
    page.len = sizeof(ngx_cms_dashboard_html) - 1;

    mark = ngx_strnstr(page.data, NGX_CMS_DASHBOARD_MARK, page.len);
    if (mark == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* admin buttons only for a user nginx verified */

    ngx_cms_verified_user(r, &user);

    if (user.len == 0) {
        ngx_str_null(&user);
    }

    for (i = 0; i < 3; i++) {
        b[i] = ngx_calloc_buf(r->pool);
        if (b[i] == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        out[i].buf = b[i];
        out[i].next = (i < 2) ? &out[i + 1] : NULL;
    }

    b[0]->pos = page.data;
    b[0]->last = mark;
    b[0]->memory = 1;

    len = sizeof("window.CMS_CONFIG={\"status\":\"\",\"slots\":\"\","
                 "\"metrics\":\"\",\"admin\":\"\",\"recovery\":\"\"};")
          + dcf->status.len + dcf->slots.len + dcf->metrics.len
          + dcf->admin.len + dcf->recovery.len;

    b[1]->start = ngx_pnalloc(r->pool, len);
    if (b[1]->start == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_snprintf(b[1]->start, len,
                     "window.CMS_CONFIG={\"status\":\"%V\",\"slots\":\"%V\","
                     "\"metrics\":\"%V\",\"admin\":\"%V\","
                     "\"recovery\":\"%V\"};",
                     &dcf->status, &dcf->slots, &dcf->metrics,
                     user.len ? &dcf->admin : &user, &dcf->recovery);

    b[1]->pos = b[1]->start;
    b[1]->last = p;
    b[1]->end = b[1]->start + len;
    b[1]->temporary = 1;

    b[2]->pos = mark + sizeof(NGX_CMS_DASHBOARD_MARK) - 1;
    b[2]->last = page.data + page.len;
    b[2]->memory = 1;
    b[2]->last_buf = (r == r->main) ? 1 : 0;
    b[2]->last_in_chain = 1;

    /* the page loads nothing from elsewhere, and says so to the browser */

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Content-Security-Policy");
    ngx_str_set(&h->value, "default-src 'none'; script-src 'unsafe-inline'; "
                "style-src 'unsafe-inline'; connect-src 'self'; "
                "img-src 'self' data:");

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = (b[0]->last - b[0]->pos)
                                      + (b[1]->last - b[1]->pos)
                                      + (b[2]->last - b[2]->pos);
    ngx_str_set(&r->headers_out.content_type, "text/html; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/html") - 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, &out[0]);
}


static ngx_int_t
ngx_cms_dashboard_recent(ngx_http_request_t *r)
{
    ngx_uint_t                 i, n;
    ngx_cms_json_t             j;
    ngx_cms_metrics_recent_t  *d;

    d = ngx_palloc(r->pool,
                   NGX_CMS_METRICS_RECENT * sizeof(ngx_cms_metrics_recent_t));
    if (d == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = ngx_cms_metrics_recent(d);

    if (ngx_cms_json_init_pool(&j, r->pool, 4096) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_cms_json_printf(&j, "{\"metrics\":%s,\"recent\":[",
                        ngx_cms_metrics_enabled() ? "true" : "false");

    for (i = 0; i < n; i++) {
        ngx_cms_json_raw(&j, (u_char *) (i ? ",{\"at\":" : "{\"at\":"),
                         i ? 7 : 6);
        ngx_cms_json_time(&j, d[i].at);
        ngx_cms_json_printf(&j, ",\"status\":%ui,\"report_only\":%s,"
                            "\"rule\":", d[i].status,
                            d[i].report ? "true" : "false");
        ngx_cms_json_string(&j, d[i].rule, d[i].rule_len);
        ngx_cms_json_raw(&j, (u_char *) ",\"plugin\":", 10);
        ngx_cms_json_string(&j, d[i].plugin, d[i].plugin_len);
        ngx_cms_json_raw(&j, (u_char *) ",\"operation\":", 13);
        ngx_cms_json_string(&j, d[i].operation, d[i].operation_len);
        ngx_cms_json_raw(&j, (u_char *) ",\"role\":", 8);
        ngx_cms_json_string(&j, d[i].role, d[i].role_len);
        ngx_cms_json_raw(&j, (u_char *) ",\"reason\":", 10);
        ngx_cms_json_string(&j, d[i].reason, d[i].reason_len);
        ngx_cms_json_raw(&j, (u_char *) "}", 1);
    }

    ngx_cms_json_raw(&j, (u_char *) "]}\n", 3);

    return ngx_cms_json_send(r, NGX_HTTP_OK, &j);
}
