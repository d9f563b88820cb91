
/*
 * ngx_cms Redis client: the nginx module "ngx_cms_redis_module", its
 * directives and the worker's start and end.
 *
 * http{} level:
 *
 *   cms_redis <ip:port>|unix:<path>|sentinel [password=<p>] [user=<u>]
 *             [db=<n>] [prefix=<p>] [connect_timeout=<t>]
 *             [command_timeout=<t>] [ping_interval=<t>];
 *       IPv4 literals and unix sockets only (a host name is refused:
 *       hiredis 0.14 would resolve it with a blocking lookup); port 6379
 *       by default.  Defaults: no AUTH, no SELECT, no prefix,
 *       connect_timeout=1s (connect and handshake), command_timeout=1s,
 *       ping_interval=5s (0: no keep-alive).  "sentinel" instead of an
 *       address: the options only, the master comes from
 *       cms_redis_sentinel.
 *   cms_redis_sentinel <ip:port> ... master=<name> [password=<p>]
 *             [user=<u>];
 *       port 26379 by default; password/user are the Sentinels' own.
 *   cms_redis_spool <dir>|off [mode=fallback|always] [max_size=<size>];
 *       off by default (records wait in memory, 10000 at most); nginx
 *       creates <dir> for the workers' user; mode=fallback by default;
 *       max_size 0: no limit (bytes on disk).
 *   cms_redis_stream_replicas <n>|off [timeout=<time>];
 *       off by default; <n>: a batch of stream records counts as
 *       delivered only once WAIT says <n> replicas have it (timeout 1s),
 *       on a connection of the stream's own.
 *
 * server{}, location{}:
 *
 *   cms_redis_stream <key>|off [maxlen=<n>];   maxlen 100000, 0: no cap
 *
 * location{}:
 *
 *   cms_redis_status;
 *
 * (The tests' window on this API, cms_redis_debug, is a module of its own
 * in t/redis_debug/, never part of the module that ships.)
 *
 * Without "cms_redis" nothing of this runs and the API answers
 * NGX_DECLINED.  Redis down fails open for the stream (records wait) and
 * for proxying (never delayed); what other features do is theirs to say.
 */


#include "ngx_cms_redis_int.h"

#include <ngx_sha1.h>


static void *ngx_cms_redis_create_main_conf(ngx_conf_t *cf);
static char *ngx_cms_redis_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_cms_redis_create_loc_conf(ngx_conf_t *cf);
static char *ngx_cms_redis_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_cms_redis_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_cms_redis_init_process(ngx_cycle_t *cycle);
static void ngx_cms_redis_exit_process(ngx_cycle_t *cycle);

static char *ngx_cms_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_cms_redis_sentinel_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_cms_redis_spool_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_cms_redis_replicas_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_cms_redis_parse_addr(ngx_conf_t *cf, ngx_str_t *value,
    ngx_uint_t default_port, ngx_cms_redis_addr_t *addr);
static char *ngx_cms_redis_parse_time(ngx_conf_t *cf, ngx_str_t *value,
    size_t skip, ngx_msec_t *msec);


