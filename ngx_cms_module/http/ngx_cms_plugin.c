
/*
 * ngx_cms: the plugin registry and the hook runner.
 *
 * Plugins register into the http main configuration of the cycle being
 * built (so a reload starts from a clean registry), "cms_plugins" picks
 * them per location, and the hooks run in priority order on the way in
 * and in reverse order on the way out and in the log phase.
 */


#include "ngx_cms.h"
#include "ngx_cms_metrics.h"


static int ngx_cms_plugin_cmp(const void *one, const void *two);
static void ngx_cms_str_from_span(ngx_str_t *s, ngx_cms_span_t *span);
static void ngx_cms_call_role(ngx_http_request_t *r, ngx_cms_call_t *call);
static void ngx_cms_call_answer(ngx_http_request_t *r, ngx_cms_call_t *call);
static void ngx_cms_run_log_hooks(ngx_cms_ctx_t *ctx);
static void ngx_cms_log_cleanup(void *data);
static ngx_cms_ctx_t *ngx_cms_log_calls(ngx_http_request_t *r,
    ngx_cms_ctx_t *ctx);
static ngx_int_t ngx_cms_hook_result(ngx_http_request_t *r,
    ngx_cms_ctx_t *ctx, ngx_cms_plugin_t *p, ngx_int_t rc);


/* registration */

ngx_int_t
ngx_cms_plugin_register(ngx_conf_t *cf, ngx_cms_plugin_t *plugin)
{
    ngx_uint_t            i;
    ngx_cms_plugin_t    **p;
    ngx_cms_main_conf_t  *mcf;

    if (plugin->abi_version < NGX_CMS_PLUGIN_ABI_OLDEST
        || plugin->abi_version > NGX_CMS_PLUGIN_ABI_VERSION)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cms plugin \"%V\" was built for plugin ABI %ui, "
                           "this ngx_cms has %d (and loads %d and later)",
                           &plugin->name, plugin->abi_version,
                           NGX_CMS_PLUGIN_ABI_VERSION,
                           NGX_CMS_PLUGIN_ABI_OLDEST);
        return NGX_ERROR;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_cms_module);

    p = mcf->plugins.elts;
    for (i = 0; i < mcf->plugins.nelts; i++) {
        if (p[i]->name.len == plugin->name.len
            && ngx_strncmp(p[i]->name.data, plugin->name.data,
                           plugin->name.len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "cms plugin \"%V\" registered twice",
                               &plugin->name);
            return NGX_ERROR;
        }
    }

    if (mcf->plugins.nelts == NGX_CMS_MAX_PLUGINS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many cms plugins, \"%V\" is one too many",
                           &plugin->name);
        return NGX_ERROR;
    }

    plugin->index = mcf->plugins.nelts;

    p = ngx_array_push(&mcf->plugins);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *p = plugin;

    return NGX_OK;
}


/* cms_plugins <name> ... | off; */

