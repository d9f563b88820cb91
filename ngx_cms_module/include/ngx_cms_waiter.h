
/*
 * ngx_cms: a request that waits for asynchronous work (a Redis answer, a
 * bridge's) and may be gone by the time the work is done: the client
 * left, the request was finalized.  The work keeps the waiter, never the
 * request:
 *
 *   w = ngx_cms_waiter_create(r, ctx);   before anything can fail; ctx
 *                                        (in r's pool, or NULL) is for
 *                                        the callback
 *   ... start the work with w as its data ...
 *   ngx_cms_waiter_wait(w);              the request now waits (count++)
 *   return NGX_DONE;
 *
 *   done(void *data):                    the work's callback
 *   r = ngx_cms_waiter_done(data, &ctx); NULL: the request has gone (and
 *                                        ctx with it)
 *
 * A waiter whose work never started is freed with its request.  With
 * work whose callback may come before the handler returns, call
 * ngx_cms_waiter_wait() before starting it.
 */


#ifndef _NGX_CMS_WAITER_H_INCLUDED_
#define _NGX_CMS_WAITER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef struct ngx_cms_waiter_s  ngx_cms_waiter_t;


ngx_cms_waiter_t *ngx_cms_waiter_create(ngx_http_request_t *r, void *ctx);
void ngx_cms_waiter_wait(ngx_cms_waiter_t *w);
ngx_http_request_t *ngx_cms_waiter_done(ngx_cms_waiter_t *w, void **ctx);


#endif /* _NGX_CMS_WAITER_H_INCLUDED_ */