static ngx_command_t  ngx_cms_redis_commands[] = {

    { ngx_string("cms_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_cms_redis_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_redis_sentinel"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_cms_redis_sentinel_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_redis_spool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_cms_redis_spool_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_redis_stream_replicas"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_cms_redis_replicas_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_redis_stream"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_cms_redis_stream_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_redis_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_cms_redis_status_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_cms_redis_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_cms_redis_postconfiguration,       /* postconfiguration */

    ngx_cms_redis_create_main_conf,        /* create main configuration */
    ngx_cms_redis_init_main_conf,          /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_cms_redis_create_loc_conf,         /* create location configuration */
    ngx_cms_redis_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_cms_redis_module = {
    NGX_MODULE_V1,
    &ngx_cms_redis_module_ctx,             /* module context */
    ngx_cms_redis_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_cms_redis_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_cms_redis_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_cms_redis_create_main_conf(ngx_conf_t *cf)
{
    ngx_cms_redis_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool, sizeof(ngx_cms_redis_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     rmcf->enabled = 0;
     *     rmcf->addr = NULL;
     *     rmcf->user = { 0, NULL };
     *     rmcf->password = { 0, NULL };
     *     rmcf->prefix = { 0, NULL };
     *     rmcf->sentinels = NULL;
     *     rmcf->scripts = NULL;
     *     rmcf->spool = { 0, NULL };
     *     rmcf->stream_used = 0;
     */

    rmcf->db = NGX_CONF_UNSET;
    rmcf->connect_timeout = NGX_CONF_UNSET_MSEC;
    rmcf->command_timeout = NGX_CONF_UNSET_MSEC;
    rmcf->ping_interval = NGX_CONF_UNSET_MSEC;
    rmcf->request_id_index = NGX_CONF_UNSET;
    rmcf->stream_replicas = NGX_CONF_UNSET_UINT;
    rmcf->stream_replicas_timeout = NGX_CONF_UNSET_MSEC;

    return rmcf;
}


static char *
ngx_cms_redis_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_cms_redis_main_conf_t  *rmcf = conf;

    if (rmcf->file && rmcf->addr == NULL && rmcf->sentinels == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"cms_redis sentinel\" in %s:%ui needs "
                      "\"cms_redis_sentinel\"", rmcf->file, rmcf->line);
        return NGX_CONF_ERROR;
    }

    if (rmcf->addr && rmcf->sentinels) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"cms_redis\" in %s:%ui has an address, but "
                      "\"cms_redis_sentinel\" is set too: use "
                      "\"cms_redis sentinel ...\" to give options only",
                      rmcf->file, rmcf->line);
        return NGX_CONF_ERROR;
    }

    rmcf->enabled = (rmcf->addr != NULL || rmcf->sentinels != NULL);

    if (rmcf->replicas_file && rmcf->stream_replicas && !rmcf->enabled) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"cms_redis_stream_replicas\" in %s:%ui needs "
                      "\"cms_redis\" or \"cms_redis_sentinel\"",
                      rmcf->replicas_file, rmcf->replicas_line);
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_uint_value(rmcf->stream_replicas, 0);
    ngx_conf_init_msec_value(rmcf->stream_replicas_timeout, 1000);

    if (rmcf->db == NGX_CONF_UNSET) {
        rmcf->db = -1;
    }

    ngx_conf_init_msec_value(rmcf->connect_timeout, 1000);
    ngx_conf_init_msec_value(rmcf->command_timeout, 1000);
    ngx_conf_init_msec_value(rmcf->ping_interval, 5000);

    if (rmcf->prefix.data == NULL) {
        ngx_str_set(&rmcf->prefix, "");
    }

    return NGX_CONF_OK;
}


static void *
ngx_cms_redis_create_loc_conf(ngx_conf_t *cf)
{
    ngx_cms_redis_loc_conf_t  *rlcf;

    rlcf = ngx_pcalloc(cf->pool, sizeof(ngx_cms_redis_loc_conf_t));
    if (rlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     rlcf->stream_key = { 0, NULL };   (unset)
     */

    rlcf->stream_maxlen = NGX_CONF_UNSET_UINT;

    return rlcf;
}


static char *
ngx_cms_redis_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_cms_redis_loc_conf_t  *prev = parent;
    ngx_cms_redis_loc_conf_t  *conf = child;

    if (conf->stream_key.data == NULL) {
        conf->stream_key = prev->stream_key;
        conf->stream_maxlen = prev->stream_maxlen;
    }

    if (conf->stream_key.data == NULL) {
        ngx_str_set(&conf->stream_key, "");
    }

    ngx_conf_merge_uint_value(conf->stream_maxlen, prev->stream_maxlen, 0);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_cms_redis_postconfiguration(ngx_conf_t *cf)
{
    ngx_cms_redis_main_conf_t  *rmcf;

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_cms_redis_module);

    return ngx_cms_redis_stream_postconfiguration(cf, rmcf);
}


static ngx_int_t
ngx_cms_redis_init_process(ngx_cycle_t *cycle)
{
    ngx_cms_redis_main_conf_t  *rmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    rmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_cms_redis_module);

    if (rmcf == NULL || !rmcf->enabled) {
        return NGX_OK;
    }

    /* a worker without Redis still proxies: never fail the worker here */

    if (ngx_cms_redis_init_worker(cycle, rmcf) != NGX_OK
        || ngx_cms_redis_stream_init(cycle, rmcf) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "cms redis: cannot start the client in this worker");
        return NGX_OK;
    }

    ngx_cms_redis_start_worker(cycle);

    return NGX_OK;
}