char *
ngx_cms_plugins_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_loc_conf_t  *lcf = conf;

    ngx_str_t            *value;
    ngx_uint_t            i, j;
    ngx_cms_plugin_t    **reg, **p;
    ngx_cms_main_conf_t  *mcf;

    if (lcf->plugins != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    lcf->plugins = ngx_array_create(cf->pool, cf->args->nelts,
                                    sizeof(ngx_cms_plugin_t *));
    if (lcf->plugins == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        return NGX_CONF_OK;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_cms_module);
    reg = mcf->plugins.elts;

    for (i = 1; i < cf->args->nelts; i++) {

        for (j = 0; j < mcf->plugins.nelts; j++) {
            if (reg[j]->name.len == value[i].len
                && ngx_strncmp(reg[j]->name.data, value[i].data,
                               value[i].len) == 0)
            {
                break;
            }
        }

        if (j == mcf->plugins.nelts) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown cms plugin \"%V\" (is its module "
                               "loaded after ngx_http_cms_module?)",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        p = ngx_array_push(lcf->plugins);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        *p = reg[j];
    }

    ngx_qsort(lcf->plugins->elts, lcf->plugins->nelts,
              sizeof(ngx_cms_plugin_t *), ngx_cms_plugin_cmp);

    for (i = 1; i < lcf->plugins->nelts; i++) {
        p = lcf->plugins->elts;
        if (p[i] == p[i - 1]) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "cms plugin \"%V\" listed twice", &p[i]->name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static int
ngx_cms_plugin_cmp(const void *one, const void *two)
{
    ngx_cms_plugin_t  *a = *(ngx_cms_plugin_t **) one;
    ngx_cms_plugin_t  *b = *(ngx_cms_plugin_t **) two;

    /* higher priority first; equal priorities in registration order */

    if (a->priority != b->priority) {
        return (a->priority > b->priority) ? -1 : 1;
    }

    return (a->index < b->index) ? -1 : (a->index > b->index);
}


ngx_int_t
ngx_cms_plugins_merge(ngx_conf_t *cf, ngx_cms_loc_conf_t *prev,
    ngx_cms_loc_conf_t *conf)
{
    ngx_uint_t          i;
    ngx_cms_plugin_t  **p;

    ngx_conf_merge_ptr_value(conf->plugins, prev->plugins, NULL);
    ngx_conf_merge_ptr_value(conf->user_roles, prev->user_roles, NULL);
    ngx_conf_merge_str_value(conf->default_role, prev->default_role, "");

    conf->has_response_hooks = 0;

    if (conf->plugins) {
        p = conf->plugins->elts;
        for (i = 0; i < conf->plugins->nelts; i++) {
            if (p[i]->response) {
                conf->has_response_hooks = 1;
            }
        }
    }

    return NGX_OK;
}


/* cms_role <role> <user> [<user> ...]; */

char *
ngx_cms_role_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_loc_conf_t  *lcf = conf;

    ngx_str_t            *value;
    ngx_uint_t            i;
    ngx_cms_user_role_t  *ur;

    value = cf->args->elts;

    if (lcf->user_roles == NGX_CONF_UNSET_PTR) {
        lcf->user_roles = ngx_array_create(cf->pool, 4,
                                           sizeof(ngx_cms_user_role_t));
        if (lcf->user_roles == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 2; i < cf->args->nelts; i++) {
        ur = ngx_array_push(lcf->user_roles);
        if (ur == NULL) {
            return NGX_CONF_ERROR;
        }

        ur->role = value[1];
        ur->user = value[i];
    }

    return NGX_CONF_OK;
}


ngx_uint_t
ngx_cms_plugin_enabled(ngx_http_request_t *r, ngx_cms_plugin_t *plugin)
{
    ngx_uint_t           i;
    ngx_cms_plugin_t   **p;
    ngx_cms_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_cms_module);

    if (lcf->plugins == NULL) {
        return 0;
    }

    p = lcf->plugins->elts;
    for (i = 0; i < lcf->plugins->nelts; i++) {
        if (p[i] == plugin) {
            return 1;
        }
    }

    return 0;
}


/* the call a hook sees, filled once per request */

ngx_cms_call_t *
ngx_cms_call_prepare(ngx_http_request_t *r, ngx_cms_ctx_t *ctx)
{
    size_t                 i, n, len;
    u_char                *p;
    ngx_cms_call_t        *call;
    ngx_cms_param_t       *prm;
    ngx_pool_cleanup_t    *cln;
    ngx_cms_loc_conf_t    *lcf;
    ngx_cms_form_param_t  *fp;

    call = &ctx->call;

    if (ctx->call_ready) {
        return call;
    }

    call->request = r;
    call->core = ctx;

    /* left unzeroed by ngx_cms_ctx_create() */
    ngx_memzero(call->plugin_ctx, sizeof(call->plugin_ctx));

    call->method = r->method_name;
    call->path.data = r->unparsed_uri.data;
    call->path.len = r->args.len ? (size_t) (r->args.data - 1
                                             - r->unparsed_uri.data)
                                 : r->unparsed_uri.len;
    call->client_path = call->path;

    call->operation.data = (u_char *) ctx->operation;
    call->operation.len = ngx_strlen(ctx->operation);

    if (ctx->api.collection) {
        call->collection.data = (u_char *) ctx->api.collection;
        call->collection.len = ngx_strlen(ctx->api.collection);

    } else {
        ngx_cms_str_from_span(&call->collection, &ctx->api.collection_raw);
    }

    if (ctx->api.sub_collection) {
        call->sub_collection.data = (u_char *) ctx->api.sub_collection;
        call->sub_collection.len = ngx_strlen(ctx->api.sub_collection);

    } else {
        ngx_cms_str_from_span(&call->sub_collection, &ctx->api.sub_raw);
    }

    ngx_cms_str_from_span(&call->object_id, &ctx->api.object_id);
    ngx_cms_str_from_span(&call->sub_id, &ctx->api.sub_id);
    ngx_cms_str_from_span(&call->call_id, &ctx->api.call_id);

    call->known = ctx->api.known;
    call->write = ctx->api.write;
    call->call_scoped = ctx->api.call_scoped;

    /*
     * In the context's block while it has room: a call that fits there
     * takes no request-pool block of its own (ngx_cms_ctx.c).  A plugin
     * that pushes more parameters gets pool memory from ngx_array_push(),
     * which only grows an array in place at the end of the pool.
     */

    n = ctx->nparams ? ctx->nparams : 1;

    call->params = ngx_cms_ctx_palloc(ctx, r->pool, sizeof(ngx_array_t));
    if (call->params == NULL) {
        return NULL;
    }

    call->params->elts = ngx_cms_ctx_palloc(ctx, r->pool,
                                            n * sizeof(ngx_cms_param_t));
    if (call->params->elts == NULL) {
        return NULL;
    }

    call->params->nelts = ctx->nparams;
    call->params->size = sizeof(ngx_cms_param_t);
    call->params->nalloc = n;
    call->params->pool = r->pool;

    prm = call->params->elts;

    /*
     * Plugins get the names and values NUL-terminated (ngx_cms_plugin.h);
     * the parse gives them as the body's own bytes: copied here, once,
     * where there are plugins to read them.
     */

    len = 0;

    for (i = 0; i < ctx->nparams; i++) {
        len += ctx->params[i].name_len + ctx->params[i].value_len + 2;
    }

    p = len ? ngx_cms_ctx_palloc(ctx, r->pool, len) : NULL;
    if (len && p == NULL) {
        return NULL;
    }

    for (i = 0; i < ctx->nparams; i++) {
        fp = &ctx->params[i];

        prm[i].name.data = p;
        prm[i].name.len = fp->name_len;
        p = ngx_cpymem(p, fp->name, fp->name_len);
        *p++ = '\0';

        prm[i].value.data = p;
        prm[i].value.len = fp->value_len;
        p = ngx_cpymem(p, fp->value, fp->value_len);
        *p++ = '\0';
    }

    ngx_cms_call_role(r, call);

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_cms_module);

    if (lcf->plugins && lcf->plugins->nelts) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NULL;
        }

        cln->handler = ngx_cms_log_cleanup;
        cln->data = ctx;

        ctx->plugins = lcf->plugins;
    }

    ctx->call_ready = 1;

    return call;
}


