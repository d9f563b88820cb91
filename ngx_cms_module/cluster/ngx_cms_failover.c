
/*
 * ngx_cms: failover -- the module, its directives, and the state
 * machine of the active bridge.
 *
 * The state (active bridge, monotonic epoch, whether an operator chose
 * it, the history of changes) lives in the shared zone.  A change is
 * decided under the zone's lock from the bridges' health
 * (ngx_cms_failover_decide_locked), proposed, and applied only if the
 * epoch it was decided on is still current, so two workers that decide
 * at the same moment cannot both move it.  With Redis (ngx_cms_fo_redis.c)
 * the proposal goes through an atomic script first and every instance
 * adopts the result.  Every change is logged at notice level, given to
 * the plugins' event hooks and kept for the status endpoint.
 *
 * Policy:
 *   - the active bridge down: the highest-priority bridge known to be up
 *     (else one not checked yet) becomes active, at once;
 *   - failback (cms_failback auto, the default): a higher-priority bridge
 *     that has been up for "hold" since it came back and since the last
 *     change becomes active again; never while an operator's choice
 *     stands ("manual"), and never with cms_failback manual;
 *   - no bridge usable: nothing changes; requests get 503 + Retry-After.
 *
 * Directives (defaults in brackets; those marked "ups" go in upstream{},
 * or in http{} as the default of every upstream, per parameter):
 *
 *   cms_zone <name> <size>;                          http  [ngx_cms 4m]
 *   cms_health_check [interval=1s] [timeout=500ms] [fall=2] [rise=2]
 *                    [jitter=100ms] | off;            ups  [off]
 *   cms_failback auto [hold=30s] | manual;            ups  [auto hold=30s]
 *   cms_discovery on [interval=60s] | off;            ups  [on, with checks]
 *   cms_call_affinity on|off;                         ups  [on]
 *   cms_failover_redis on|off;                        ups  [on with cms_redis]
 *   cms_health_ssl_verify on|off;                     ups  [on]
 *   cms_health_ssl_trusted_certificate <file>;        ups  [system bundle]
 *   cms_status [detail];                              location
 *   cms_admin [<upstream>];                           location
 *
 * and, on cms_bridge (ngx_cms_upstream.c): an https:// or http:// address
 * for our own client, and ssl_name=<name> for SNI and the name check.
 */


#include "ngx_cms_failover.h"

#include "ngx_cms_fo_redis.h"


static void *ngx_cms_fo_create_main_conf(ngx_conf_t *cf);
static void *ngx_cms_fo_create_srv_conf(ngx_conf_t *cf);
static ngx_int_t ngx_cms_fo_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_cms_fo_merge_cluster(ngx_conf_t *cf,
    ngx_cms_fo_cluster_t *prev, ngx_cms_fo_cluster_t *cl);
#if (NGX_SSL)
static ngx_int_t ngx_cms_fo_set_ssl(ngx_conf_t *cf, ngx_cms_fo_cluster_t *cl);
#endif
static ngx_int_t ngx_cms_fo_init_process(ngx_cycle_t *cycle);
static void ngx_cms_fo_exit_process(ngx_cycle_t *cycle);
static char *ngx_cms_health_check_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_cms_failback_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_cms_discovery_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_cms_failover_bridge_why(ngx_cms_fo_cluster_t *cl,
    ngx_cms_bridge_t *b, ngx_cms_shm_text_t *why, const char *what);


