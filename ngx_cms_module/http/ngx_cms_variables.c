
/*
 * ngx_cms: what a request means, as nginx variables, so that a log_format,
 * a map or an "if" can use it.  Every variable classifies lazily (a pure,
 * cheap parse of the path), so it also works in the access log of a
 * request that never reached our handler (401 from auth_basic, 404).
 */


#include "ngx_cms.h"


typedef enum {
    NGX_CMS_VAR_OPERATION = 0,
    NGX_CMS_VAR_COLLECTION,
    NGX_CMS_VAR_OBJECT_ID,
    NGX_CMS_VAR_SUB_COLLECTION,
    NGX_CMS_VAR_SUB_ID,
    NGX_CMS_VAR_CALL_ID,
    NGX_CMS_VAR_BRIDGE,
    NGX_CMS_VAR_PARAMS
} ngx_cms_var_e;


static ngx_int_t ngx_cms_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_cms_param_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_cms_params_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, ngx_cms_ctx_t *ctx);
static void ngx_cms_set_span(ngx_http_variable_value_t *v,
    ngx_cms_span_t *span);
static void ngx_cms_set_cstr(ngx_http_variable_value_t *v, const char *s);


static ngx_http_variable_t  ngx_cms_vars[] = {

    { ngx_string("cms_operation"), NULL, ngx_cms_variable,
      NGX_CMS_VAR_OPERATION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("cms_collection"), NULL, ngx_cms_variable,
      NGX_CMS_VAR_COLLECTION, 0, 0 },

    { ngx_string("cms_object_id"), NULL, ngx_cms_variable,
      NGX_CMS_VAR_OBJECT_ID, 0, 0 },

    { ngx_string("cms_sub_collection"), NULL, ngx_cms_variable,
      NGX_CMS_VAR_SUB_COLLECTION, 0, 0 },

    { ngx_string("cms_sub_id"), NULL, ngx_cms_variable,
      NGX_CMS_VAR_SUB_ID, 0, 0 },

    { ngx_string("cms_call_id"), NULL, ngx_cms_variable,
      NGX_CMS_VAR_CALL_ID, 0, 0 },

    { ngx_string("cms_bridge"), NULL, ngx_cms_variable,
      NGX_CMS_VAR_BRIDGE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("cms_params"), NULL, ngx_cms_variable,
      NGX_CMS_VAR_PARAMS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    /* cacheable: made once per request (ngx_cms_request_id.c) */
    { ngx_string("cms_request_id"), NULL, ngx_cms_request_id_variable,
      0, 0, 0 },

    { ngx_string("cms_param_"), NULL, ngx_cms_param_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_cms_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_cms_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_cms_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_cms_ctx_t  *ctx;

    ctx = ngx_cms_classify(r);

    if (ctx == NULL || ctx->api_rc != NGX_CMS_API_OK) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    switch ((ngx_cms_var_e) data) {

    case NGX_CMS_VAR_OPERATION:
        ngx_cms_set_cstr(v, ctx->operation);
        break;

    case NGX_CMS_VAR_COLLECTION:
        if (ctx->api.collection) {
            ngx_cms_set_cstr(v, ctx->api.collection);

        } else {
            ngx_cms_set_span(v, &ctx->api.collection_raw);
        }

        break;

    case NGX_CMS_VAR_OBJECT_ID:
        ngx_cms_set_span(v, &ctx->api.object_id);
        break;

    case NGX_CMS_VAR_SUB_COLLECTION:
        if (ctx->api.sub_collection) {
            ngx_cms_set_cstr(v, ctx->api.sub_collection);

        } else {
            ngx_cms_set_span(v, &ctx->api.sub_raw);
        }

        break;

    case NGX_CMS_VAR_SUB_ID:
        ngx_cms_set_span(v, &ctx->api.sub_id);
        break;

    case NGX_CMS_VAR_CALL_ID:
        ngx_cms_set_span(v, &ctx->api.call_id);
        break;

    case NGX_CMS_VAR_BRIDGE:
        if (ctx->bridge == NULL) {
            v->not_found = 1;
            break;
        }

        v->data = ctx->bridge->name.data;
        v->len = ctx->bridge->name.len;
        break;

    case NGX_CMS_VAR_PARAMS:
        return ngx_cms_params_variable(r, v, ctx);
    }

    return NGX_OK;
}


/*
 * $cms_params: the parameters re-encoded, secrets masked, for logs.
 */

static ngx_int_t
ngx_cms_params_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    ngx_cms_ctx_t *ctx)
{
    size_t                 i, len;
    u_char                *p;
    ngx_str_t              name;
    ngx_cms_form_param_t  *prm;

    static u_char          mask[] = "***";

    len = 0;

    for (i = 0; i < ctx->nparams; i++) {
        prm = &ctx->params[i];

        len += ngx_cms_form_escape(NULL, prm->name, prm->name_len) + 2;

        name.data = prm->name;
        name.len = prm->name_len;

        if (ngx_cms_param_is_secret(&name)) {
            len += sizeof(mask) - 1;

        } else {
            len += ngx_cms_form_escape(NULL, prm->value, prm->value_len);
        }
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    for (i = 0; i < ctx->nparams; i++) {
        prm = &ctx->params[i];

        if (i) {
            *p++ = '&';
        }

        p += ngx_cms_form_escape(p, prm->name, prm->name_len);
        *p++ = '=';

        name.data = prm->name;
        name.len = prm->name_len;

        if (ngx_cms_param_is_secret(&name)) {
            p = ngx_cpymem(p, mask, sizeof(mask) - 1);

        } else {
            p += ngx_cms_form_escape(p, prm->value, prm->value_len);
        }
    }

    v->len = p - v->data;

    return NGX_OK;
}


/*
 * $cms_param_<name>: one decoded parameter (the first of that name).
 * Secrets are not masked here: this is for map/if, not for logging.
 */

static ngx_int_t
ngx_cms_param_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t             *name = (ngx_str_t *) data;

    size_t                 len;
    u_char                *p;
    ngx_cms_ctx_t         *ctx;
    ngx_cms_form_param_t  *prm;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_cms_module);

    v->not_found = 1;

    if (ctx == NULL) {
        return NGX_OK;
    }

    len = name->len - (sizeof("cms_param_") - 1);
    p = name->data + sizeof("cms_param_") - 1;

    /* names without case, as the bridge reads them */

    prm = ngx_cms_form_get_n(ctx->params, ctx->nparams, p, len);

    if (prm != NULL) {
        v->data = prm->value;
        v->len = prm->value_len;
        v->valid = 1;
        v->no_cacheable = 1;
        v->not_found = 0;
    }

    return NGX_OK;
}


static void
ngx_cms_set_span(ngx_http_variable_value_t *v, ngx_cms_span_t *span)
{
    v->data = (u_char *) span->data;
    v->len = span->len;
}


static void
ngx_cms_set_cstr(ngx_http_variable_value_t *v, const char *s)
{
    v->data = (u_char *) s;
    v->len = ngx_strlen(s);
}
