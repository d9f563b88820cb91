
/*
 * ngx_cms: an nginx module in front of a Cisco Meeting Server cluster's
 * REST API.  This file holds the module definition, the directives and
 * their configuration; the work is done in the other ngx_cms_*.c files.
 */


#include "ngx_cms.h"


static void *ngx_cms_create_main_conf(ngx_conf_t *cf);
static void ngx_cms_exit_process(ngx_cycle_t *cycle);
static void *ngx_cms_create_srv_conf(ngx_conf_t *cf);
static void *ngx_cms_create_loc_conf(ngx_conf_t *cf);
static char *ngx_cms_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_cms_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_cms_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_cms_postconfiguration_clusters(ngx_conf_t *cf);


static ngx_conf_enum_t  ngx_cms_credentials_modes[] = {
    { ngx_string("pass"), NGX_CMS_CREDENTIALS_PASS },
    { ngx_string("inject"), NGX_CMS_CREDENTIALS_INJECT },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_cms_commands[] = {

    { ngx_string("cms_bridge"),
      NGX_HTTP_UPS_CONF|NGX_CONF_2MORE,
      ngx_cms_bridge_directive,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_api"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_cms_loc_conf_t, enable),
      NULL },

    { ngx_string("cms_credentials"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_cms_loc_conf_t, credentials),
      &ngx_cms_credentials_modes },

    { ngx_string("cms_max_params"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_cms_loc_conf_t, max_params),
      NULL },

    { ngx_string("cms_response_buffer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_cms_loc_conf_t, response_buffer),
      NULL },

    { ngx_string("cms_plugins"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_cms_plugins_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_role"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_cms_role_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_auth_basic"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_cms_auth_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_default_role"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_cms_loc_conf_t, default_role),
      NULL },

    { ngx_string("cms_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_cms_status_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_cms_admin_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_cms_module_ctx = {
    ngx_cms_preconfiguration,              /* preconfiguration */
    ngx_cms_postconfiguration,             /* postconfiguration */

    ngx_cms_create_main_conf,              /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_cms_create_srv_conf,               /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_cms_create_loc_conf,               /* create location configuration */
    ngx_cms_merge_loc_conf                 /* merge location configuration */
};


ngx_module_t  ngx_http_cms_module = {
    NGX_MODULE_V1,
    &ngx_http_cms_module_ctx,              /* module context */
    ngx_http_cms_commands,                 /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_cms_exit_process,                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* the request contexts kept for reuse go with the worker (ngx_cms_ctx.c) */

static void
ngx_cms_exit_process(ngx_cycle_t *cycle)
{
    ngx_cms_ctx_free_all();
}


static void *
ngx_cms_create_main_conf(ngx_conf_t *cf)
{
    ngx_cms_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_cms_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&mcf->plugins, cf->pool, 4,
                       sizeof(ngx_cms_plugin_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return mcf;
}


/*
 * The server configuration slot is only used inside upstream{} blocks,
 * where it holds the cluster; nginx creates one for every server{} too.
 */

static void *
ngx_cms_create_srv_conf(ngx_conf_t *cf)
{
    ngx_cms_cluster_conf_t  *ccf;

    ccf = ngx_pcalloc(cf->pool, sizeof(ngx_cms_cluster_conf_t));
    if (ccf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ccf->original_init_upstream = NULL;
     *     ccf->original_init_peer = NULL;
     */

    return ccf;
}


static void *
ngx_cms_create_loc_conf(ngx_conf_t *cf)
{
    ngx_cms_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_cms_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    lcf->enable = NGX_CONF_UNSET;
    lcf->credentials = NGX_CONF_UNSET_UINT;
    lcf->max_params = NGX_CONF_UNSET_UINT;
    lcf->response_buffer = NGX_CONF_UNSET_SIZE;
    lcf->plugins = NGX_CONF_UNSET_PTR;
    lcf->user_roles = NGX_CONF_UNSET_PTR;
    lcf->auth = NGX_CONF_UNSET_PTR;

    /*
     * set by ngx_pcalloc():
     *
     *     lcf->default_role = { 0, NULL };
     *     lcf->has_response_hooks = 0;
     */

    return lcf;
}


static char *
ngx_cms_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_cms_loc_conf_t  *prev = parent;
    ngx_cms_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_ptr_value(conf->auth, prev->auth, NULL);
    ngx_conf_merge_uint_value(conf->credentials, prev->credentials,
                              NGX_CMS_CREDENTIALS_PASS);
    ngx_conf_merge_uint_value(conf->max_params, prev->max_params,
                              NGX_CMS_MAX_PARAMS_DEFAULT);
    ngx_conf_merge_size_value(conf->response_buffer, prev->response_buffer,
                              64 * 1024);

    if (conf->response_buffer > 16 * 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cms_response_buffer\" must be at most 16m, "
                           "not %uz", conf->response_buffer);
        return NGX_CONF_ERROR;
    }

    if (ngx_cms_plugins_merge(cf, prev, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->max_params == 0 || conf->max_params > 4096) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cms_max_params\" must be between 1 and 4096, "
                           "not %ui", conf->max_params);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_cms_preconfiguration(ngx_conf_t *cf)
{
    ngx_cms_xml_init();

    /* the classification tables, built here once and shared by workers */
    ngx_cms_api_init();

    if (ngx_cms_request_id_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_cms_add_variables(cf);
}


static ngx_int_t
ngx_cms_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /*
     * Precontent, not access: it runs after auth_basic and friends, so
     * an unauthenticated client gets its 401 before we read any body,
     * and everything we decide sees an authenticated $remote_user.
     */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_cms_precontent_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_cms_log_handler;

    if (ngx_cms_user_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* what the cluster below has to tell us comes through these */

    ngx_cms_cluster_hooks.event = ngx_cms_event_emit;
    ngx_cms_cluster_hooks.init_process = ngx_cms_upstream_init_process;
    ngx_cms_cluster_hooks.tick = ngx_cms_upstream_watch;

    if (ngx_cms_postconfiguration_clusters(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * The first registered runs last: the log filter sees the answer as
     * the client will get it.
     */

    if (ngx_cms_log_filter_init(cf) != NGX_OK
        || ngx_cms_filter_init(cf) != NGX_OK
        || ngx_cms_unavailable_filter_init(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_cms_affinity_filter_init(cf);
}


/* every upstream with cms_bridge must be balanced by us */

static ngx_int_t
ngx_cms_postconfiguration_clusters(ngx_conf_t *cf)
{
    ngx_uint_t                      i;
    ngx_cms_fo_cluster_t           *cl;
    ngx_http_upstream_srv_conf_t  **uscfp;
    ngx_http_upstream_main_conf_t  *umcf;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {

        if (uscfp[i]->srv_conf == NULL) {
            continue;
        }

        cl = uscfp[i]->srv_conf[ngx_cms_failover_module.ctx_index];

        if (cl == NULL || cl->bridges.nelts == 0) {
            continue;
        }

        if (ngx_cms_upstream_check(cf, cl) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
