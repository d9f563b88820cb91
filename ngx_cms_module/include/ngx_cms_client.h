
/*
 * ngx_cms: a small HTTP(S) client on nginx events, for the proxy's own
 * conversations with the bridges (health checks, cluster discovery,
 * reconciliation, admin actions).
 *
 * One request per connection (HTTP/1.0, "Connection: close": no chunked
 * answers, no keepalive state to go stale), the whole exchange bounded by
 * one timeout and the answer by a size cap.  TLS through ngx_ssl, with
 * certificate verification (chain and name, SNI) unless the caller turns
 * it off.  The client logs nothing above debug level: the caller knows
 * whether a failure is news.
 *
 * The handler is called exactly once, never from inside
 * ngx_cms_client_request(), unless ngx_cms_client_cancel() comes first.
 * What it is given lives until it returns.
 */


#ifndef _NGX_CMS_CLIENT_H_INCLUDED_
#define _NGX_CMS_CLIENT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>


typedef struct ngx_cms_client_s  ngx_cms_client_t;

typedef void (*ngx_cms_client_handler_pt)(ngx_cms_client_t *cc);


/* where and how; copied by ngx_cms_client_request() */

typedef struct {
    ngx_addr_t                *addr;        /* resolved when configured */
    ngx_str_t                  host;        /* Host:, SNI, name check */
    ngx_str_t                  authorization; /* "Basic ...", or empty */
#if (NGX_SSL)
    ngx_ssl_t                 *ssl;         /* NULL: plain HTTP */
#endif
    ngx_uint_t                 verify;      /* certificate and name */
    ngx_msec_t                 timeout;     /* the whole exchange */
    size_t                     max_response; /* headers and body */
    ngx_log_t                 *log;
} ngx_cms_client_target_t;


struct ngx_cms_client_s {
    /* the result, for the handler */
    ngx_int_t                  rc;          /* NGX_OK: an HTTP answer */
    ngx_uint_t                 status;
    ngx_str_t                  location;
    ngx_str_t                  content_type;
    ngx_str_t                  body;
    ngx_str_t                  error;       /* why there is no answer */
    ngx_msec_t                 elapsed;
    unsigned                   timed_out:1;

    void                      *data;        /* the caller's */
};


ngx_cms_client_t *ngx_cms_client_request(ngx_cms_client_target_t *target,
    ngx_str_t *method, ngx_str_t *path, ngx_str_t *body,
    ngx_cms_client_handler_pt handler, void *data);

void ngx_cms_client_cancel(ngx_cms_client_t *cc);


#endif /* _NGX_CMS_CLIENT_H_INCLUDED_ */