static void
ngx_cms_call_role(ngx_http_request_t *r, ngx_cms_call_t *call)
{
    ngx_uint_t            i;
    ngx_cms_loc_conf_t   *lcf;
    ngx_cms_user_role_t  *ur;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_cms_module);

    /* never the raw header: only a name nginx's auth has verified */

    ngx_cms_verified_user(r, &call->user);
    call->role = lcf->default_role;

    if (lcf->user_roles == NULL || call->user.len == 0) {
        return;
    }

    ur = lcf->user_roles->elts;
    for (i = 0; i < lcf->user_roles->nelts; i++) {
        if (ur[i].user.len == call->user.len
            && ngx_cms_bytes_eq(ur[i].user.data, call->user.data,
                                call->user.len))
        {
            call->role = ur[i].role;
            return;
        }
    }
}


static void
ngx_cms_str_from_span(ngx_str_t *s, ngx_cms_span_t *span)
{
    s->data = (u_char *) span->data;
    s->len = span->len;
}


/*
 * Runs request hooks from ctx->hook_next, in a location with plugins
 * (the precontent handler does not call it for one without).  Returns
 * NGX_DECLINED when the request may go on, NGX_AGAIN when a hook
 * suspended it, NGX_DONE when it was answered, or an HTTP status.
 */