static ngx_command_t  ngx_cms_failover_commands[] = {

    { ngx_string("cms_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_cms_zone_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_health_check"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_UPS_CONF|NGX_CONF_ANY,
      ngx_cms_health_check_directive,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_failback"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_UPS_CONF|NGX_CONF_TAKE12,
      ngx_cms_failback_directive,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_discovery"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_UPS_CONF|NGX_CONF_TAKE12,
      ngx_cms_discovery_directive,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_call_affinity"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_UPS_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_cms_fo_cluster_t, affinity),
      NULL },

    { ngx_string("cms_failover_redis"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_UPS_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_cms_fo_cluster_t, redis_agree),
      NULL },

    { ngx_string("cms_health_ssl_verify"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_UPS_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_cms_fo_cluster_t, ssl_verify),
      NULL },

    { ngx_string("cms_health_ssl_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_cms_fo_cluster_t, ssl_trusted_certificate),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_cms_failover_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_cms_fo_postconfiguration,          /* postconfiguration */

    ngx_cms_fo_create_main_conf,           /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_cms_fo_create_srv_conf,            /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_cms_cluster_hooks_t  ngx_cms_cluster_hooks;


ngx_module_t  ngx_cms_failover_module = {
    NGX_MODULE_V1,
    &ngx_cms_failover_module_ctx,          /* module context */
    ngx_cms_failover_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_cms_fo_init_process,               /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_cms_fo_exit_process,               /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_cms_fo_create_main_conf(ngx_conf_t *cf)
{
    ngx_cms_fo_main_conf_t  *fmcf;

    fmcf = ngx_pcalloc(cf->pool, sizeof(ngx_cms_fo_main_conf_t));
    if (fmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&fmcf->clusters, cf->pool, 2,
                       sizeof(ngx_cms_fo_cluster_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return fmcf;
}


/*
 * Made for every server{} and upstream{} block and for http{} itself;
 * only upstream{} blocks with cms_bridge use theirs, with http{}'s as
 * the defaults (see ngx_cms_fo_merge_cluster).
 */

static void *
ngx_cms_fo_create_srv_conf(ngx_conf_t *cf)
{
    ngx_cms_fo_cluster_t  *cl;

    cl = ngx_pcalloc(cf->pool, sizeof(ngx_cms_fo_cluster_t));
    if (cl == NULL) {
        return NULL;
    }

    cl->health = NGX_CONF_UNSET;
    cl->interval = NGX_CONF_UNSET_MSEC;
    cl->timeout = NGX_CONF_UNSET_MSEC;
    cl->jitter = NGX_CONF_UNSET_MSEC;
    cl->fall = NGX_CONF_UNSET_UINT;
    cl->rise = NGX_CONF_UNSET_UINT;
    cl->failback = NGX_CONF_UNSET_UINT;
    cl->hold = NGX_CONF_UNSET_MSEC;
    cl->discovery = NGX_CONF_UNSET;
    cl->discovery_interval = NGX_CONF_UNSET_MSEC;
    cl->affinity = NGX_CONF_UNSET;
    cl->redis_agree = NGX_CONF_UNSET;
    cl->ssl_verify = NGX_CONF_UNSET;

    return cl;
}


/* only cms_admin's: it is not inherited */

static ngx_int_t
ngx_cms_fo_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                      i;
    ngx_cms_fo_cluster_t           *cl, *http, **p;
    ngx_cms_fo_main_conf_t         *fmcf;
    ngx_http_upstream_srv_conf_t  **uscfp;
    ngx_http_upstream_main_conf_t  *umcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_cms_failover_module);
    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
    http = ngx_http_conf_get_module_srv_conf(cf, ngx_cms_failover_module);

    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {

        if (uscfp[i]->srv_conf == NULL) {
            continue;
        }

        cl = uscfp[i]->srv_conf[ngx_cms_failover_module.ctx_index];

        if (cl->bridges.nelts == 0) {
            continue;
        }

        if (ngx_cms_fo_merge_cluster(cf, http, cl) != NGX_OK) {
            return NGX_ERROR;
        }

        p = ngx_array_push(&fmcf->clusters);
        if (p == NULL) {
            return NGX_ERROR;
        }

        *p = cl;
    }

    if (fmcf->clusters.nelts && fmcf->zone == NULL) {
        if (ngx_cms_shm_add(cf, fmcf, NULL, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ngx_cms_fo_redis_conf(cf, fmcf);
}


static ngx_int_t
ngx_cms_fo_merge_cluster(ngx_conf_t *cf, ngx_cms_fo_cluster_t *prev,
    ngx_cms_fo_cluster_t *cl)
{
    ngx_conf_merge_value(cl->health, prev->health, 0);
    ngx_conf_merge_msec_value(cl->interval, prev->interval, 1000);
    ngx_conf_merge_msec_value(cl->timeout, prev->timeout, 500);
    ngx_conf_merge_msec_value(cl->jitter, prev->jitter, 100);
    ngx_conf_merge_uint_value(cl->fall, prev->fall, 2);
    ngx_conf_merge_uint_value(cl->rise, prev->rise, 2);
    ngx_conf_merge_uint_value(cl->failback, prev->failback,
                              NGX_CMS_FAILBACK_AUTO);
    ngx_conf_merge_msec_value(cl->hold, prev->hold, 30000);
    ngx_conf_merge_value(cl->discovery, prev->discovery, 1);
    ngx_conf_merge_msec_value(cl->discovery_interval,
                              prev->discovery_interval, 60000);
    ngx_conf_merge_value(cl->affinity, prev->affinity, 1);

    /* decided with Redis's configuration, see ngx_cms_fo_redis_conf() */
    ngx_conf_merge_value(cl->redis_agree, prev->redis_agree,
                         NGX_CONF_UNSET);
    ngx_conf_merge_value(cl->ssl_verify, prev->ssl_verify, 1);
    ngx_conf_merge_str_value(cl->ssl_trusted_certificate,
                             prev->ssl_trusted_certificate, "");

    if (cl->jitter >= cl->interval) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cms_health_check of upstream \"%V\": jitter "
                           "must be less than interval", &cl->name);
        return NGX_ERROR;
    }

#if (NGX_SSL)
    return ngx_cms_fo_set_ssl(cf, cl);
#else
    return NGX_OK;
#endif
}


#if (NGX_SSL)

/* one TLS context per cluster for our own client, like proxy_ssl_* */

static ngx_int_t
ngx_cms_fo_set_ssl(ngx_conf_t *cf, ngx_cms_fo_cluster_t *cl)
{
    char                *file;
    ngx_uint_t           i, need;
    ngx_pool_cleanup_t  *cln;
    ngx_cms_bridge_t *b;

    need = 0;
    b = cl->bridges.elts;

    for (i = 0; i < cl->bridges.nelts; i++) {
        if (b[i].ssl) {
            need = 1;
        }
    }

    if (!need) {
        return NGX_OK;
    }

    cl->ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (cl->ssl == NULL) {
        return NGX_ERROR;
    }

    cl->ssl->log = cf->log;

    if (ngx_ssl_create(cl->ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(cl->ssl);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = cl->ssl;

    if (!cl->ssl_verify) {
        return NGX_OK;
    }

    if (cl->ssl_trusted_certificate.len) {
        return ngx_ssl_trusted_certificate(cf, cl->ssl,
                                           &cl->ssl_trusted_certificate, 4);
    }

    /*
     * The system's CA bundle, read now: a hashed directory would be
     * read from disk during handshakes, in the worker.
     */

    file = (char *) X509_get_default_cert_file();

    if (SSL_CTX_load_verify_locations(cl->ssl->ctx, file, NULL) == 0) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "upstream \"%V\": cannot load the system CA bundle "
                      "\"%s\" for cms_health_ssl_verify; set "
                      "cms_health_ssl_trusted_certificate", &cl->name, file);
        return NGX_ERROR;
    }

    return NGX_OK;
}

#endif


static ngx_int_t
ngx_cms_fo_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t               i, j;
    ngx_cms_bridge_t     *b;
    ngx_cms_fo_cluster_t   **cl;
    ngx_cms_fo_main_conf_t  *fmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    fmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_cms_failover_module);
    if (fmcf == NULL) {
        return NGX_OK;
    }

    cl = fmcf->clusters.elts;

    for (i = 0; i < fmcf->clusters.nelts; i++) {
        cl[i]->log = cycle->log;

        b = cl[i]->bridges.elts;

        for (j = 0; j < cl[i]->bridges.nelts; j++) {
            b[j].target.addr = &b[j].addrs[0];
            b[j].target.host = b[j].ssl_name;
            b[j].target.authorization = b[j].authorization;
#if (NGX_SSL)
            b[j].target.ssl = b[j].ssl ? cl[i]->ssl : NULL;
#endif
            b[j].target.verify = cl[i]->ssl_verify;
            b[j].target.timeout = cl[i]->timeout;
            b[j].target.max_response = NGX_CMS_CHECK_MAX_RESPONSE;
            b[j].target.log = cycle->log;
        }

        if (ngx_cms_fo_redis_init_process(cycle, cl[i]) != NGX_OK) {
            return NGX_ERROR;
        }

        if (cl[i]->health
            && ngx_cms_health_init_process(cycle, cl[i]) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_cms_fo_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t               i;
    ngx_cms_fo_cluster_t   **cl;
    ngx_cms_fo_main_conf_t  *fmcf;

    fmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_cms_failover_module);
    if (fmcf == NULL) {
        return;
    }

    cl = fmcf->clusters.elts;

    for (i = 0; i < fmcf->clusters.nelts; i++) {
        if (cl[i]->health) {
            ngx_cms_health_exit_process(cl[i]);
        }
    }
}


/*
 * cms_health_check [interval=<time>] [timeout=<time>] [fall=<n>]
 *                  [rise=<n>] [jitter=<time>];
 */

static char *
ngx_cms_health_check_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_cms_fo_cluster_t  *cl = conf;

    ngx_str_t   *value, s;
    ngx_int_t    n;
    ngx_uint_t   i;
    ngx_msec_t   t;

    if (cl->health != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    cl->health = 1;
    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "off") == 0 && cf->args->nelts == 2) {
            cl->health = 0;
            return NGX_CONF_OK;
        }

        s.data = (u_char *) ngx_strlchr(value[i].data,
                                        value[i].data + value[i].len, '=');
        if (s.data == NULL) {
            goto invalid;
        }

        s.data++;
        s.len = value[i].data + value[i].len - s.data;

        if (ngx_strncmp(value[i].data, "interval=", 9) == 0
            || ngx_strncmp(value[i].data, "timeout=", 8) == 0
            || ngx_strncmp(value[i].data, "jitter=", 7) == 0)
        {
            t = ngx_parse_time(&s, 0);
            if (t == (ngx_msec_t) NGX_ERROR) {
                goto invalid;
            }

            switch (value[i].data[0]) {

            case 'i':
                if (t < 100) {
                    goto invalid;
                }

                cl->interval = t;
                break;

            case 't':
                if (t == 0) {
                    goto invalid;
                }

                cl->timeout = t;
                break;

            default:
                cl->jitter = t;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "fall=", 5) == 0
            || ngx_strncmp(value[i].data, "rise=", 5) == 0)
        {
            n = ngx_atoi(s.data, s.len);
            if (n == NGX_ERROR || n < 1 || n > 100) {
                goto invalid;
            }

            if (value[i].data[0] == 'f') {
                cl->fall = n;

            } else {
                cl->rise = n;
            }

            continue;
        }

        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in cms_health_check",
                       &value[i]);

    return NGX_CONF_ERROR;
}


/* cms_failback auto [hold=<time>] | manual; */

static char *
ngx_cms_failback_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_fo_cluster_t  *cl = conf;

    ngx_str_t   *value, s;
    ngx_msec_t   t;

    if (cl->failback != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "manual") == 0 && cf->args->nelts == 2) {
        cl->failback = NGX_CMS_FAILBACK_MANUAL;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "auto") != 0) {
        goto invalid;
    }

    cl->failback = NGX_CMS_FAILBACK_AUTO;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "hold=", 5) != 0) {
            goto invalid;
        }

        s.data = value[2].data + 5;
        s.len = value[2].len - 5;

        t = ngx_parse_time(&s, 0);
        if (t == (ngx_msec_t) NGX_ERROR) {
            goto invalid;
        }

        cl->hold = t;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid cms_failback \"%V\", use \"auto "
                       "[hold=<time>]\" or \"manual\"", &value[1]);

    return NGX_CONF_ERROR;
}


