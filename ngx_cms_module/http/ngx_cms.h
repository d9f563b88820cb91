
/*
 * ngx_cms: the http layer's declarations (module, request phases,
 * plugin registry and hooks, balancer, filters, variables, status and
 * admin endpoints).  It builds on the cluster (ngx_cms_failover.h), which
 * knows nothing of it: what the cluster has to say comes up through the
 * hooks registered in ngx_cms_cluster_hooks.
 */


#ifndef _NGX_CMS_H_INCLUDED_
#define _NGX_CMS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_cms_api.h"
#include "ngx_cms_bytes.h"
#include "ngx_cms_form.h"
#include "ngx_cms_plugin.h"
#include "ngx_cms_failover.h"
#include "ngx_cms_json_pool.h"

#include <libxml/tree.h>

/*
 * The release: the status JSON reports it, and it must equal the version
 * in debian/changelog (the package build refuses to go on otherwise).
 */
#define NGX_CMS_VERSION            "0.1.0"


#define NGX_CMS_CREDENTIALS_PASS   0
#define NGX_CMS_CREDENTIALS_INJECT 1

#define NGX_CMS_MAX_PARAMS_DEFAULT 64


/*
 * The call object plugins see through the accessors of ngx_cms_plugin.h
 * (ngx_cms_call.c): opaque to them, so it can grow.
 */

struct ngx_cms_call_s {
    /* the answer */
    ngx_uint_t                  status;     /* 0 until known */
    ngx_uint_t                  bridge_status; /* the bridge's own, 0 if
                                               none answered */
    ngx_str_t                   location;   /* Location header, if any */
    ngx_str_t                   location_id;/* its last path segment */
    ngx_msec_t                  upstream_ms;/* time spent on bridges */
    unsigned                    upstream_failed:1; /* no bridge answer */
    unsigned                    client_aborted:1;
    unsigned                    response_body_wanted:1;
    unsigned                    response_too_big:1;
    unsigned                    response_malformed:1;
    unsigned                    response_changed:1;
    unsigned                    params_changed:1;

    /* the verdict so far */
    ngx_cms_verdict_e           verdict;
    ngx_str_t                   rule;       /* the rule that decided */
    ngx_str_t                   reason;     /* human readable */
    ngx_str_t                   plugin;     /* the plugin that decided */

    /* where */
    ngx_str_t                   bridge;     /* last bridge sent to */

    /* notes plugins leave for each other, e.g. "slot", "meeting" */
    ngx_array_t                *notes;      /* of ngx_cms_note_t */

    /*
     * From here to the end, all set by ngx_cms_call_prepare() before
     * anything reads them (the filters write the answer above before
     * that): ngx_cms_ctx_create() leaves them unzeroed.
     */

    ngx_http_request_t         *request;    /* the client request */

    /* what: from the path and the body */
    ngx_str_t                   method;     /* "GET", "PUT", ... */
    ngx_str_t                   path;       /* raw, without the query */
    ngx_str_t                   client_path;/* as the client sent it */
    ngx_str_t                   operation;  /* "coSpace.modify", ... */
    ngx_str_t                   collection; /* canonical, e.g. "coSpaces" */
    ngx_str_t                   object_id;
    ngx_str_t                   sub_collection;
    ngx_str_t                   sub_id;
    ngx_str_t                   call_id;    /* calls/<id>/... */
    unsigned                    known:1;    /* operation is not "unknown" */
    unsigned                    write:1;    /* POST, PUT, DELETE */
    unsigned                    call_scoped:1;

    ngx_array_t                *params;     /* of ngx_cms_param_t, ordered,
                                               mutable */

    /* who */
    ngx_str_t                   user;       /* as nginx verified it */
    ngx_str_t                   role;       /* from cms_role_map */

    /* the plugins' own per-request state, by plugin index */
    void                       *plugin_ctx[NGX_CMS_MAX_PLUGINS];

    /* the core's request context */
    void                       *core;
};


typedef struct {
    ngx_array_t                  plugins;       /* of ngx_cms_plugin_t * */
    ngx_int_t                    request_id;    /* $cms_request_id's index */
} ngx_cms_main_conf_t;


typedef struct {
    ngx_str_t                    user;
    ngx_str_t                    role;
} ngx_cms_user_role_t;


