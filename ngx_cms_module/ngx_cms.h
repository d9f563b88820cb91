
/*
 * ngx_cms: internal declarations shared by the core files.
 */


#ifndef _NGX_CMS_H_INCLUDED_
#define _NGX_CMS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_cms_api.h"
#include "ngx_cms_form.h"


#define NGX_CMS_ROLE_PRIMARY       0
#define NGX_CMS_ROLE_BACKUP        1

#define NGX_CMS_CREDENTIALS_PASS   0
#define NGX_CMS_CREDENTIALS_INJECT 1

#define NGX_CMS_MAX_PARAMS_DEFAULT 64


/* one call bridge of the cluster, declared with cms_bridge in upstream{} */

typedef struct {
    ngx_str_t                    name;
    ngx_str_t                    address;       /* host:port as configured */
    ngx_addr_t                  *addrs;
    ngx_uint_t                   naddrs;
    ngx_str_t                    user;
    ngx_str_t                    authorization; /* "Basic <base64>" */
    ngx_uint_t                   role;
    ngx_uint_t                   priority;      /* 0 primary, 1.. backups */
} ngx_cms_bridge_t;


/* our configuration of one upstream{} block: the cluster */

typedef struct {
    ngx_array_t                  bridges;       /* of ngx_cms_bridge_t */
    ngx_http_upstream_init_pt    original_init_upstream;
    ngx_http_upstream_init_peer_pt  original_init_peer;
} ngx_cms_cluster_conf_t;


typedef struct {
    ngx_flag_t                   enable;
    ngx_uint_t                   credentials;
    ngx_uint_t                   max_params;
} ngx_cms_loc_conf_t;


/* per request state */

typedef struct {
    ngx_cms_api_req_t            api;
    ngx_cms_api_rc_e             api_rc;
    ngx_cms_method_e             method;
    const char                  *operation;
    ngx_cms_form_param_t        *params;
    size_t                       nparams;
    ngx_cms_bridge_t            *bridge;        /* where it was sent last */
    ngx_int_t                    phase_rc;      /* result after the body */
    unsigned                     classified:1;
    unsigned                     body_requested:1;
    unsigned                     body_done:1;
} ngx_cms_ctx_t;


extern ngx_module_t  ngx_http_cms_module;


/* ngx_cms_request.c */
ngx_int_t ngx_cms_precontent_handler(ngx_http_request_t *r);
ngx_cms_ctx_t *ngx_cms_classify(ngx_http_request_t *r);

/* ngx_cms_upstream.c */
char *ngx_cms_bridge_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_cms_failure.c */
ngx_int_t ngx_cms_send_failure(ngx_http_request_t *r, ngx_uint_t status,
    const char *element, const char *parameter, const char *error,
    ngx_str_t *reason);

/* ngx_cms_variables.c */
ngx_int_t ngx_cms_add_variables(ngx_conf_t *cf);


#endif /* _NGX_CMS_H_INCLUDED_ */