/* cms_discovery on [interval=<time>] | off; */

static char *
ngx_cms_discovery_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_fo_cluster_t  *cl = conf;

    ngx_str_t   *value, s;
    ngx_msec_t   t;

    if (cl->discovery != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0 && cf->args->nelts == 2) {
        cl->discovery = 0;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "on") != 0) {
        goto invalid;
    }

    cl->discovery = 1;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "interval=", 9) != 0) {
            goto invalid;
        }

        s.data = value[2].data + 9;
        s.len = value[2].len - 9;

        t = ngx_parse_time(&s, 0);
        if (t == (ngx_msec_t) NGX_ERROR || t < 1000) {
            goto invalid;
        }

        cl->discovery_interval = t;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid cms_discovery \"%V\", use \"on "
                       "[interval=<time>]\" or \"off\"", &value[1]);

    return NGX_CONF_ERROR;
}


/* the state machine */

ngx_cms_fo_cluster_t *
ngx_cms_failover_cluster(ngx_cycle_t *cycle, ngx_str_t *name)
{
    ngx_uint_t               i;
    ngx_cms_fo_cluster_t   **cl;
    ngx_cms_fo_main_conf_t  *fmcf;

    fmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_cms_failover_module);
    if (fmcf == NULL || fmcf->clusters.nelts == 0) {
        return NULL;
    }

    cl = fmcf->clusters.elts;

    if (name == NULL || name->len == 0) {
        return (fmcf->clusters.nelts == 1) ? cl[0] : NULL;
    }

    for (i = 0; i < fmcf->clusters.nelts; i++) {
        if (cl[i]->name.len == name->len
            && ngx_strncmp(cl[i]->name.data, name->data, name->len) == 0)
        {
            return cl[i];
        }
    }

    return NULL;
}