static void
ngx_cms_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_cms_redis_exit_worker(cycle);
}


/* configuration-time API */

ngx_uint_t
ngx_cms_redis_configured(ngx_conf_t *cf)
{
    ngx_cms_redis_main_conf_t  *rmcf;

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_cms_redis_module);

    return rmcf && (rmcf->addr != NULL || rmcf->sentinels != NULL
                    || rmcf->file != NULL);
}


ngx_cms_redis_script_t *
ngx_cms_redis_script_add(ngx_conf_t *cf, ngx_str_t *source)
{
    u_char                      hash[20];
    ngx_sha1_t                  sha1;
    ngx_cms_redis_script_t     *script, **slot;
    ngx_cms_redis_main_conf_t  *rmcf;

    if (source->len == 0) {
        return NULL;
    }

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_cms_redis_module);
    if (rmcf == NULL) {
        return NULL;
    }

    if (rmcf->scripts == NULL) {
        rmcf->scripts = ngx_array_create(cf->pool, 4,
                                         sizeof(ngx_cms_redis_script_t *));
        if (rmcf->scripts == NULL) {
            return NULL;
        }
    }

    script = ngx_pcalloc(cf->pool, sizeof(ngx_cms_redis_script_t));
    if (script == NULL) {
        return NULL;
    }

    script->source.data = ngx_pstrdup(cf->pool, source);
    if (script->source.data == NULL) {
        return NULL;
    }

    script->source.len = source->len;

    /* what SCRIPT LOAD will answer, and what EVALSHA is called with */

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, source->data, source->len);
    ngx_sha1_final(hash, &sha1);

    ngx_hex_dump(script->sha1, hash, 20);
    script->sha1[40] = '\0';

    slot = ngx_array_push(rmcf->scripts);
    if (slot == NULL) {
        return NULL;
    }

    *slot = script;

    return script;
}


/* directives */

