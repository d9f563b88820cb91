
/*
 * ngx_cms recovery plugin: meetings in progress survive a bridge failure.
 *
 *   cms_recover_calls on|off [max=<n>];    http   [off, 128 meetings kept]
 *   cms_recover_calls_skip_role <role> ...; http  calls these roles make
 *                                                 are not recovered
 *   cms_recovery_max_calls <n>;            http   [128]  as max=
 *   cms_recovery on|off;                   deprecated: cms_recover_calls
 *   cms_recovery_rate <n>;                 http   [50]   requests/s
 *   cms_recovery_concurrency <n>;          http   [4]    meetings at once
 *   cms_recovery_retries <n>;              http   [3]    per request
 *   cms_recovery_deadline <time>;          http   [30s]  for one recovery
 *   cms_recovery_timeout <time>;           http   [3s]   per request
 *   cms_recovery_redis on|off;             http   [on with cms_redis]
 *   cms_recovery_status;                   location: the JSON status
 *
 * and "cms_plugins ... recovery;" where the API is proxied: the plugin
 * learns from what passes there (its log hook sees the answer):
 *
 *   call.create with coSpace=, answered 200 with a Location: a meeting
 *     (the coSpace, the body, the bridge it went to);
 *   callLeg.create / participant.create on calls/<id>/ with remoteParty=:
 *     a dial-out of that meeting;
 *   callLeg.delete / participant.delete, call.delete: forgotten (also
 *     when the bridge is dead: the client meant it to end);
 *   coSpace.modify that checks the slot in (the slots plugin's note
 *     "slot_action" = "checkin", or nonMemberAccess=false as TMS sends
 *     it), coSpace.delete: the meeting on that coSpace is over.
 *
 * When the active bridge is declared down (a failover event "by"
 * health-check; not an operator's failover nor a failback: the calls of
 * a bridge that is up are still running there), the instance whose
 * decision it was re-creates every meeting of the dead bridge on the new
 * active one (ngx_cms_recovery_run.c).
 */


#include "ngx_cms_recovery.h"


/*
 * Its request hook runs before policy (1000), moves (900) and slots
 * (500): an old id in the path becomes the new one first, so they judge
 * the request the bridge will act on (moves asks the bridge about the
 * call it names).  Its log hook then runs after theirs, and sees the
 * slots plugin's notes; the audit's (10000) comes last.
 */
#define NGX_CMS_RECOVERY_PRIORITY   5000


static void ngx_cms_rec_log(ngx_cms_call_t *call);
static void ngx_cms_rec_event_hook(ngx_cms_event_t *ev);
static ngx_uint_t ngx_cms_rec_is(ngx_str_t *s, const char *text);
static ngx_uint_t ngx_cms_rec_role_skipped(ngx_cms_call_t *call);
static ngx_int_t ngx_cms_rec_valid_id(ngx_str_t *id);
static ngx_int_t ngx_cms_rec_encode(ngx_cms_call_t *call, ngx_str_t *out);
static ngx_int_t ngx_cms_rec_json_get(ngx_str_t *json, const char *key,
    ngx_str_t *value);
