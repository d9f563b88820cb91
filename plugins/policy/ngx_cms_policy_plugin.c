/*
 * ngx_cms policy plugin: who may do what, with which parameters.
 *
 * The directives (README.md has the language and examples):
 *
 *   cms_policy_rule <name> <action> [conditions] [options];
 *   cms_policy_role <role> <operation pattern | method=M,..> ...;
 *   cms_policy_inherit on | off;
 *   cms_policy_mode enforce | report;
 *   cms_policy_zone <name> <size>;
 *
 * How a request is judged, in this order:
 *
 *   1. permission: when the location has any cms_policy_role or any
 *      "allow" rule, the request must be permitted by one of them
 *      (403 otherwise); without either, everything is permitted;
 *   2. restrictions: the deny, cap, require and meetings rules, in
 *      configuration order, the inherited ones first; the first refusal
 *      answers, so a deny always beats an allow; a clamping cap rewrites
 *      the parameter and later rules see the new value.
 *
 * The rule language itself is pure code, unit-tested alone in unit/:
 * ngx_cms_policy_parse.c and ngx_cms_policy_match.c.  This file holds the
 * configuration and the hooks; the meetings counters' shared zones are in
 * ngx_cms_policy_zone.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_cms_plugin.h"
#include "ngx_cms_regex.h"
#include "ngx_cms_policy_rule.h"
#include "ngx_cms_policy_zone.h"


#define NGX_CMS_POLICY_PRIORITY    1000
#define NGX_CMS_POLICY_MAX_MARKS   4
#define NGX_CMS_POLICY_OP_LEN      128


typedef struct {
    ngx_cms_policy_rule_t         rule;
    ngx_str_t                     name;      /* rule.name, for nginx */
    ngx_cms_policy_zone_t        *zone;      /* meetings */
} ngx_cms_policy_conf_rule_t;




typedef struct {
    ngx_array_t                  *rules;     /* of ngx_cms_policy_conf_rule_t
                                                pointers */
    ngx_array_t                  *grants;    /* of ngx_cms_policy_grant_t */
    ngx_flag_t                    inherit;
    ngx_uint_t                    gated;     /* roles or allow rules */
    ngx_uint_t                    report;    /* cms_policy_mode report */
} ngx_cms_policy_loc_conf_t;


/* a change to a meetings counter, settled by the log hook */

typedef struct {
    ngx_cms_policy_zone_t        *zone;
    ngx_cms_policy_meter_e        meter;
    u_char                        id[NGX_CMS_POLICY_ID_LEN];
    size_t                        len;
} ngx_cms_policy_mark_t;


typedef struct {
    ngx_cms_policy_mark_t         marks[NGX_CMS_POLICY_MAX_MARKS];
    ngx_uint_t                    nmarks;
} ngx_cms_policy_ctx_t;


static ngx_int_t ngx_cms_policy_request(ngx_cms_call_t *call);
static void ngx_cms_policy_log(ngx_cms_call_t *call);
static void ngx_cms_policy_cleanup(void *data);
static void ngx_cms_policy_settle(ngx_cms_policy_ctx_t *ctx, ngx_uint_t ok);
static ngx_int_t ngx_cms_policy_view(ngx_cms_call_t *call,
    ngx_cms_policy_req_t *req, u_char *op);
static ngx_int_t ngx_cms_policy_permit(ngx_cms_call_t *call,
    ngx_cms_policy_loc_conf_t *plcf, ngx_cms_policy_req_t *req);
static ngx_int_t ngx_cms_policy_set(ngx_cms_call_t *call,
    ngx_cms_policy_conf_rule_t *cr, ngx_cms_policy_result_t *res);
static ngx_int_t ngx_cms_policy_open(ngx_cms_call_t *call,
    ngx_cms_policy_conf_rule_t *cr, ngx_cms_policy_result_t *res);
static ngx_int_t ngx_cms_policy_report(ngx_cms_call_t *call,
    ngx_str_t *rule, ngx_uint_t status, u_char *element, ngx_str_t *why);
static ngx_int_t ngx_cms_policy_deny(ngx_cms_call_t *call, ngx_str_t *rule,
    ngx_uint_t status, ngx_cms_span_t *error, u_char *reason, size_t len,
    ngx_uint_t report);
static ngx_cms_policy_ctx_t *ngx_cms_policy_get_ctx(ngx_cms_call_t *call);
static ngx_cms_policy_meeting_t *ngx_cms_policy_lookup(
    ngx_cms_policy_sh_t *sh, u_char *id, size_t len);