ngx_cms_bridge_t *
ngx_cms_failover_find_slot(ngx_cms_fo_cluster_t *cl, ngx_uint_t slot)
{
    ngx_uint_t         i;
    ngx_cms_bridge_t  *b;

    b = cl->bridges.elts;

    for (i = 0; i < cl->bridges.nelts; i++) {
        if (b[i].slot == slot) {
            cl->found = &b[i];
            return &b[i];
        }
    }

    return NULL;
}


ngx_cms_bridge_t *
ngx_cms_failover_bridge_by_name(ngx_cms_fo_cluster_t *cl, u_char *name,
    size_t len)
{
    ngx_uint_t            i;
    ngx_cms_bridge_t  *b;

    b = cl->bridges.elts;

    for (i = 0; i < cl->bridges.nelts; i++) {
        if (b[i].name.len == len
            && ngx_strncmp(b[i].name.data, name, len) == 0)
        {
            return &b[i];
        }
    }

    return NULL;
}


/*
 * Under the zone's lock.  Returns 1 and fills the proposal when the
 * active bridge should change.
 */

ngx_uint_t
ngx_cms_failover_decide_locked(ngx_cms_fo_cluster_t *cl,
    ngx_cms_fo_proposal_t *p)
{
    u_char                 *s;
    ngx_uint_t              i, health;
    ngx_msec_t              now;
    ngx_cms_bridge_t    *active, *b, *best;
    ngx_cms_shm_bridge_t   *sb;
    ngx_cms_shm_cluster_t  *sh;

    sh = cl->sh;
    now = ngx_current_msec;

    active = ngx_cms_failover_bridge_by_slot(cl, sh->active);

    if (active == NULL
        || sh->bridges[active->slot].health == NGX_CMS_HEALTH_DOWN)
    {
        /* up first, then not checked yet; never a known-dead one */

        best = NULL;

        for (health = NGX_CMS_HEALTH_UP; ; health = NGX_CMS_HEALTH_UNKNOWN) {

            for (i = 0; i < cl->bridges.nelts; i++) {
                b = cl->order[i];

                if (b != active && sh->bridges[b->slot].health == health) {
                    best = b;
                    break;
                }
            }

            if (best || health == NGX_CMS_HEALTH_UNKNOWN) {
                break;
            }
        }

        if (best == NULL) {
            return 0;
        }

        p->to = best->slot;
        p->epoch = sh->epoch;
        p->manual = 0;
        ngx_cms_shm_set_name(&p->by, (u_char *) "health-check", 12);

        if (active) {
            ngx_cms_failover_bridge_why(cl, active, &p->why, "is down");

        } else {
            s = ngx_snprintf(p->why.data, NGX_CMS_SHM_TEXT_LEN,
                             "the active bridge is not configured here");
            p->why.len = s - p->why.data;
        }

        return 1;
    }

    if (cl->failback != NGX_CMS_FAILBACK_AUTO || sh->manual) {
        return 0;
    }

    if ((ngx_msec_int_t) (now - sh->changed_msec) < (ngx_msec_int_t) cl->hold
        && sh->nchanges)
    {
        return 0;
    }

    for (i = 0; i < cl->bridges.nelts; i++) {
        b = cl->order[i];

        if (b == active) {
            break;
        }

        sb = &sh->bridges[b->slot];

        if (sb->health == NGX_CMS_HEALTH_UP
            && (ngx_msec_int_t) (now - sb->up_since)
               >= (ngx_msec_int_t) cl->hold)
        {
            p->to = b->slot;
            p->epoch = sh->epoch;
            p->manual = 0;
            ngx_cms_shm_set_name(&p->by, (u_char *) "failback", 8);

            s = ngx_snprintf(p->why.data, NGX_CMS_SHM_TEXT_LEN,
                             "%V has been up for %M ms",
                             &b->name, now - sb->up_since);
            p->why.len = s - p->why.data;

            return 1;
        }
    }

    return 0;
}