static char *ngx_cms_rec_recover_calls(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_cms_rec_skip_role(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_cms_rec_create_main_conf(ngx_conf_t *cf);
static char *ngx_cms_rec_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_cms_rec_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_cms_rec_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_cms_rec_init_process(ngx_cycle_t *cycle);
static void ngx_cms_rec_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_cms_recovery_commands[] = {

    { ngx_string("cms_recover_calls"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_cms_rec_recover_calls,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_recover_calls_skip_role"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_cms_rec_skip_role,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    /* the name of the first release: an alias, said to be deprecated */
    { ngx_string("cms_recovery"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_cms_rec_recover_calls,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_recovery_max_calls"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_cms_rec_main_conf_t, max_calls),
      NULL },

    { ngx_string("cms_recovery_rate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_cms_rec_main_conf_t, rate),
      NULL },

    { ngx_string("cms_recovery_concurrency"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_cms_rec_main_conf_t, concurrency),
      NULL },

    { ngx_string("cms_recovery_retries"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_cms_rec_main_conf_t, retries),
      NULL },

    { ngx_string("cms_recovery_deadline"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_cms_rec_main_conf_t, deadline),
      NULL },

    { ngx_string("cms_recovery_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_cms_rec_main_conf_t, timeout),
      NULL },

    { ngx_string("cms_recovery_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_cms_rec_status,
      0,
      0,
      NULL },

    { ngx_string("cms_recovery_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_cms_rec_main_conf_t, redis),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_cms_recovery_module_ctx = {
    ngx_cms_rec_preconfiguration,          /* preconfiguration */
    ngx_cms_rec_postconfiguration,         /* postconfiguration */

    ngx_cms_rec_create_main_conf,          /* create main configuration */
    ngx_cms_rec_init_main_conf,            /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_cms_recovery_module = {
    NGX_MODULE_V1,
    &ngx_cms_recovery_module_ctx,          /* module context */
    ngx_cms_recovery_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_cms_rec_init_process,              /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_cms_rec_exit_process,              /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


ngx_cms_plugin_t  ngx_cms_recovery_plugin = {
    NGX_CMS_PLUGIN_ABI_VERSION,
    ngx_string("recovery"),
    NGX_CMS_RECOVERY_PRIORITY,
    ngx_cms_rec_map_request,
    ngx_cms_rec_map_response,
    ngx_cms_rec_log,
    ngx_cms_rec_event_hook,
    0,
    NULL
};


ngx_cms_rec_main_conf_t *
ngx_cms_rec_conf(void)
{
    ngx_cms_rec_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_cms_recovery_module);

    if (rmcf == NULL || !rmcf->enable || rmcf->sh == NULL) {
        return NULL;
    }

    return rmcf;
}


/* what passed: learn the meetings and their dial-outs, forget the ended */

static void
ngx_cms_rec_log(ngx_cms_call_t *call)
{
    ngx_str_t          *op, *id, *bridge, *action, params, value;
    ngx_uint_t          status;
    ngx_cms_param_t    *p;
    ngx_http_request_t *r;

    if (ngx_cms_rec_conf() == NULL) {
        return;
    }

    r = ngx_cms_call_request(call);
    op = ngx_cms_call_str(call, NGX_CMS_CALL_OPERATION);
    status = ngx_cms_call_num(call, NGX_CMS_CALL_STATUS);

    if (ngx_cms_call_num(call, NGX_CMS_CALL_VERDICT) == NGX_CMS_VERDICT_DENY) {
        /* refused here: nothing happened on any bridge */
        return;
    }

    if (ngx_cms_rec_is(op, "call.create")) {
        id = ngx_cms_call_str(call, NGX_CMS_CALL_LOCATION_ID);
        bridge = ngx_cms_call_str(call, NGX_CMS_CALL_BRIDGE);
        p = ngx_cms_param_get(call, "coSpace");

        if (status != NGX_HTTP_OK || p == NULL || bridge->len == 0) {
            /* an ad hoc call (name=) is no meeting of a coSpace */
            return;
        }

        value.data = p->value.data;
        value.len = ngx_strlen(p->value.data);

        if (ngx_cms_rec_valid_id(id) != NGX_OK
            || ngx_cms_rec_valid_id(&value) != NGX_OK
            || bridge->len >= NGX_CMS_REC_NAME_LEN
            || ngx_cms_rec_encode(call, &params) != NGX_OK
            || params.len > NGX_CMS_REC_PARAMS_LEN)
        {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "cms recovery: call \"%V\" cannot be recovered "
                          "(its ids or its body are too long)", id);
            return;
        }

        if (ngx_cms_rec_role_skipped(call)) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "cms recovery: call \"%V\" on coSpace \"%V\" is "
                          "not kept for recovery: role \"%V\" "
                          "(cms_recover_calls_skip_role)", id, &value,
                          ngx_cms_call_str(call, NGX_CMS_CALL_ROLE));
            ngx_cms_rec_count(&ngx_cms_rec_conf()->sh->skipped_role, 1);
            return;
        }

        ngx_cms_rec_track_call(id, &value, bridge, &params, r->connection->log);
        return;
    }

    if (ngx_cms_rec_is(op, "callLeg.create")
        || ngx_cms_rec_is(op, "participant.create"))
    {
        id = ngx_cms_call_str(call, NGX_CMS_CALL_LOCATION_ID);

        if (status != NGX_HTTP_OK
            || ngx_cms_param_get(call, "remoteParty") == NULL
            || ngx_cms_rec_valid_id(id) != NGX_OK
            || ngx_cms_rec_valid_id(ngx_cms_call_str(call,
                                                     NGX_CMS_CALL_CALL_ID))
               != NGX_OK)
        {
            return;
        }

        if (ngx_cms_rec_encode(call, &params) != NGX_OK
            || params.len > NGX_CMS_REC_LEG_PARAMS)
        {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "cms recovery: dial-out \"%V\" cannot be "
                          "recovered (its body is too long)", id);
            return;
        }

        ngx_cms_rec_track_leg(ngx_cms_call_str(call, NGX_CMS_CALL_CALL_ID),
                              id, op->data[0] == 'c' ? 'l' : 'p', &params,
                              r->connection->log);
        return;
    }

    /*
     * Endings count whatever the bridge said, but for a refusal of the
     * client's credentials: a 404 means it is gone already, and a dead
     * bridge (no answer, 502-504) took it with it.
     */

    if (status == NGX_HTTP_UNAUTHORIZED || status == NGX_HTTP_FORBIDDEN) {
        return;
    }

    id = ngx_cms_call_str(call, NGX_CMS_CALL_OBJECT_ID);

    if (ngx_cms_rec_valid_id(id) != NGX_OK) {
        return;
    }

    if (ngx_cms_rec_is(op, "callLeg.delete")
        || ngx_cms_rec_is(op, "participant.delete"))
    {
        ngx_cms_rec_forget_leg(id);
        return;
    }

    if (ngx_cms_rec_is(op, "call.delete")) {
        ngx_cms_rec_forget_call(id);
        return;
    }

    if (ngx_cms_rec_is(op, "coSpace.delete") && status == NGX_HTTP_OK) {
        ngx_cms_rec_forget_space(id);
        return;
    }

    if (ngx_cms_rec_is(op, "coSpace.modify") && status == NGX_HTTP_OK) {
        action = ngx_cms_note_get(call, "slot_action");
        p = ngx_cms_param_get(call, "nonMemberAccess");

        if ((action && ngx_cms_rec_is(action, "checkin"))
            || (p && ngx_strcasecmp(p->value.data, (u_char *) "false") == 0))
        {
            ngx_cms_rec_forget_space(id);
        }
    }
}


/* made by a role whose calls are not to be recovered? */

static ngx_uint_t
ngx_cms_rec_role_skipped(ngx_cms_call_t *call)
{
    ngx_str_t                *role, *skip;
    ngx_uint_t                i;
    ngx_cms_rec_main_conf_t  *rmcf;

    rmcf = ngx_cms_rec_conf();

    if (rmcf->skip_roles == NULL) {
        return 0;
    }

    role = ngx_cms_call_str(call, NGX_CMS_CALL_ROLE);
    skip = rmcf->skip_roles->elts;

    for (i = 0; i < rmcf->skip_roles->nelts; i++) {
        if (skip[i].len == role->len
            && ngx_strncmp(skip[i].data, role->data, role->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* the body again, as the bridge got it: name=value&..., escaped */

static ngx_int_t
ngx_cms_rec_encode(ngx_cms_call_t *call, ngx_str_t *out)
{
    u_char           *p;
    size_t            len, nlen, vlen;
    ngx_uint_t        i;
    ngx_array_t      *params;
    ngx_cms_param_t  *prm;

    params = ngx_cms_call_params(call);

    out->len = 0;
    out->data = NULL;

    if (params == NULL) {
        return NGX_OK;
    }

    prm = params->elts;
    len = 0;

    for (i = 0; i < params->nelts; i++) {
        nlen = ngx_strlen(prm[i].name.data);
        vlen = ngx_strlen(prm[i].value.data);
        len += 2 + nlen + 2 * ngx_escape_uri(NULL, prm[i].name.data, nlen,
                                             NGX_ESCAPE_ARGS)
               + vlen + 2 * ngx_escape_uri(NULL, prm[i].value.data, vlen,
                                           NGX_ESCAPE_ARGS);
    }

    p = ngx_pnalloc(ngx_cms_call_request(call)->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    for (i = 0; i < params->nelts; i++) {
        if (i) {
            *p++ = '&';
        }

        p = (u_char *) ngx_escape_uri(p, prm[i].name.data,
                                      ngx_strlen(prm[i].name.data),
                                      NGX_ESCAPE_ARGS);
        *p++ = '=';
        p = (u_char *) ngx_escape_uri(p, prm[i].value.data,
                                      ngx_strlen(prm[i].value.data),
                                      NGX_ESCAPE_ARGS);
    }

    out->len = p - out->data;

    return NGX_OK;
}


/*
 * A failover: recover when the active bridge was declared down by the
 * health checks.  The event reaches only the instance whose decision it
 * was (the core emits it where the change originated); the recovery
 * claims the epoch in Redis on top of that.
 */

static void
ngx_cms_rec_event_hook(ngx_cms_event_t *ev)
{
    ngx_str_t   upstream, from, to, by, manual, epoch;
    ngx_int_t   n;

    if (!ngx_cms_rec_is(&ev->type, "failover")
        || ngx_process != NGX_PROCESS_WORKER
        || ngx_cms_rec_conf() == NULL)
    {
        return;
    }

    if (ngx_cms_rec_json_get(&ev->detail, "upstream", &upstream) != NGX_OK
        || ngx_cms_rec_json_get(&ev->detail, "from", &from) != NGX_OK
        || ngx_cms_rec_json_get(&ev->detail, "to", &to) != NGX_OK
        || ngx_cms_rec_json_get(&ev->detail, "by", &by) != NGX_OK
        || ngx_cms_rec_json_get(&ev->detail, "manual", &manual) != NGX_OK
        || ngx_cms_rec_json_get(&ev->detail, "epoch", &epoch) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, ev->log ? ev->log : ngx_cycle->log, 0,
                      "cms recovery: a failover event without upstream, "
                      "from, to, by, manual or epoch; nothing recovered");
        return;
    }

    if (!ngx_cms_rec_is(&by, "health-check")
        || !ngx_cms_rec_is(&manual, "false"))
    {
        /* the old bridge is up: its calls go on there */
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "cms recovery: failover \"%V\" -> \"%V\" by %V: the "
                      "calls on \"%V\" go on there, nothing to recover",
                      &from, &to, &by, &from);
        return;
    }

    n = ngx_atoi(epoch.data, epoch.len);
    if (n == NGX_ERROR) {
        return;
    }

    ngx_cms_rec_failover(&upstream, &from, &to, (uint64_t) n,
                         ev->log ? ev->log : ngx_cycle->log);
}


/*
 * One member of the failover event's flat JSON object: a string (the
 * core's names carry no escapes worth undoing here: bridge names are
 * configuration tokens) or a bare number / true / false.
 */

static ngx_int_t
ngx_cms_rec_json_get(ngx_str_t *json, const char *key, ngx_str_t *value)
{
    u_char  *p, *last, *s;
    size_t   klen;

    klen = ngx_strlen(key);
    p = json->data;
    last = json->data + json->len;

    while (p + klen + 3 < last) {
        p = ngx_strlcasestrn(p, last, (u_char *) key, klen - 1);

        if (p == NULL) {
            return NGX_DECLINED;
        }

        if (p[-1] != '"' || p[klen] != '"' || p[klen + 1] != ':') {
            p += klen;
            continue;
        }

        p += klen + 2;

        if (p < last && *p == '"') {
            s = ++p;

            while (p < last && *p != '"') {
                if (*p == '\\') {
                    return NGX_DECLINED;
                }
                p++;
            }

        } else {
            s = p;

            while (p < last && *p != ',' && *p != '}') {
                p++;
            }
        }

        if (p >= last) {
            return NGX_DECLINED;
        }

        value->data = s;
        value->len = p - s;

        return NGX_OK;
    }

    return NGX_DECLINED;
}


/* ids go into request lines sent with a bridge's credentials */

static ngx_int_t
ngx_cms_rec_valid_id(ngx_str_t *id)
{
    u_char  c;
    size_t  i;

    if (id->len == 0 || id->len >= NGX_CMS_REC_ID_LEN) {
        return NGX_DECLINED;
    }

    for (i = 0; i < id->len; i++) {
        c = id->data[i];

        if (!((c >= '0' && c <= '9')
              || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
              || c == '-'))
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_cms_rec_is(ngx_str_t *s, const char *text)
{
    size_t  len;

    len = ngx_strlen(text);

    return s->len == len && ngx_strncmp(s->data, text, len) == 0;
}


/* the audit's "recovery" events: {"step":...,<fields>} */

void
ngx_cms_rec_event(const char *step, ngx_str_t *subject, const char *fmt, ...)
{
    u_char           *p, buf[2048];
    va_list           args;
    ngx_cms_event_t   ev;

    p = ngx_snprintf(buf, sizeof(buf) - 2, "{\"step\":\"%s\"", step);

    va_start(args, fmt);
    p = ngx_vslprintf(p, buf + sizeof(buf) - 2, fmt, args);
    va_end(args);

    *p++ = '}';

    ngx_memzero(&ev, sizeof(ngx_cms_event_t));

    ngx_str_set(&ev.type, "recovery");
    ev.subject = *subject;
    ev.detail.data = buf;
    ev.detail.len = p - buf;
    ev.log = ngx_cycle->log;

    ngx_cms_event_emit((ngx_cycle_t *) ngx_cycle, &ev);
}


/* configuration */

/*
 * cms_recover_calls on|off [max=<n>]; and its first name, cms_recovery
 * on|off, which still works and says it is deprecated.
 */

static char *
ngx_cms_rec_recover_calls(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_rec_main_conf_t  *rmcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (rmcf->enable != NGX_CONF_UNSET) {
        return "is duplicate (cms_recover_calls, or its old name "
               "cms_recovery)";
    }

    value = cf->args->elts;

    if (value[0].len == sizeof("cms_recovery") - 1) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"cms_recovery\" is deprecated, use "
                           "\"cms_recover_calls\"");
    }

    if (ngx_strcmp(value[1].data, "on") == 0) {
        rmcf->enable = 1;

    } else if (ngx_strcmp(value[1].data, "off") == 0) {
        rmcf->enable = 0;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\": on or off",
                           &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    if (value[2].len <= 4 || ngx_strncmp(value[2].data, "max=", 4) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\": max=<n> "
                           "(meetings kept)", &value[2], &value[0]);
        return NGX_CONF_ERROR;
    }

    n = ngx_atoi(value[2].data + 4, value[2].len - 4);

    if (n == NGX_ERROR
        || (rmcf->max_calls != NGX_CONF_UNSET_UINT
            && rmcf->max_calls != (ngx_uint_t) n))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"%V\" in \"%V\"%s", &value[2],
                           &value[0], n == NGX_ERROR ? ""
                           : ": cms_recovery_max_calls says otherwise");
        return NGX_CONF_ERROR;
    }

    rmcf->max_calls = n;

    return NGX_CONF_OK;
}


/* cms_recover_calls_skip_role <role> ...; the roles of cms_role */

static char *
ngx_cms_rec_skip_role(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_rec_main_conf_t  *rmcf = conf;

    ngx_str_t   *value, *role;
    ngx_uint_t   i;

    if (rmcf->skip_roles == NULL) {
        rmcf->skip_roles = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
        if (rmcf->skip_roles == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        role = ngx_array_push(rmcf->skip_roles);
        if (role == NULL) {
            return NGX_CONF_ERROR;
        }

        *role = value[i];
    }

    return NGX_CONF_OK;
}


static void *
ngx_cms_rec_create_main_conf(ngx_conf_t *cf)
{
    ngx_cms_rec_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool, sizeof(ngx_cms_rec_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    rmcf->enable = NGX_CONF_UNSET;
    rmcf->redis = NGX_CONF_UNSET;
    rmcf->max_calls = NGX_CONF_UNSET_UINT;
    rmcf->rate = NGX_CONF_UNSET_UINT;
    rmcf->concurrency = NGX_CONF_UNSET_UINT;
    rmcf->retries = NGX_CONF_UNSET_UINT;
    rmcf->deadline = NGX_CONF_UNSET_MSEC;
    rmcf->timeout = NGX_CONF_UNSET_MSEC;

    return rmcf;
}


static char *
ngx_cms_rec_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_cms_rec_main_conf_t  *rmcf = conf;

    ngx_conf_init_value(rmcf->enable, 0);
    ngx_conf_init_uint_value(rmcf->max_calls, 128);
    ngx_conf_init_uint_value(rmcf->rate, 50);
    ngx_conf_init_uint_value(rmcf->concurrency, 4);
    ngx_conf_init_uint_value(rmcf->retries, 3);
    ngx_conf_init_msec_value(rmcf->deadline, 30000);
    ngx_conf_init_msec_value(rmcf->timeout, 3000);

    if (rmcf->max_calls == 0 || rmcf->max_calls > 100000) {
        return "cms_recovery_max_calls must be 1 .. 100000";
    }

    if (rmcf->rate == 0 || rmcf->rate > 1000) {
        return "cms_recovery_rate must be 1 .. 1000 requests per second";
    }

    if (rmcf->concurrency == 0) {
        return "cms_recovery_concurrency must be 1 or more";
    }

    if (rmcf->retries > 100) {
        return "cms_recovery_retries must be 0 .. 100";
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_cms_rec_preconfiguration(ngx_conf_t *cf)
{
    return ngx_cms_plugin_register(cf, &ngx_cms_recovery_plugin);
}


static ngx_int_t
ngx_cms_rec_postconfiguration(ngx_conf_t *cf)
{
    size_t                    size;
    ngx_str_t                 name;
    ngx_shm_zone_t           *zone;
    ngx_cms_rec_main_conf_t  *rmcf;

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_cms_recovery_module);
    rmcf->log = &cf->cycle->new_log;

    if (!rmcf->enable) {
        return NGX_OK;
    }

    ngx_str_set(&name, "cms_recovery");

    size = sizeof(ngx_cms_rec_sh_t)
           + rmcf->max_calls * sizeof(ngx_cms_rec_meeting_t)
           + ngx_cms_rec_maps_size(rmcf);
    /* the slab pool's own: a page descriptor per page (under 1/64), and
     * its header */
    size = ngx_align(size + size / 64 + 8 * ngx_pagesize, ngx_pagesize);

    zone = ngx_shared_memory_add(cf, &name, size, &ngx_cms_recovery_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_cms_rec_init_zone;
    zone->data = rmcf;
    rmcf->zone = zone;

    if (ngx_cms_rec_metrics_init(cf, rmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_cms_rec_redis_conf(cf, rmcf);
}


static ngx_int_t
ngx_cms_rec_init_process(ngx_cycle_t *cycle)
{
    ngx_cms_rec_main_conf_t  *rmcf;

    rmcf = ngx_cms_rec_conf();

    if (rmcf == NULL || ngx_process != NGX_PROCESS_WORKER) {
        return NGX_OK;
    }

    return ngx_cms_rec_map_init_process(rmcf);
}


static void
ngx_cms_rec_exit_process(ngx_cycle_t *cycle)
{
    ngx_cms_rec_run_abort();
}