ngx_int_t
ngx_cms_run_request_hooks(ngx_http_request_t *r, ngx_cms_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_cms_call_t      *call;
    ngx_cms_plugin_t   **p;
    ngx_cms_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_cms_module);

    call = ngx_cms_call_prepare(r, ctx);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = lcf->plugins->elts;

    if (ctx->suspended) {
        /* back from ngx_cms_resume() */
        ctx->suspended = 0;

        rc = ngx_cms_hook_result(r, ctx, p[ctx->hook_next - 1],
                                 ctx->resume_rc);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    while (ctx->hook_next < lcf->plugins->nelts) {

        if (p[ctx->hook_next]->request == NULL) {
            ctx->hook_next++;
            continue;
        }

        rc = p[ctx->hook_next]->request(call);
        ctx->hook_next++;

        if (rc == NGX_CMS_SUSPEND) {
            ctx->suspended = 1;
            return NGX_AGAIN;
        }

        rc = ngx_cms_hook_result(r, ctx, p[ctx->hook_next - 1], rc);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    if (call->params_changed) {
        if (ngx_cms_body_replace(r, ctx) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_cms_hook_result(ngx_http_request_t *r, ngx_cms_ctx_t *ctx,
    ngx_cms_plugin_t *p, ngx_int_t rc)
{
    u_char          *rule;
    ngx_cms_call_t  *call;

    call = &ctx->call;

    switch (rc) {

    case NGX_OK:
    case NGX_DECLINED:
        return NGX_DECLINED;

    case NGX_CMS_DENY:
        if (call->plugin.len == 0) {
            call->plugin = p->name;
        }

        if (call->verdict != NGX_CMS_VERDICT_DENY) {
            /* a hook said deny without ngx_cms_deny(): still a denial */
            call->verdict = NGX_CMS_VERDICT_DENY;
            ctx->deny_status = NGX_HTTP_FORBIDDEN;
            ctx->deny_element = "invalidOperation";
        }

        rule = ngx_pnalloc(r->pool, call->rule.len + 1);
        if (rule == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *ngx_cpymem(rule, call->rule.data, call->rule.len) = '\0';

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "cms: %V denied by plugin \"%V\" rule \"%V\": %V",
                      &call->operation, &call->plugin, &call->rule,
                      &call->reason);

        return ngx_cms_send_failure(r, ctx->deny_status, ctx->deny_element,
                                    call->rule.len ? "rule" : NULL,
                                    (char *) rule, ctx->deny_attr,
                                    ctx->deny_value, &call->reason);

    default:
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "cms plugin \"%V\" failed on %V (rc %i)",
                      &p->name, &call->operation, rc);

        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


void
ngx_cms_resume(ngx_cms_call_t *call, ngx_int_t rc)
{
    ngx_cms_ctx_t       *ctx;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    ctx = call->core;
    r = call->request;
    c = r->connection;

    if (!ctx->suspended) {
        return;
    }

    /*
     * Fast shutdown: the worker exits without finishing its requests, and
     * what a plugin waited for (a Redis reply) is failed from
     * exit_process, where running the phases would start work (an
     * upstream connection, Redis commands) in a process being torn down.
     */

    if (ngx_terminate) {
        return;
    }

    ctx->resume_rc = rc;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


/* parameters */


/*
 * Parameter names compare without case, as CMS reads them; clients send
 * the spellings plugins ask for, so the exact comparison comes first.
 */

static ngx_inline ngx_uint_t
ngx_cms_param_name_eq(u_char *a, u_char *b, size_t len)
{
    return ngx_cms_bytes_eq(a, b, len) || ngx_strncasecmp(a, b, len) == 0;
}


ngx_cms_param_t *
ngx_cms_param_get(ngx_cms_call_t *call, const char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_cms_param_t  *prm;

    if (call->params == NULL) {
        return NULL;
    }

    len = ngx_strlen(name);
    prm = call->params->elts;

    for (i = 0; i < call->params->nelts; i++) {
        if (prm[i].name.len == len
            && ngx_cms_param_name_eq(prm[i].name.data, (u_char *) name, len))
        {
            return &prm[i];
        }
    }

    return NULL;
}


ngx_int_t
ngx_cms_param_set(ngx_cms_call_t *call, ngx_str_t *name, ngx_str_t *value)
{
    u_char           *v, *n;
    ngx_uint_t        i;
    ngx_pool_t       *pool;
    ngx_cms_param_t  *prm;

    pool = call->request->pool;

    v = ngx_pnalloc(pool, value->len + 1);
    if (v == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(v, value->data, value->len) = '\0';

    prm = call->params->elts;

    for (i = 0; i < call->params->nelts; i++) {
        if (prm[i].name.len == name->len
            && ngx_cms_param_name_eq(prm[i].name.data, name->data,
                                     name->len))
        {
            prm[i].value.data = v;
            prm[i].value.len = value->len;
            call->params_changed = 1;
            return NGX_OK;
        }
    }

    n = ngx_pnalloc(pool, name->len + 1);
    if (n == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(n, name->data, name->len) = '\0';

    prm = ngx_array_push(call->params);
    if (prm == NULL) {
        return NGX_ERROR;
    }

    prm->name.data = n;
    prm->name.len = name->len;
    prm->value.data = v;
    prm->value.len = value->len;

    call->params_changed = 1;

    return NGX_OK;
}


ngx_int_t
ngx_cms_param_remove(ngx_cms_call_t *call, ngx_str_t *name)
{
    ngx_uint_t        i;
    ngx_cms_param_t  *prm;

    prm = call->params->elts;

    for (i = 0; i < call->params->nelts; i++) {
        if (prm[i].name.len == name->len
            && ngx_cms_param_name_eq(prm[i].name.data, name->data,
                                     name->len))
        {
            ngx_memmove(&prm[i], &prm[i + 1],
                        (call->params->nelts - i - 1)
                        * sizeof(ngx_cms_param_t));
            call->params->nelts--;
            call->params_changed = 1;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * Whether a parameter's value is masked depends on its name alone, and
 * it is asked for every parameter by every plugin that shows values (the
 * audit record, its summary, $cms_params).  CMS has a few dozen names:
 * each worker keeps the answers for the names it has seen (at most one
 * a slot, found by a hash of the length and the first and last eight
 * bytes, or all of a shorter one), so a name costs a comparison, not a
 * scan for secret words.
 */

#define NGX_CMS_SECRET_SLOTS  256
#define NGX_CMS_SECRET_NAME   48

typedef struct {
    size_t                    len;
    ngx_uint_t                secret;
    u_char                    name[NGX_CMS_SECRET_NAME];
} ngx_cms_secret_name_t;

static ngx_cms_secret_name_t  ngx_cms_secret_names[NGX_CMS_SECRET_SLOTS];


ngx_uint_t
ngx_cms_param_is_secret(ngx_str_t *name)
{
    uint32_t                h;
    uint64_t                a, b;
    ngx_cms_secret_name_t  *e;

    if (name->len == 0 || name->len > NGX_CMS_SECRET_NAME) {
        return ngx_cms_form_is_secret(name->data, name->len) ? 1 : 0;
    }

    if (name->len >= 8) {
        ngx_memcpy(&a, name->data, 8);
        ngx_memcpy(&b, name->data + name->len - 8, 8);

    } else if (name->len >= 4) {
        /* the first four and the last four: only a hash's input */
        ngx_memcpy(&h, name->data, 4);
        a = h;
        ngx_memcpy(&h, name->data + name->len - 4, 4);
        b = h;

    } else {
        a = name->data[0];
        b = name->data[name->len - 1];
    }

    e = &ngx_cms_secret_names[((a * 0x9e3779b97f4a7c15ULL)
                               ^ (b * 0xc2b2ae3d27d4eb4fULL)
                               ^ name->len) >> 56];

    if (e->len != name->len
        || !ngx_cms_bytes_eq(e->name, name->data, name->len))
    {
        e->len = name->len;
        ngx_memcpy(e->name, name->data, name->len);
        e->secret = ngx_cms_form_is_secret(name->data, name->len) ? 1 : 0;
    }

    return e->secret;
}


/* notes */

ngx_int_t
ngx_cms_note_set(ngx_cms_call_t *call, const char *key, ngx_str_t *value)
{
    size_t           len;
    u_char          *p;
    ngx_uint_t       i;
    ngx_pool_t      *pool;
    ngx_cms_note_t  *note;

    pool = call->request->pool;

    if (call->notes == NULL) {
        call->notes = ngx_array_create(pool, 4, sizeof(ngx_cms_note_t));
        if (call->notes == NULL) {
            return NGX_ERROR;
        }
    }

    p = ngx_pnalloc(pool, value->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(p, value->data, value->len) = '\0';

    len = ngx_strlen(key);
    note = call->notes->elts;

    for (i = 0; i < call->notes->nelts; i++) {
        if (note[i].key.len == len
            && ngx_strncmp(note[i].key.data, key, len) == 0)
        {
            note[i].value.data = p;
            note[i].value.len = value->len;
            return NGX_OK;
        }
    }

    note = ngx_array_push(call->notes);
    if (note == NULL) {
        return NGX_ERROR;
    }

    note->key.data = (u_char *) key;
    note->key.len = len;
    note->value.data = p;
    note->value.len = value->len;

    return NGX_OK;
}


ngx_str_t *
ngx_cms_note_get(ngx_cms_call_t *call, const char *key)
{
    size_t           len;
    ngx_uint_t       i;
    ngx_cms_note_t  *note;

    if (call->notes == NULL) {
        return NULL;
    }

    len = ngx_strlen(key);
    note = call->notes->elts;

    for (i = 0; i < call->notes->nelts; i++) {
        if (note[i].key.len == len
            && ngx_strncmp(note[i].key.data, key, len) == 0)
        {
            return &note[i].value;
        }
    }

    return NULL;
}


/* verdicts */

void
ngx_cms_deny(ngx_cms_call_t *call, ngx_uint_t status, const char *element,
    ngx_str_t *rule, ngx_str_t *reason)
{
    u_char         *p;
    size_t          i;
    ngx_cms_ctx_t  *ctx;

    ctx = call->core;

    call->verdict = NGX_CMS_VERDICT_DENY;
    ctx->deny_status = status;
    ctx->deny_element = element ? element : "parameterError";

    if (rule) {
        call->rule = *rule;
    }

    if (reason == NULL || reason->len == 0) {
        return;
    }

    /* the reason goes into a header: no control characters there */

    p = ngx_pnalloc(call->request->pool, reason->len);
    if (p == NULL) {
        return;
    }

    for (i = 0; i < reason->len; i++) {
        p[i] = (reason->data[i] < 0x20 || reason->data[i] == 0x7f)
               ? '?' : reason->data[i];
    }

    call->reason.data = p;
    call->reason.len = reason->len;
}


void
ngx_cms_deny_detail(ngx_cms_call_t *call, const char *attr, ngx_str_t *value)
{
    u_char         *p;
    ngx_cms_ctx_t  *ctx;

    ctx = call->core;

    p = ngx_pnalloc(call->request->pool, value->len + 1);
    if (p == NULL) {
        return;
    }

    *ngx_cpymem(p, value->data, value->len) = '\0';

    ctx->deny_attr = attr;
    ctx->deny_value = (char *) p;
}


void
ngx_cms_allow(ngx_cms_call_t *call, ngx_str_t *rule)
{
    if (call->verdict == NGX_CMS_VERDICT_DENY) {
        return;
    }

    call->verdict = NGX_CMS_VERDICT_ALLOW;

    if (rule) {
        call->rule = *rule;
    }
}


/*
 * The answer must come back uncompressed to be parsed (a real CMS runs
 * mod_deflate), so the client's Accept-Encoding is not passed on.
 */

void
ngx_cms_want_response_body(ngx_cms_call_t *call)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    call->response_body_wanted = 1;

    part = &call->request->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("Accept-Encoding") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Accept-Encoding",
                               sizeof("Accept-Encoding") - 1) == 0)
        {
            ngx_str_set(&h[i].value, "identity");
        }
    }
}


xmlDocPtr
ngx_cms_response_xml(ngx_cms_call_t *call)
{
    ngx_cms_ctx_t  *ctx = call->core;

    ngx_cms_response_parse(ctx);

    return ctx->doc;
}


ngx_int_t
ngx_cms_response_body(ngx_cms_call_t *call, ngx_str_t *body)
{
    ngx_cms_ctx_t  *ctx = call->core;

    if (!ctx->body_ready) {
        return NGX_DECLINED;
    }

    body->data = ctx->response->pos;
    body->len = ctx->response->last - ctx->response->pos;

    return NGX_OK;
}


void
ngx_cms_response_changed(ngx_cms_call_t *call)
{
    call->response_changed = 1;
}


/* the answer as the log and response hooks see it */

static void
ngx_cms_call_answer(ngx_http_request_t *r, ngx_cms_call_t *call)
{
    ngx_uint_t                  i;
    ngx_cms_ctx_t              *ctx;
    ngx_table_elt_t            *h;
    ngx_http_upstream_state_t  *st;

    ctx = call->core;

    call->status = r->headers_out.status;

    h = ngx_cms_location_header(r);

    if (h && call->location.len == 0) {
        call->location = h->value;
        ngx_cms_call_location_id(call);
    }

    if (ctx->bridge) {
        call->bridge = ctx->bridge->name;
    }

    if (r->connection->error || call->status == NGX_HTTP_CLIENT_CLOSED_REQUEST)
    {
        call->client_aborted = 1;
    }

    call->upstream_ms = 0;

    if (r->upstream_states && r->upstream_states->nelts) {
        st = r->upstream_states->elts;

        for (i = 0; i < r->upstream_states->nelts; i++) {
            if (st[i].response_time != (ngx_msec_t) -1) {
                call->upstream_ms += st[i].response_time;
            }
        }

        /*
         * No header from the last bridge tried: it never answered (nginx
         * records 502/504 as that try's status, so the status cannot
         * tell).  A client that left first is not a bridge failure.
         */

        call->upstream_failed =
            (st[r->upstream_states->nelts - 1].header_time
             == (ngx_msec_t) -1
             && !call->client_aborted);

        call->bridge_status = call->upstream_failed
                              ? 0 : st[r->upstream_states->nelts - 1].status;
    }
}


/* the id in the Location: its last path segment */

void
ngx_cms_call_location_id(ngx_cms_call_t *call)
{
    u_char  *p;

    /* PsCms saw " /api/v1/coSpaces/<id> " from a real bridge: trailing
     * blanks (and a slash) are not part of the id */

    p = call->location.data + call->location.len;
    while (p > call->location.data && (p[-1] == ' ' || p[-1] == '/')) {
        p--;
    }

    call->location_id.len = 0;
    while (p > call->location.data && p[-1] != '/') {
        p--;
        call->location_id.len++;
    }

    call->location_id.data = p;
}


void
ngx_cms_run_response_hooks(ngx_http_request_t *r, ngx_cms_ctx_t *ctx)
{
    ngx_int_t            i;
    ngx_cms_call_t      *call;
    ngx_cms_plugin_t   **p;
    ngx_cms_loc_conf_t  *lcf;

    if (ctx->response_hooks_done) {
        return;
    }

    ctx->response_hooks_done = 1;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_cms_module);

    if (lcf->plugins == NULL) {
        return;
    }

    call = ngx_cms_call_prepare(r, ctx);
    if (call == NULL) {
        return;
    }

    ngx_cms_call_answer(r, call);

    p = lcf->plugins->elts;

    for (i = lcf->plugins->nelts - 1; i >= 0; i--) {
        if (p[i]->response == NULL) {
            continue;
        }

        if (p[i]->response(call) == NGX_ERROR) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "cms plugin \"%V\" failed on the response to %V",
                          &p[i]->name, &call->operation);
        }
    }
}


/*
 * Log hooks run once per request, for the plugins of the location where
 * the call was first understood.  The log phase is the normal place; a
 * pool cleanup catches what the log phase cannot see: an internal
 * redirect (error_page to a location without plugins) wipes the module
 * context and changes the location, but the pool, and the ctx in it,
 * live on until the request is freed, after the log phase.
 */

static void
ngx_cms_run_log_hooks(ngx_cms_ctx_t *ctx)
{
    ngx_int_t           i;
    ngx_cms_plugin_t  **p;

    if (ctx->logged) {
        return;
    }

    ctx->logged = 1;

    ngx_cms_call_answer(ctx->call.request, &ctx->call);

    /* every understood call is counted, with plugins or without */
    ngx_cms_metrics_call(&ctx->call);

    if (ctx->plugins == NULL) {
        return;
    }

    p = ctx->plugins->elts;

    for (i = ctx->plugins->nelts - 1; i >= 0; i--) {
        if (p[i]->log) {
            p[i]->log(&ctx->call);
        }
    }
}


/*
 * Only a safety net: ngx_http_free_request() has set r->pool to NULL by
 * the time cleanups run, and a hook that allocates would crash, so the
 * log handler below runs every understood call's hooks itself, finding
 * them through this cleanup.
 */

static void
ngx_cms_log_cleanup(void *data)
{
    ngx_cms_ctx_t  *ctx = data;

    if (ctx->call.request->pool == NULL) {
        return;
    }

    ngx_cms_run_log_hooks(ctx);
}


ngx_int_t
ngx_cms_log_handler(ngx_http_request_t *r)
{
    if (r == r->main) {
        ngx_cms_log_now(r);
    }

    return NGX_OK;
}


/*
 * The log hooks of every call this request understood, once: as the last
 * byte of the answer is handed to nginx's output (ngx_cms_log_filter.c),
 * or in the log phase when the answer never got that far.
 */

void
ngx_cms_log_now(ngx_http_request_t *r)
{
    ngx_cms_ctx_t  *ctx;

    /*
     * Once is enough: after the last byte (ngx_cms_log_filter.c) the log
     * phase finds every call logged, or nothing to log, as before; only
     * the walk over the pool's cleanups would be done again.
     */

    ctx = ngx_http_get_module_ctx(r, ngx_http_cms_module);

    if (ctx != NULL && ctx->log_now_done) {
        return;
    }

    ctx = ngx_cms_log_calls(r, ctx);

    if (ctx != NULL) {
        ctx->log_now_done = 1;
    }
}


/* ctx: the request's context or NULL; returns it, or the one made here */

static ngx_cms_ctx_t *
ngx_cms_log_calls(ngx_http_request_t *r, ngx_cms_ctx_t *ctx)
{
    ngx_uint_t           found;
    ngx_pool_cleanup_t  *cln;
    ngx_cms_loc_conf_t  *lcf;

    /* every call understood here, also those an internal redirect wiped */

    found = 0;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_cms_log_cleanup) {
            ngx_cms_run_log_hooks(cln->data);
            found = 1;
        }
    }

    if (found) {
        return ctx;
    }

    if (ctx == NULL || !ctx->call_ready) {
        lcf = ngx_http_get_module_loc_conf(r, ngx_http_cms_module);

        if ((lcf->plugins == NULL || lcf->plugins->nelts == 0)
            && !(lcf->enable && ngx_cms_metrics_enabled()))
        {
            return ctx;
        }

        /* never reached our handler (a 401 from auth_basic, say) */

        ctx = ngx_cms_classify(r);
        if (ctx == NULL || ngx_cms_call_prepare(r, ctx) == NULL) {
            return ctx;
        }
    }

    ngx_cms_run_log_hooks(ctx);

    return ctx;
}


/* events */


void
ngx_cms_event_emit(ngx_cycle_t *cycle, ngx_cms_event_t *ev)
{
    size_t                len;
    ngx_str_t             subject;
    ngx_uint_t            i;
    ngx_cms_plugin_t    **p;
    ngx_cms_main_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_cms_module);
    if (mcf == NULL) {
        return;
    }

    if (ev->log == NULL) {
        ev->log = cycle->log;
    }

    /*
     * A subject may come from a client (a participant id): no control
     * byte may forge a line of the error log.  ngx_escape_uri's
     * NGX_ESCAPE_MAIL_AUTH class escapes exactly those (and '%').
     */

    len = ev->subject.len
          + 2 * ngx_escape_uri(NULL, ev->subject.data, ev->subject.len,
                               NGX_ESCAPE_MAIL_AUTH);

    subject.data = ngx_alloc(len ? len : 1, ev->log);

    if (subject.data) {
        subject.len = len;
        ngx_escape_uri(subject.data, ev->subject.data, ev->subject.len,
                       NGX_ESCAPE_MAIL_AUTH);

        ngx_log_error(NGX_LOG_NOTICE, ev->log, 0, "cms event %V %V: %V",
                      &ev->type, &subject, &ev->detail);

        ngx_free(subject.data);
    }

    p = mcf->plugins.elts;
    for (i = 0; i < mcf->plugins.nelts; i++) {
        if (p[i]->event) {
            p[i]->event(ev);
        }
    }
}