static void
ngx_cms_failover_bridge_why(ngx_cms_fo_cluster_t *cl, ngx_cms_bridge_t *b,
    ngx_cms_shm_text_t *why, const char *what)
{
    u_char                *s;
    ngx_cms_shm_bridge_t  *sb;

    sb = &cl->sh->bridges[b->slot];

    s = ngx_snprintf(why->data, NGX_CMS_SHM_TEXT_LEN, "%V %s", &b->name,
                     what);

    if (sb->error.len) {
        s = ngx_snprintf(s, why->data + NGX_CMS_SHM_TEXT_LEN - s, ": %*s",
                         sb->error.len, sb->error.data);
    }

    why->len = s - why->data;
}


/*
 * Under the zone's lock.  Makes "to" active at "epoch"; returns 1 and
 * fills "change" if something changed.
 */

ngx_uint_t
ngx_cms_failover_apply_locked(ngx_cms_fo_cluster_t *cl, ngx_uint_t to,
    uint64_t epoch, ngx_uint_t manual, ngx_cms_shm_name_t *by,
    ngx_cms_shm_text_t *why, time_t at, ngx_cms_shm_change_t *change)
{
    ngx_cms_shm_change_t   *ch;
    ngx_cms_shm_cluster_t  *sh;

    sh = cl->sh;

    /*
     * A newer epoch always wins; the same epoch only when it names
     * another bridge: two instances decided differently while Redis was
     * away, and Redis settles it.
     */

    if (to >= sh->nslots
        || epoch < sh->epoch
        || (epoch == sh->epoch && to == sh->active))
    {
        return 0;
    }

    ch = &sh->history[sh->nchanges % NGX_CMS_SHM_HISTORY];

    ch->epoch = epoch;
    ch->at = at;
    ch->from = sh->bridges[sh->active].name;
    ch->to = sh->bridges[to].name;
    ch->by = *by;
    ch->why = *why;
    ch->manual = manual;

    sh->nchanges++;
    sh->epoch = epoch;
    sh->manual = manual;
    sh->changed_msec = ngx_current_msec;

    /* last: workers read it without the lock */
    sh->active = to;

    *change = *ch;

    return 1;
}