typedef struct ngx_cms_auth_s  ngx_cms_auth_t;


typedef struct {
    ngx_flag_t                   enable;
    ngx_uint_t                   credentials;
    ngx_uint_t                   max_params;
    size_t                       response_buffer;

    ngx_array_t                 *plugins;       /* of ngx_cms_plugin_t *,
                                                   by priority, highest
                                                   first; NULL: none */
    ngx_uint_t                   has_response_hooks;

    ngx_array_t                 *user_roles;    /* of ngx_cms_user_role_t */
    ngx_str_t                    default_role;
    ngx_cms_auth_t              *auth;          /* cms_auth_basic; NULL:
                                                   off */

    ngx_str_t                    admin_upstream; /* cms_admin <upstream> */
    ngx_uint_t                   status_detail;  /* cms_status detail */
} ngx_cms_loc_conf_t;


typedef enum {
    NGX_CMS_STATE_INIT = 0,
    NGX_CMS_STATE_READING,      /* waiting for the request body */
    NGX_CMS_STATE_HOOKS,        /* running (or suspended in) request hooks */
    NGX_CMS_STATE_PROXY         /* decided: on to proxy_pass */
} ngx_cms_state_e;


/* per request state; plugins see only call */

typedef struct {
    ngx_cms_call_t               call;

    ngx_cms_api_req_t            api;
    ngx_cms_api_rc_e             api_rc;
    ngx_cms_method_e             method;
    const char                  *operation;
    ngx_cms_form_param_t        *params;
    size_t                       nparams;
    ngx_cms_bridge_t            *bridge;        /* where it was sent last */

    ngx_cms_state_e              state;
    ngx_uint_t                   hook_next;     /* next request hook */
    ngx_int_t                    resume_rc;

    /* the denial to send, from ngx_cms_deny() */
    ngx_uint_t                   deny_status;
    const char                  *deny_element;
    const char                  *deny_attr;
    const char                  *deny_value;

    /* the plugins of the location where the call was understood */
    ngx_array_t                 *plugins;

    /* response buffering for response hooks */
    ngx_buf_t                   *response;
    xmlDocPtr                    doc;

    /* spare room in the context's block (ngx_cms_ctx.c) */
    u_char                      *room;
    u_char                      *room_end;

    off_t                        body_out;   /* handed to the output */

    unsigned                     call_ready:1;
    unsigned                     body_done:1;
    unsigned                     body_reading:1; /* in the read call */
    unsigned                     suspended:1;
    unsigned                     buffering:1;
    unsigned                     response_hooks_done:1;
    unsigned                     logged:1;
    unsigned                     error_page:1;
    unsigned                     body_ready:1;  /* response, complete */
    unsigned                     parsed:1;      /* doc: tried once */
    unsigned                     log_now_done:1;
    unsigned                     answer_invalid:1; /* not CMS's */
} ngx_cms_ctx_t;


/* per request */

typedef struct {
    ngx_cms_fo_cluster_t      *cluster;
    ngx_cms_bridge_t       *bridge;      /* the last one chosen */
    ngx_cms_bridge_t       *call_bridge; /* the call lives there */
    ngx_uint_t                 unavailable;

    ngx_buf_t                 *capture;     /* a listing, to learn from */
    ngx_buf_t                 *answer;      /* our failureDetails */

    unsigned                   not_replayed:1;
    unsigned                   replace:1;
    unsigned                   replaced:1;
    unsigned                   learn:1;
} ngx_cms_fo_req_t;


extern ngx_module_t  ngx_http_cms_module;


/* ngx_cms_ctx.c */
void ngx_cms_ctx_free_all(void);
ngx_cms_ctx_t *ngx_cms_classify_new(ngx_http_request_t *r);


/*
 * The request's context, with the call classified: made on first use
 * (ngx_cms_classify_new()); inline, as the handlers and the balancer ask
 * for it on every request.
 */

static ngx_inline ngx_cms_ctx_t *
ngx_cms_classify(ngx_http_request_t *r)
{
    ngx_cms_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_cms_module);

    return ctx ? ctx : ngx_cms_classify_new(r);
}