static void ngx_cms_policy_lower(u_char *dst, u_char *src, size_t n);
static void ngx_cms_policy_remove(ngx_cms_policy_sh_t *sh,
    ngx_cms_policy_meeting_t *m);

static int ngx_cms_policy_exec(void *re, const unsigned char *s, size_t len);
static void *ngx_cms_policy_compile(void *data, const ngx_cms_span_t *pattern,
    int caseless, char *err, size_t errlen);

static char *ngx_cms_policy_rule_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_cms_policy_role_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);

static ngx_int_t ngx_cms_policy_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_cms_policy_postconfiguration(ngx_conf_t *cf);
static void *ngx_cms_policy_create_main_conf(ngx_conf_t *cf);
static void *ngx_cms_policy_create_loc_conf(ngx_conf_t *cf);
static char *ngx_cms_policy_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_array_t *ngx_cms_policy_join(ngx_conf_t *cf, ngx_array_t *first,
    ngx_array_t *second);


static ngx_conf_enum_t  ngx_cms_policy_modes[] = {
    { ngx_string("enforce"), 0 },
    { ngx_string("report"), 1 },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_cms_policy_commands[] = {

    { ngx_string("cms_policy_rule"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_cms_policy_rule_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_policy_role"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_cms_policy_role_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_policy_inherit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_cms_policy_loc_conf_t, inherit),
      NULL },

    { ngx_string("cms_policy_mode"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_cms_policy_loc_conf_t, report),
      &ngx_cms_policy_modes },

    { ngx_string("cms_policy_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_cms_policy_zone_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_cms_policy_module_ctx = {
    ngx_cms_policy_preconfiguration,       /* preconfiguration */
    ngx_cms_policy_postconfiguration,      /* postconfiguration */

    ngx_cms_policy_create_main_conf,       /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_cms_policy_create_loc_conf,        /* create location configuration */
    ngx_cms_policy_merge_loc_conf          /* merge location configuration */
};


ngx_module_t  ngx_cms_policy_module = {
    NGX_MODULE_V1,
    &ngx_cms_policy_module_ctx,            /* module context */
    ngx_cms_policy_commands,               /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_cms_plugin_t  ngx_cms_policy_plugin = {
    NGX_CMS_PLUGIN_ABI_VERSION,
    ngx_string("policy"),
    NGX_CMS_POLICY_PRIORITY,
    ngx_cms_policy_request,
    NULL,
    ngx_cms_policy_log,
    NULL,
    0,
    NULL
};


/* the rule names of the permission step, which no operator wrote */
static ngx_str_t  ngx_cms_policy_roles_rule = ngx_string("roles");
static ngx_str_t  ngx_cms_policy_permission_rule = ngx_string("permission");


/* the request hook */

static ngx_int_t
ngx_cms_policy_request(ngx_cms_call_t *call)
{
    ngx_int_t                     rc;
    ngx_uint_t                    i;
    ngx_http_request_t           *r;
    ngx_cms_policy_req_t          req;
    ngx_cms_policy_result_t       res;
    ngx_cms_policy_loc_conf_t    *plcf;
    ngx_cms_policy_conf_rule_t  **rules, *cr;
    u_char                        op[NGX_CMS_POLICY_OP_LEN];

    r = ngx_cms_call_request(call);

    plcf = ngx_http_get_module_loc_conf(r, ngx_cms_policy_module);

    if (plcf->rules == NULL && plcf->grants == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_cms_policy_view(call, &req, op) != NGX_OK) {
        return NGX_ERROR;
    }

    /* 1. permission */

    rc = ngx_cms_policy_permit(call, plcf, &req);

    if (rc != NGX_OK) {
        return rc;
    }

    /* 2. restrictions, in order */

    if (plcf->rules == NULL) {
        return NGX_OK;
    }

    rules = plcf->rules->elts;

    for (i = 0; i < plcf->rules->nelts; i++) {
        cr = rules[i];

        if (cr->rule.action == NGX_CMS_POLICY_ALLOW) {
            continue;
        }

        ngx_cms_policy_rule_check(&cr->rule, &req, ngx_cms_policy_exec,
                                  &res);

        switch (res.outcome) {

        case NGX_CMS_POLICY_REFUSE:
            rc = ngx_cms_policy_deny(call, &cr->name,
                                     res.status, &res.error,
                                     (u_char *) res.reason, res.reason_len,
                                     cr->rule.report);

            if (rc != NGX_OK) {
                return rc;
            }

            /* reported only: the later rules still judge the call */
            break;

        case NGX_CMS_POLICY_SET:
            if (ngx_cms_policy_set(call, cr, &res) != NGX_OK
                || ngx_cms_policy_view(call, &req, op) != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;

        case NGX_CMS_POLICY_METER:
            rc = ngx_cms_policy_open(call, cr, &res);

            if (rc != NGX_OK) {
                return rc;
            }

            break;

        default:
            break;
        }
    }

    return NGX_OK;
}


/*
 * What the rules see of the call.  The parameters are copied into a view
 * of their own because a clamp changes them; the view is made again
 * after each change.
 */

static ngx_int_t
ngx_cms_policy_view(ngx_cms_call_t *call, ngx_cms_policy_req_t *req,
    u_char *op)
{
    size_t                   len;
    ngx_str_t               *operation, *role;
    ngx_uint_t               i, n;
    ngx_array_t             *params;
    ngx_cms_param_t         *p;
    ngx_http_request_t      *r;
    ngx_cms_policy_param_t  *v;

    r = ngx_cms_call_request(call);
    operation = ngx_cms_call_str(call, NGX_CMS_CALL_OPERATION);
    role = ngx_cms_call_str(call, NGX_CMS_CALL_ROLE);
    params = ngx_cms_call_params(call);

    /* operation names are static ASCII, but the API promises no NUL */

    len = operation->len;

    if (len == 0 || len >= NGX_CMS_POLICY_OP_LEN) {
        len = ngx_cpystrn(op, (u_char *) "unknown", NGX_CMS_POLICY_OP_LEN)
              - op;

    } else {
        ngx_memcpy(op, operation->data, len);
        op[len] = '\0';
    }

    req->operation = (const char *) op;
    req->operation_len = len;

    switch (r->method) {

    case NGX_HTTP_GET:
        req->method = NGX_CMS_POLICY_GET;
        break;

    case NGX_HTTP_HEAD:
        req->method = NGX_CMS_POLICY_HEAD;
        break;

    case NGX_HTTP_POST:
        req->method = NGX_CMS_POLICY_POST;
        break;

    case NGX_HTTP_PUT:
        req->method = NGX_CMS_POLICY_PUT;
        break;

    case NGX_HTTP_DELETE:
        req->method = NGX_CMS_POLICY_DELETE;
        break;

    default:
        req->method = NGX_CMS_POLICY_OTHER;
        break;
    }

    req->role.data = role->data;
    req->role.len = role->len;

    req->params = NULL;
    req->nparams = 0;

    n = params ? params->nelts : 0;

    if (n == 0) {
        return NGX_OK;
    }

    v = ngx_palloc(r->pool, n * sizeof(ngx_cms_policy_param_t));
    if (v == NULL) {
        return NGX_ERROR;
    }

    p = params->elts;

    for (i = 0; i < n; i++) {
        v[i].name.data = p[i].name.data;
        v[i].name.len = p[i].name.len;
        v[i].value.data = p[i].value.data;
        v[i].value.len = p[i].value.len;
    }

    req->params = v;
    req->nparams = n;

    return NGX_OK;
}


/*
 * Once a location names roles or allow rules it is default-deny: the
 * request must be let in by an allow rule or by its role's grants.
 */

static ngx_int_t
ngx_cms_policy_permit(ngx_cms_call_t *call, ngx_cms_policy_loc_conf_t *plcf,
    ngx_cms_policy_req_t *req)
{
    u_char                       *p;
    size_t                        len;
    ngx_str_t                    *role;
    ngx_uint_t                    i;
    ngx_cms_span_t                error;
    ngx_cms_policy_grant_t       *grants;
    ngx_cms_policy_result_t       res;
    ngx_cms_policy_conf_rule_t  **rules, *cr;
    u_char                        reason[NGX_CMS_POLICY_REASON_LEN];

    if (!plcf->gated) {
        return NGX_OK;
    }

    role = ngx_cms_call_str(call, NGX_CMS_CALL_ROLE);

    if (plcf->rules) {
        rules = plcf->rules->elts;

        for (i = 0; i < plcf->rules->nelts; i++) {
            cr = rules[i];

            if (cr->rule.action != NGX_CMS_POLICY_ALLOW) {
                continue;
            }

            ngx_cms_policy_rule_check(&cr->rule, req, ngx_cms_policy_exec,
                                      &res);

            if (res.outcome == NGX_CMS_POLICY_REFUSE) {
                /* a parameter the allow rule could not judge */
                return ngx_cms_policy_deny(call,
                                           &cr->name,
                                           res.status, &res.error,
                                           (u_char *) res.reason,
                                           res.reason_len, 0);
            }

            if (res.outcome == NGX_CMS_POLICY_PERMIT) {
                ngx_cms_allow(call, &cr->name);
                return NGX_OK;
            }
        }
    }

    if (plcf->grants && role->len) {
        grants = plcf->grants->elts;

        for (i = 0; i < plcf->grants->nelts; i++) {
            if (ngx_cms_policy_grant_match(&grants[i], req)) {
                ngx_cms_allow(call, &ngx_cms_policy_roles_rule);
                return NGX_OK;
            }
        }
    }

    if (role->len) {
        p = ngx_snprintf(reason, NGX_CMS_POLICY_REASON_LEN,
                         "policy: role \"%V\" may not %s",
                         role, req->operation);

    } else {
        p = ngx_snprintf(reason, NGX_CMS_POLICY_REASON_LEN,
                         "policy: no role, so no %s", req->operation);
    }

    len = p - reason;

    error.data = (const unsigned char *) NGX_CMS_POLICY_ROLE_ERROR;
    error.len = sizeof(NGX_CMS_POLICY_ROLE_ERROR) - 1;

    return ngx_cms_policy_deny(call, &ngx_cms_policy_permission_rule,
                               NGX_CMS_POLICY_ROLE_STATUS, &error, reason,
                               len, 0);
}


static ngx_int_t
ngx_cms_policy_set(ngx_cms_call_t *call, ngx_cms_policy_conf_rule_t *cr,
    ngx_cms_policy_result_t *res)
{
    u_char              *p;
    ngx_str_t            name, value;
    ngx_http_request_t  *r;

    r = ngx_cms_call_request(call);

    /* the parameter as the client spelled it, or the rule's when added */

    name.len = res->name.len;
    name.data = ngx_pnalloc(r->pool, name.len);
    value.data = ngx_pnalloc(r->pool, NGX_INT64_LEN);

    if (name.data == NULL || value.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(name.data, res->name.data, name.len);

    p = ngx_sprintf(value.data, "%L", (int64_t) res->value);
    value.len = p - value.data;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "cms policy: rule %V sets %V to %V",
                  &cr->name, &name, &value);

    return ngx_cms_param_set(call, &name, &value);
}


/*
 * A meetings rule saw a change of nonMemberAccess.  Opening a space that
 * is not open yet takes a place in the zone now, so two workers cannot
 * both take the last one; the log hook keeps it or gives it back once
 * the bridge has answered.  Closing only counts once the bridge said yes.
 */

static ngx_int_t
ngx_cms_policy_open(ngx_cms_call_t *call, ngx_cms_policy_conf_rule_t *cr,
    ngx_cms_policy_result_t *res)
{
    u_char                    *p;
    size_t                     len;
    ngx_str_t                 *object_id;
    ngx_uint_t                 used, max;
    ngx_cms_policy_sh_t       *sh;
    ngx_cms_policy_ctx_t      *ctx;
    ngx_cms_policy_mark_t     *mark;
    ngx_cms_policy_zone_t     *zone;
    ngx_cms_policy_meeting_t  *m;
    u_char                     reason[NGX_CMS_POLICY_REASON_LEN];

    zone = cr->zone;
    object_id = ngx_cms_call_str(call, NGX_CMS_CALL_OBJECT_ID);

    ctx = ngx_cms_policy_get_ctx(call);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx->nmarks == NGX_CMS_POLICY_MAX_MARKS) {
        /* more meetings rules than anyone writes: count the first ones */
        return NGX_OK;
    }

    mark = &ctx->marks[ctx->nmarks];
    mark->zone = zone;
    mark->meter = res->meter;
    mark->len = object_id->len;

    if (res->meter != NGX_CMS_POLICY_CLOSE_ALL) {

        if (mark->len == 0 || mark->len > NGX_CMS_POLICY_ID_LEN) {
            p = ngx_snprintf(reason, NGX_CMS_POLICY_REASON_LEN,
                             "policy rule %V: a coSpace id of %uz bytes "
                             "cannot be counted",
                             &cr->name, mark->len);

            return ngx_cms_policy_deny(call, &cr->name,
                                       res->status, &res->error, reason,
                                       p - reason, cr->rule.report);
        }

        /* ids are GUIDs, and the bridge reads them in any case */
        ngx_cms_policy_lower(mark->id, object_id->data, mark->len);
    }

    if (res->meter != NGX_CMS_POLICY_OPEN) {
        ctx->nmarks++;
        return NGX_OK;
    }

    sh = zone->sh;
    max = cr->rule.max;

    ngx_shmtx_lock(&zone->shpool->mutex);

    m = ngx_cms_policy_lookup(sh, mark->id, mark->len);

    if (m) {
        /* an extension of a meeting already counted */
        m->pending++;
        ngx_shmtx_unlock(&zone->shpool->mutex);

        ctx->nmarks++;
        return NGX_OK;
    }

    used = sh->used;

    if (used < max && used < sh->capacity) {
        m = &sh->meetings[sh->used++];
        ngx_memcpy(m->id, mark->id, mark->len);
        m->len = (u_char) mark->len;
        m->open = 0;
        m->pending = 1;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (m == NULL) {
        p = ngx_snprintf(reason, NGX_CMS_POLICY_REASON_LEN,
                         "policy rule %V: %ui scheduled meetings are open, "
                         "the maximum is %ui",
                         &cr->name, used, max);
        len = p - reason;

        return ngx_cms_policy_deny(call, &cr->name,
                                   res->status, &res->error, reason, len,
                                   cr->rule.report);
    }

    ctx->nmarks++;

    return NGX_OK;
}


/*
 * The element and the reason are copied and the reason made safe for a
 * header: it holds configuration text (patterns), which may hold any
 * byte.
 */

static ngx_int_t
ngx_cms_policy_deny(ngx_cms_call_t *call, ngx_str_t *rule, ngx_uint_t status,
    ngx_cms_span_t *error, u_char *reason, size_t len, ngx_uint_t report)
{
    u_char                     *element;
    size_t                      i;
    ngx_str_t                   why;
    ngx_http_request_t         *r;
    ngx_cms_policy_loc_conf_t  *plcf;

    r = ngx_cms_call_request(call);
    plcf = ngx_http_get_module_loc_conf(r, ngx_cms_policy_module);

    element = ngx_pnalloc(r->pool, error->len + 1);
    why.data = ngx_pnalloc(r->pool, len);

    if (element == NULL || why.data == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(element, (u_char *) error->data, error->len + 1);

    for (i = 0; i < len; i++) {
        why.data[i] = (reason[i] < 0x20 || reason[i] > 0x7e) ? '?'
                                                              : reason[i];
    }

    why.len = len;

    if (report || plcf->report) {
        return ngx_cms_policy_report(call, rule, status, element, &why);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "cms policy: %ui %s: %V", status, element, &why);

    ngx_cms_deny(call, status, (const char *) element, rule, &why);

    return NGX_CMS_DENY;
}


/*
 * Report only (a rule's mode=report, or "cms_policy_mode report"): the
 * call goes on.  Two notes say what would have been refused: the rule
 * names, comma separated (the core's metrics count each), and the
 * answer with its reason (the audit record's "would_deny"), "; " between
 * several.
 */

static ngx_int_t
ngx_cms_policy_report(ngx_cms_call_t *call, ngx_str_t *rule,
    ngx_uint_t status, u_char *element, ngx_str_t *why)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   v, *prev;

    ngx_log_error(NGX_LOG_INFO, ngx_cms_call_request(call)->connection->log, 0,
                  "cms policy: report only, would answer %ui %s: %V",
                  status, element, why);

    prev = ngx_cms_note_get(call, "would_deny_rules");

    len = (prev ? prev->len + 1 : 0) + rule->len;

    v.data = ngx_pnalloc(ngx_cms_call_request(call)->pool, len);
    if (v.data == NULL) {
        return NGX_ERROR;
    }

    p = v.data;

    if (prev) {
        p = ngx_cpymem(p, prev->data, prev->len);
        *p++ = ',';
    }

    p = ngx_cpymem(p, rule->data, rule->len);
    v.len = p - v.data;

    if (ngx_cms_note_set(call, "would_deny_rules", &v) != NGX_OK) {
        return NGX_ERROR;
    }

    prev = ngx_cms_note_get(call, "would_deny");

    len = (prev ? prev->len + 2 : 0) + NGX_INT_T_LEN + ngx_strlen(element)
          + why->len + 2;

    v.data = ngx_pnalloc(ngx_cms_call_request(call)->pool, len);
    if (v.data == NULL) {
        return NGX_ERROR;
    }

    p = v.data;

    if (prev) {
        p = ngx_cpymem(p, prev->data, prev->len);
        *p++ = ';';
        *p++ = ' ';
    }

    p = ngx_sprintf(p, "%ui %s %V", status, element, why);
    v.len = p - v.data;

    if (ngx_cms_note_set(call, "would_deny", &v) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the log hook: settles the meetings counters once the answer is known */

static void
ngx_cms_policy_log(ngx_cms_call_t *call)
{
    ngx_uint_t             status, failed;
    ngx_cms_policy_ctx_t  *ctx;

    ctx = *ngx_cms_call_ctx(call, &ngx_cms_policy_plugin);

    if (ctx == NULL) {
        return;
    }

    status = ngx_cms_call_num(call, NGX_CMS_CALL_STATUS);
    failed = ngx_cms_call_num(call, NGX_CMS_CALL_UPSTREAM_FAILED);

    ngx_cms_policy_settle(ctx, status >= 200 && status < 300 && !failed);
}


/*
 * The log hook may never come: an error_page can move the request to a
 * location without plugins.  A place taken for nothing would be lost for
 * good, so the request's end gives back whatever is still unsettled.
 */

static void
ngx_cms_policy_cleanup(void *data)
{
    ngx_cms_policy_ctx_t  *ctx = data;

    ngx_cms_policy_settle(ctx, 0);
}


static void
ngx_cms_policy_settle(ngx_cms_policy_ctx_t *ctx, ngx_uint_t ok)
{
    ngx_uint_t                 i, k;
    ngx_cms_policy_sh_t       *sh;
    ngx_cms_policy_mark_t     *mark;
    ngx_cms_policy_meeting_t  *m;

    for (i = 0; i < ctx->nmarks; i++) {
        mark = &ctx->marks[i];
        sh = mark->zone->sh;

        ngx_shmtx_lock(&mark->zone->shpool->mutex);

        switch (mark->meter) {

        case NGX_CMS_POLICY_OPEN:
            m = ngx_cms_policy_lookup(sh, mark->id, mark->len);

            if (m == NULL) {
                /* closed meanwhile by another request */
                break;
            }

            if (m->pending) {
                m->pending--;
            }

            if (ok) {
                m->open = 1;
            }

            if (!m->open && m->pending == 0) {
                ngx_cms_policy_remove(sh, m);
            }

            break;

        case NGX_CMS_POLICY_CLOSE:
            if (!ok) {
                break;
            }

            m = ngx_cms_policy_lookup(sh, mark->id, mark->len);

            if (m == NULL) {
                break;
            }

            m->open = 0;

            if (m->pending == 0) {
                ngx_cms_policy_remove(sh, m);
            }

            break;

        default: /* NGX_CMS_POLICY_CLOSE_ALL */
            if (!ok) {
                break;
            }

            k = 0;

            while (k < sh->used) {
                m = &sh->meetings[k];
                m->open = 0;

                if (m->pending == 0) {
                    ngx_cms_policy_remove(sh, m);
                    continue;
                }

                k++;
            }

            break;
        }

        ngx_shmtx_unlock(&mark->zone->shpool->mutex);
    }

    ctx->nmarks = 0;
}


static ngx_cms_policy_ctx_t *
ngx_cms_policy_get_ctx(ngx_cms_call_t *call)
{
    void                  **slot;
    ngx_pool_cleanup_t     *cln;
    ngx_http_request_t     *r;
    ngx_cms_policy_ctx_t   *ctx;

    r = ngx_cms_call_request(call);
    slot = ngx_cms_call_ctx(call, &ngx_cms_policy_plugin);

    ctx = *slot;

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_cms_policy_ctx_t));
        cln = ngx_pool_cleanup_add(r->pool, 0);

        if (ctx == NULL || cln == NULL) {
            return NULL;
        }

        cln->handler = ngx_cms_policy_cleanup;
        cln->data = ctx;

        *slot = ctx;
    }

    return ctx;
}


static ngx_cms_policy_meeting_t *
ngx_cms_policy_lookup(ngx_cms_policy_sh_t *sh, u_char *id, size_t len)
{
    ngx_uint_t                 i;
    ngx_cms_policy_meeting_t  *m;

    for (i = 0; i < sh->used; i++) {
        m = &sh->meetings[i];

        if (m->len == len && ngx_memcmp(m->id, id, len) == 0) {
            return m;
        }
    }

    return NULL;
}


static void
ngx_cms_policy_remove(ngx_cms_policy_sh_t *sh, ngx_cms_policy_meeting_t *m)
{
    ngx_cms_policy_meeting_t  *last;

    last = &sh->meetings[sh->used - 1];

    if (m != last) {
        *m = *last;
    }

    sh->used--;
}


/*
 * ngx_strlow() eight bytes at a time: a byte from 'A' to 'Z' gets 0x20.
 * In each byte, (0x80 + c - 'A') has its high bit set when c >= 'A' and
 * (0x80 + c - 'Z' - 1) when c > 'Z'; neither sum carries into the next
 * byte while c < 0x80, and bytes from 0x80 up are masked out.
 */

static void
ngx_cms_policy_lower(u_char *dst, u_char *src, size_t n)
{
    uint64_t  w, m;

    while (n >= 8) {
        ngx_memcpy(&w, src, 8);

        m = ((w & 0x7f7f7f7f7f7f7f7fULL) + 0x3f3f3f3f3f3f3f3fULL)
            ^ ((w & 0x7f7f7f7f7f7f7f7fULL) + 0x2525252525252525ULL);
        m &= ~w & 0x8080808080808080ULL;
        w |= m >> 2;

        ngx_memcpy(dst, &w, 8);

        src += 8;
        dst += 8;
        n -= 8;
    }

    ngx_strlow(dst, src, n);
}


/* regular expressions: nginx's API, PCRE2 and its JIT underneath */

static int
ngx_cms_policy_exec(void *re, const unsigned char *s, size_t len)
{
    ngx_int_t  rc;
    ngx_str_t  value;

    value.data = (u_char *) s;
    value.len = len;

    rc = ngx_cms_regex_exec(re, &value, NULL, 0);

    if (rc >= 0) {
        return 1;
    }

    return (rc == NGX_REGEX_NO_MATCHED) ? 0 : -1;
}


static void *
ngx_cms_policy_compile(void *data, const ngx_cms_span_t *pattern,
    int caseless, char *err, size_t errlen)
{
    ngx_conf_t           *cf = data;
    u_char                errstr[NGX_MAX_CONF_ERRSTR];
    ngx_regex_compile_t   rc;

    ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

    rc.pattern.data = (u_char *) pattern->data;
    rc.pattern.len = pattern->len;
    rc.pool = cf->pool;
    rc.options = caseless ? NGX_REGEX_CASELESS : 0;
    rc.err.len = NGX_MAX_CONF_ERRSTR;
    rc.err.data = errstr;

    if (ngx_cms_regex_compile(&rc) != NGX_OK) {
        ngx_snprintf((u_char *) err, errlen - 1,
                     "bad regular expression \"%V\": %V%Z",
                     &rc.pattern, &rc.err);
        err[errlen - 1] = '\0';
        return NULL;
    }

    return rc.regex;
}


/* configuration */

static char *
ngx_cms_policy_rule_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_policy_loc_conf_t  *plcf = conf;

    ngx_str_t                    *value, zone;
    ngx_uint_t                    i;
    ngx_cms_span_t               *args;
    ngx_cms_policy_conf_rule_t   *cr, **pcr, **rules;
    char                          err[NGX_CMS_POLICY_ERR_LEN];

    value = cf->args->elts;

    args = ngx_palloc(cf->temp_pool,
                      (cf->args->nelts - 1) * sizeof(ngx_cms_span_t));
    cr = ngx_pcalloc(cf->pool, sizeof(ngx_cms_policy_conf_rule_t));

    if (args == NULL || cr == NULL) {
        return NGX_CONF_ERROR;
    }

    /* the tokens live as long as the configuration, and end with a NUL */

    for (i = 1; i < cf->args->nelts; i++) {
        args[i - 1].data = value[i].data;
        args[i - 1].len = value[i].len;
    }

    if (ngx_cms_policy_rule_parse(&cr->rule, args, cf->args->nelts - 1,
                                  ngx_cms_policy_compile, cf, err,
                                  sizeof(err))
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" %s",
                           &cmd->name, err);
        return NGX_CONF_ERROR;
    }

    if (plcf->rules == NULL) {
        plcf->rules = ngx_array_create(cf->pool, 4, sizeof(void *));
        if (plcf->rules == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    rules = plcf->rules->elts;

    for (i = 0; i < plcf->rules->nelts; i++) {
        if (rules[i]->rule.name.len == cr->rule.name.len
            && ngx_memcmp(rules[i]->rule.name.data, cr->rule.name.data,
                          cr->rule.name.len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" rule \"%V\" is already defined here",
                               &cmd->name, &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    cr->name.data = (u_char *) cr->rule.name.data;
    cr->name.len = cr->rule.name.len;

    if (cr->rule.action == NGX_CMS_POLICY_MEETINGS) {
        zone.data = (u_char *) cr->rule.zone.data;
        zone.len = cr->rule.zone.len;

        cr->zone = ngx_cms_policy_get_zone(cf, &zone);
        if (cr->zone == NULL) {
            return NGX_CONF_ERROR;
        }

        if ((ngx_uint_t) cr->rule.max > cr->zone->max) {
            cr->zone->max = (ngx_uint_t) cr->rule.max;
        }
    }

    pcr = ngx_array_push(plcf->rules);
    if (pcr == NULL) {
        return NGX_CONF_ERROR;
    }

    *pcr = cr;

    return NGX_CONF_OK;
}


static char *
ngx_cms_policy_role_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_policy_loc_conf_t  *plcf = conf;

    ngx_str_t               *value;
    ngx_uint_t               i;
    ngx_cms_span_t           role, arg;
    ngx_cms_policy_grant_t  *grant;
    char                     err[NGX_CMS_POLICY_ERR_LEN];

    value = cf->args->elts;

    role.data = value[1].data;
    role.len = value[1].len;

    if (role.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" needs a role name",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (plcf->grants == NULL) {
        plcf->grants = ngx_array_create(cf->pool, 8,
                                        sizeof(ngx_cms_policy_grant_t));
        if (plcf->grants == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 2; i < cf->args->nelts; i++) {
        arg.data = value[i].data;
        arg.len = value[i].len;

        grant = ngx_array_push(plcf->grants);
        if (grant == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_cms_policy_grant_parse(grant, &role, &arg, err, sizeof(err))
            != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" %V: %s",
                               &cmd->name, &value[1], err);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_cms_policy_preconfiguration(ngx_conf_t *cf)
{
    return ngx_cms_plugin_register(cf, &ngx_cms_policy_plugin);
}


static ngx_int_t
ngx_cms_policy_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                   i;
    ngx_cms_policy_zone_t      **zones;
    ngx_cms_policy_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_cms_policy_module);

    zones = pmcf->zones.elts;

    for (i = 0; i < pmcf->zones.nelts; i++) {
        if (!zones[i]->declared) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"cms_policy_rule\": zone \"%V\" is not declared "
                          "with \"cms_policy_zone\"", &zones[i]->name);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void *
ngx_cms_policy_create_main_conf(ngx_conf_t *cf)
{
    ngx_cms_policy_main_conf_t  *pmcf;

    pmcf = ngx_pcalloc(cf->pool, sizeof(ngx_cms_policy_main_conf_t));
    if (pmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&pmcf->zones, cf->pool, 2, sizeof(void *))
        != NGX_OK)
    {
        return NULL;
    }

    return pmcf;
}


static void *
ngx_cms_policy_create_loc_conf(ngx_conf_t *cf)
{
    ngx_cms_policy_loc_conf_t  *plcf;

    plcf = ngx_pcalloc(cf->pool, sizeof(ngx_cms_policy_loc_conf_t));
    if (plcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     plcf->rules = NULL;
     *     plcf->grants = NULL;
     *     plcf->gated = 0;
     */

    plcf->inherit = NGX_CONF_UNSET;
    plcf->report = NGX_CONF_UNSET_UINT;

    return plcf;
}


/*
 * A level's rules and grants extend the inherited ones, which come first,
 * so a location can add restrictions but never lose its server's.
 * "cms_policy_inherit off" starts afresh at the level where it is written
 * and is not itself inherited.
 */

static char *
ngx_cms_policy_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_cms_policy_loc_conf_t  *prev = parent;
    ngx_cms_policy_loc_conf_t  *conf = child;

    ngx_uint_t                    i;
    ngx_cms_policy_conf_rule_t  **rules;

    if (conf->inherit != 0) {
        conf->rules = ngx_cms_policy_join(cf, prev->rules, conf->rules);
        conf->grants = ngx_cms_policy_join(cf, prev->grants, conf->grants);

        if (conf->rules == NGX_CONF_ERROR || conf->grants == NGX_CONF_ERROR) {
            return NGX_CONF_ERROR;
        }
    }

    ngx_conf_merge_uint_value(conf->report, prev->report, 0);

    conf->gated = (conf->grants != NULL);

    if (conf->rules) {
        rules = conf->rules->elts;

        for (i = 0; i < conf->rules->nelts; i++) {
            if (rules[i]->rule.action == NGX_CMS_POLICY_ALLOW) {
                conf->gated = 1;
            }
        }
    }

    return NGX_CONF_OK;
}


static ngx_array_t *
ngx_cms_policy_join(ngx_conf_t *cf, ngx_array_t *first, ngx_array_t *second)
{
    ngx_array_t  *a;

    if (first == NULL || first->nelts == 0) {
        return second;
    }

    if (second == NULL || second->nelts == 0) {
        return first;
    }

    a = ngx_array_create(cf->pool, first->nelts + second->nelts,
                         first->size);
    if (a == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(a->elts, first->elts, first->nelts * first->size);
    ngx_memcpy((u_char *) a->elts + first->nelts * first->size, second->elts,
               second->nelts * second->size);

    a->nelts = first->nelts + second->nelts;

    return a;
}