/*
 * A change somebody wants.  With Redis it is decided there, and "done"
 * is called later; else in the zone, now.  "done" is called exactly
 * once, either way.
 */

void
ngx_cms_failover_propose(ngx_cms_fo_cluster_t *cl, ngx_cms_fo_proposal_t *p,
    ngx_cms_fo_done_pt done, void *data)
{
    ngx_uint_t              same;
    ngx_cms_shm_change_t    change;
    ngx_cms_shm_cluster_t  *sh;

    sh = cl->sh;

    ngx_shmtx_lock(&cl->shpool->mutex);

    same = (p->to == sh->active && p->manual == sh->manual);

    if (same) {
        ngx_memzero(&change, sizeof(ngx_cms_shm_change_t));
        change.epoch = sh->epoch;
        change.to = sh->bridges[sh->active].name;
        change.from = change.to;
        change.manual = sh->manual;
    }

    ngx_shmtx_unlock(&cl->shpool->mutex);

    if (same) {
        if (done) {
            done(data, NGX_DONE, &change);
        }

        return;
    }

    if (ngx_cms_fo_redis_propose(cl, p, done, data)) {
        return;
    }

    ngx_cms_failover_propose_local(cl, p, done, data);
}


void
ngx_cms_failover_propose_local(ngx_cms_fo_cluster_t *cl,
    ngx_cms_fo_proposal_t *p, ngx_cms_fo_done_pt done, void *data)
{
    ngx_int_t               rc;
    ngx_uint_t              changed;
    ngx_cms_shm_change_t    change;
    ngx_cms_shm_cluster_t  *sh;

    sh = cl->sh;
    changed = 0;

    ngx_shmtx_lock(&cl->shpool->mutex);

    if (sh->epoch != p->epoch) {
        /* somebody else decided meanwhile: theirs stands */
        rc = NGX_DECLINED;

    } else if (p->to == sh->active && p->manual == sh->manual) {
        rc = NGX_DONE;

    } else {
        /* the same bridge with another "manual" is a change too */
        changed = ngx_cms_failover_apply_locked(cl, p->to, sh->epoch + 1,
                                                p->manual, &p->by, &p->why,
                                                ngx_time(), &change);
        rc = changed ? NGX_OK : NGX_DONE;
    }

    if (!changed) {
        ngx_memzero(&change, sizeof(ngx_cms_shm_change_t));
        change.epoch = sh->epoch;
        change.to = sh->bridges[sh->active].name;
        change.from = change.to;
        change.manual = sh->manual;
    }

    ngx_shmtx_unlock(&cl->shpool->mutex);

    if (changed) {
        ngx_cms_failover_announce(cl, &change, 1);
    }

    if (done) {
        done(data, rc, &change);
    }
}