static char *
ngx_cms_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_redis_main_conf_t  *rmcf = conf;

    char        *rv;
    ngx_int_t    n;
    ngx_str_t   *value, *s;
    ngx_uint_t   i;

    if (rmcf->file) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rmcf->file = cf->conf_file->file.name.data;
    rmcf->line = cf->conf_file->line;

    if (ngx_strcmp(value[1].data, "sentinel") != 0) {
        rmcf->addr = ngx_pcalloc(cf->pool, sizeof(ngx_cms_redis_addr_t));
        if (rmcf->addr == NULL) {
            return NGX_CONF_ERROR;
        }

        rv = ngx_cms_redis_parse_addr(cf, &value[1], 6379, rmcf->addr);
        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    for (i = 2; i < cf->args->nelts; i++) {
        s = &value[i];

        if (ngx_strncmp(s->data, "password=", 9) == 0) {
            rmcf->password.data = s->data + 9;
            rmcf->password.len = s->len - 9;
            continue;
        }

        if (ngx_strncmp(s->data, "user=", 5) == 0) {
            rmcf->user.data = s->data + 5;
            rmcf->user.len = s->len - 5;
            continue;
        }

        if (ngx_strncmp(s->data, "db=", 3) == 0) {
            n = ngx_atoi(s->data + 3, s->len - 3);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            rmcf->db = n;
            continue;
        }

        if (ngx_strncmp(s->data, "prefix=", 7) == 0) {
            rmcf->prefix.data = s->data + 7;
            rmcf->prefix.len = s->len - 7;
            continue;
        }

        if (ngx_strncmp(s->data, "connect_timeout=", 16) == 0) {
            rv = ngx_cms_redis_parse_time(cf, s, 16, &rmcf->connect_timeout);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (ngx_strncmp(s->data, "command_timeout=", 16) == 0) {
            rv = ngx_cms_redis_parse_time(cf, s, 16, &rmcf->command_timeout);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (ngx_strncmp(s->data, "ping_interval=", 14) == 0) {
            rv = ngx_cms_redis_parse_time(cf, s, 14, &rmcf->ping_interval);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        goto invalid;
    }

    if (rmcf->user.len && rmcf->password.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cms_redis\": \"user=\" needs \"password=\"");
        return NGX_CONF_ERROR;
    }

    if (rmcf->connect_timeout == 0 || rmcf->command_timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cms_redis\": timeouts cannot be 0");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"cms_redis\"", s);
    return NGX_CONF_ERROR;
}


static char *
ngx_cms_redis_sentinel_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_cms_redis_main_conf_t  *rmcf = conf;

    char                  *rv;
    ngx_str_t             *value, *s;
    ngx_uint_t             i;
    ngx_cms_redis_addr_t  *addr;

    if (rmcf->sentinels) {
        return "is duplicate";
    }

    rmcf->sentinels = ngx_array_create(cf->pool, 3,
                                       sizeof(ngx_cms_redis_addr_t));
    if (rmcf->sentinels == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        s = &value[i];

        if (ngx_strncmp(s->data, "master=", 7) == 0) {
            rmcf->master_name.data = s->data + 7;
            rmcf->master_name.len = s->len - 7;
            continue;
        }

        if (ngx_strncmp(s->data, "password=", 9) == 0) {
            rmcf->sentinel_password.data = s->data + 9;
            rmcf->sentinel_password.len = s->len - 9;
            continue;
        }

        if (ngx_strncmp(s->data, "user=", 5) == 0) {
            rmcf->sentinel_user.data = s->data + 5;
            rmcf->sentinel_user.len = s->len - 5;
            continue;
        }

        if (ngx_strncmp(s->data, "unix:", 5) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"cms_redis_sentinel\": \"%V\": Sentinels "
                               "are given as <ip>:<port>", s);
            return NGX_CONF_ERROR;
        }

        addr = ngx_array_push(rmcf->sentinels);
        if (addr == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(addr, sizeof(ngx_cms_redis_addr_t));

        rv = ngx_cms_redis_parse_addr(cf, s, 26379, addr);
        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    if (rmcf->sentinels->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cms_redis_sentinel\" needs at least one "
                           "<ip>:<port>");
        return NGX_CONF_ERROR;
    }

    if (rmcf->master_name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cms_redis_sentinel\" needs \"master=<name>\"");
        return NGX_CONF_ERROR;
    }

    if (rmcf->sentinel_user.len && rmcf->sentinel_password.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cms_redis_sentinel\": \"user=\" needs "
                           "\"password=\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_cms_redis_spool_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_redis_main_conf_t  *rmcf = conf;

    off_t        size;
    ngx_str_t   *value, s;
    ngx_uint_t   i;
    ngx_path_t  *path;

    if (rmcf->spool_set) {
        return "is duplicate";
    }

    rmcf->spool_set = 1;

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts > 2) {
            return "takes no parameters after \"off\"";
        }

        return NGX_CONF_OK;
    }

    /*
     * fallback by default: the spool is for when Redis cannot take the
     * records; "always" also survives a kill -9 of nginx while Redis is
     * up, for a write() per record (the audit file has them either way)
     */

    rmcf->spool_fallback = 1;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "mode=always") == 0) {
            rmcf->spool_fallback = 0;
            continue;
        }

        if (ngx_strcmp(value[i].data, "mode=fallback") == 0) {
            rmcf->spool_fallback = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_size=", 9) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in "
                               "\"cms_redis_spool\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        s.data = value[i].data + 9;
        s.len = value[i].len - 9;

        size = ngx_parse_offset(&s);
        if (size == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"%V\" in \"cms_redis_spool\"",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        rmcf->spool_max_size = size;
    }

    rmcf->spool = value[1];

    if (ngx_conf_full_name(cf->cycle, &rmcf->spool, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* nginx creates it at start, owned by the workers' user */

    path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (path == NULL) {
        return NGX_CONF_ERROR;
    }

    path->name = rmcf->spool;
    path->conf_file = cf->conf_file->file.name.data;
    path->line = cf->conf_file->line;

    if (ngx_add_path(cf, &path) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * cms_redis_stream_replicas <n>|off [timeout=<time>]: a batch is
 * delivered once WAIT <n> <timeout> after it says so (see
 * ngx_cms_redis_stream.c).  Up to 16 replicas: more is a typo.
 */

static char *
ngx_cms_redis_replicas_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_cms_redis_main_conf_t  *rmcf = conf;

    char       *rv;
    ngx_int_t   n;
    ngx_str_t  *value;

    if (rmcf->stream_replicas != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rmcf->replicas_file = cf->conf_file->file.name.data;
    rmcf->replicas_line = cf->conf_file->line;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts > 2) {
            return "takes no parameters after \"off\"";
        }

        rmcf->stream_replicas = 0;
        return NGX_CONF_OK;
    }

    n = ngx_atoi(value[1].data, value[1].len);

    if (n < 1 || n > 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number of replicas \"%V\" in "
                           "\"cms_redis_stream_replicas\" (1 to 16, or "
                           "\"off\")", &value[1]);
        return NGX_CONF_ERROR;
    }

    rmcf->stream_replicas = n;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "timeout=", 8) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in "
                               "\"cms_redis_stream_replicas\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        rv = ngx_cms_redis_parse_time(cf, &value[2], 8,
                                      &rmcf->stream_replicas_timeout);
        if (rv != NGX_CONF_OK) {
            return rv;
        }

        /* WAIT 0 would wait for ever */

        if (rmcf->stream_replicas_timeout == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"cms_redis_stream_replicas\": the timeout "
                               "must be more than 0");
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * hiredis 0.14 resolves host names with a blocking getaddrinfo call in the
 * worker, and tries IPv4 first even for an IPv6 literal (a DNS lookup
 * of "::1"): IPv4 literals and unix sockets only.
 */