/*
 * Memory that lives as long as the request, not zeroed: from the spare
 * room of the context's block while it lasts (ngx_cms_ctx.c), then from
 * the pool; aligned.  Inline: it is called a few times on every request.
 */

static ngx_inline void *
ngx_cms_ctx_palloc(ngx_cms_ctx_t *ctx, ngx_pool_t *pool, size_t size)
{
    u_char  *p;

    size = ngx_align(size, NGX_ALIGNMENT);

    if ((size_t) (ctx->room_end - ctx->room) < size) {
        return ngx_palloc(pool, size);
    }

    p = ctx->room;
    ctx->room += size;

    return p;
}


/* ngx_cms_request.c */
ngx_int_t ngx_cms_precontent_handler(ngx_http_request_t *r);

/* ngx_cms_plugin.c */
char *ngx_cms_plugins_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_cms_role_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_cms_plugins_merge(ngx_conf_t *cf, ngx_cms_loc_conf_t *prev,
    ngx_cms_loc_conf_t *conf);
ngx_cms_call_t *ngx_cms_call_prepare(ngx_http_request_t *r,
    ngx_cms_ctx_t *ctx);
ngx_int_t ngx_cms_run_request_hooks(ngx_http_request_t *r,
    ngx_cms_ctx_t *ctx);
void ngx_cms_run_response_hooks(ngx_http_request_t *r, ngx_cms_ctx_t *ctx);
ngx_int_t ngx_cms_log_handler(ngx_http_request_t *r);
void ngx_cms_log_now(ngx_http_request_t *r);

void ngx_cms_call_location_id(ngx_cms_call_t *call);

/* ngx_cms_call_rewrite.c */
ngx_table_elt_t *ngx_cms_location_header(ngx_http_request_t *r);

/* ngx_cms_body.c */
ngx_int_t ngx_cms_body_replace(ngx_http_request_t *r, ngx_cms_ctx_t *ctx);

/* ngx_cms_filter.c */
ngx_int_t ngx_cms_filter_init(ngx_conf_t *cf);
void ngx_cms_response_parse(ngx_cms_ctx_t *ctx);

/* ngx_cms_log_filter.c */
ngx_int_t ngx_cms_log_filter_init(ngx_conf_t *cf);
ngx_int_t ngx_cms_user_init(ngx_conf_t *cf);
char *ngx_cms_auth_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_cms_auth_check(ngx_http_request_t *r, ngx_cms_auth_t *auth);

/* ngx_cms_xml.c */
xmlDocPtr ngx_cms_xml_parse(ngx_log_t *log, u_char *data, size_t len,
    ngx_uint_t *malformed);
ngx_int_t ngx_cms_xml_serialize(ngx_pool_t *pool, xmlDocPtr doc,
    u_char *original, size_t len, ngx_str_t *out);
void ngx_cms_xml_init(void);

/* ngx_cms_upstream.c */
char *ngx_cms_bridge_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_cms_failure.c */
ngx_int_t ngx_cms_send_failure(ngx_http_request_t *r, ngx_uint_t status,
    const char *element, const char *attr, const char *value,
    const char *attr2, const char *value2, ngx_str_t *reason);

/* ngx_cms_variables.c */
ngx_int_t ngx_cms_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_cms_request_id_init(ngx_conf_t *cf);
ngx_int_t ngx_cms_request_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
ngx_int_t ngx_cms_request_id_header(ngx_http_request_t *r);


/* ngx_cms_upstream.c */
ngx_int_t ngx_cms_upstream_check(ngx_conf_t *cf, ngx_cms_fo_cluster_t *cl);
void ngx_cms_upstream_init_process(ngx_cms_fo_cluster_t *cl);
void ngx_cms_upstream_watch(ngx_cms_fo_cluster_t *cl);

/* ngx_cms_affinity_filter.c */
ngx_int_t ngx_cms_affinity_filter_init(ngx_conf_t *cf);

/* ngx_cms_unavailable.c */
ngx_int_t ngx_cms_unavailable_filter_init(ngx_conf_t *cf);

/* ngx_cms_status.c */
char *ngx_cms_status_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_cms_json_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_cms_json_t *j);

/* ngx_cms_admin.c */
char *ngx_cms_admin_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_CMS_H_INCLUDED_ */