/* decide and propose, if the state calls for it */

void
ngx_cms_failover_check_state(ngx_cms_fo_cluster_t *cl)
{
    ngx_uint_t             decided;
    ngx_cms_fo_proposal_t  p;

    ngx_shmtx_lock(&cl->shpool->mutex);
    decided = ngx_cms_failover_decide_locked(cl, &p);
    ngx_shmtx_unlock(&cl->shpool->mutex);

    if (decided) {
        ngx_cms_failover_propose(cl, &p, NULL, NULL);
    }
}


/*
 * Every change: the error log at notice level, and, where it was made
 * (origin), the plugins' event hook.  Instances that adopt a change made
 * elsewhere log it too; the event is recorded once, by its origin.
 */

void
ngx_cms_failover_announce(ngx_cms_fo_cluster_t *cl,
    ngx_cms_shm_change_t *change, ngx_uint_t origin)
{
    ngx_str_t        subject, detail;
    ngx_pool_t      *pool;
    ngx_cms_json_t   j;

    ngx_log_error(NGX_LOG_NOTICE, cl->log, 0,
                  "cms: upstream \"%V\": active bridge \"%*s\" -> \"%*s\", "
                  "epoch %uL, by %*s%s: %*s", &cl->name,
                  change->from.len, change->from.data,
                  change->to.len, change->to.data, change->epoch,
                  change->by.len, change->by.data,
                  origin ? "" : " (adopted)",
                  change->why.len, change->why.data);

    ngx_cms_discovery_reset(cl);

    if (!origin) {
        return;
    }

    pool = ngx_create_pool(1024, cl->log);
    if (pool == NULL) {
        return;
    }

    if (ngx_cms_json_init_pool(&j, pool, 512) != NGX_OK) {
        ngx_destroy_pool(pool);
        return;
    }

    ngx_cms_json_raw(&j, (u_char *) "{\"upstream\":", 12);
    ngx_cms_json_string(&j, cl->name.data, cl->name.len);
    ngx_cms_json_raw(&j, (u_char *) ",\"from\":", 8);
    ngx_cms_json_string(&j, change->from.data, change->from.len);
    ngx_cms_json_raw(&j, (u_char *) ",\"to\":", 6);
    ngx_cms_json_string(&j, change->to.data, change->to.len);
    ngx_cms_json_printf(&j, ",\"epoch\":%uL,\"manual\":%s,\"by\":",
                        change->epoch, change->manual ? "true" : "false");
    ngx_cms_json_string(&j, change->by.data, change->by.len);
    ngx_cms_json_raw(&j, (u_char *) ",\"why\":", 7);
    ngx_cms_json_string(&j, change->why.data, change->why.len);
    ngx_cms_json_raw(&j, (u_char *) ",\"at\":", 6);
    ngx_cms_json_time(&j, change->at);
    ngx_cms_json_raw(&j, (u_char *) "}", 1);

    if (ngx_cms_json_fits(&j)) {
        subject.data = change->to.data;
        subject.len = change->to.len;
        detail.data = j.start;
        detail.len = j.pos - j.start;

        ngx_cms_failover_event(cl, "failover", &subject, &detail);
    }

    ngx_destroy_pool(pool);
}


void
ngx_cms_failover_event(ngx_cms_fo_cluster_t *cl, const char *type,
    ngx_str_t *subject, ngx_str_t *detail)
{
    ngx_cms_event_t  ev;

    ev.type.data = (u_char *) type;
    ev.type.len = ngx_strlen(type);
    ev.subject = *subject;
    ev.detail = *detail;
    ev.log = cl->log;

    /* the layer above (the plugins' event hooks) registered to hear it */

    if (ngx_cms_cluster_hooks.event) {
        ngx_cms_cluster_hooks.event((ngx_cycle_t *) ngx_cycle, &ev);
    }
}


/* how long a client should wait before trying again, in seconds */

ngx_uint_t
ngx_cms_failover_retry_after(ngx_cms_fo_cluster_t *cl)
{
    ngx_msec_t  t;

    if (cl == NULL || !cl->health) {
        return 1;
    }

    t = cl->interval * cl->rise;

    return (t + 999) / 1000;
}