static char *
ngx_cms_redis_parse_addr(ngx_conf_t *cf, ngx_str_t *value,
    ngx_uint_t default_port, ngx_cms_redis_addr_t *addr)
{
    u_char     *colon, *host;
    size_t      len;
    ngx_int_t   port;

    if (ngx_strncmp(value->data, "unix:", 5) == 0) {
        len = value->len - 5;

        if (len == 0 || len >= sizeof(addr->host)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid unix socket \"%V\"", value);
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(addr->host, value->data + 5, len);
        addr->host[len] = '\0';
        addr->port = 0;

    } else {
        host = value->data;
        colon = ngx_strlchr(host, host + value->len, ':');

        if (host[0] == '[' || (colon && ngx_strlchr(colon + 1,
                                                    host + value->len, ':')))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": IPv6 addresses are not supported "
                               "(hiredis 0.14 would look them up in DNS); "
                               "use an IPv4 address or unix:<path>", value);
            return NGX_CONF_ERROR;
        }

        len = colon ? (size_t) (colon - host) : value->len;
        port = default_port;

        if (colon) {
            port = ngx_atoi(colon + 1, value->len - len - 1);

            if (port < 1 || port > 65535) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid port in \"%V\"", value);
                return NGX_CONF_ERROR;
            }
        }

        if (len == 0 || len >= sizeof(addr->host)
            || ngx_inet_addr(host, len) == INADDR_NONE)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" is not an IPv4 address: host names "
                               "are refused because hiredis 0.14 would "
                               "resolve them with a blocking lookup in the "
                               "worker; use an IPv4 address or unix:<path>",
                               value);
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(addr->host, host, len);
        addr->host[len] = '\0';
        addr->port = (int) port;
    }

    addr->text.data = addr->text_data;

    if (addr->port) {
        addr->text.len = ngx_sprintf(addr->text_data, "%s:%d", addr->host,
                                     addr->port)
                         - addr->text_data;

    } else {
        addr->text.len = ngx_sprintf(addr->text_data, "unix:%s", addr->host)
                         - addr->text_data;
    }

    return NGX_CONF_OK;
}


static char *
ngx_cms_redis_parse_time(ngx_conf_t *cf, ngx_str_t *value, size_t skip,
    ngx_msec_t *msec)
{
    ngx_int_t  t;
    ngx_str_t  s;

    s.data = value->data + skip;
    s.len = value->len - skip;

    t = ngx_parse_time(&s, 0);

    if (t == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid time in \"%V\"", value);
        return NGX_CONF_ERROR;
    }

    *msec = (ngx_msec_t) t;

    return NGX_CONF_OK;
}
