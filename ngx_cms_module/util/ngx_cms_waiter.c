
/*
 * ngx_cms: the one "a request waits for async work and survives the
 * client leaving" (include/ngx_cms_waiter.h), for the admin endpoint and
 * the slots' admin actions.
 *
 * The waiter is malloc()ed, not in the request's pool, because it must
 * outlive the request when the work is still running; a cleanup of the
 * request's pool tells it the request has gone.  Whoever is last frees
 * it: the cleanup when no work is pending, else the work's callback.
 */


#include "ngx_cms_waiter.h"


struct ngx_cms_waiter_s {
    ngx_http_request_t         *request;    /* NULL once it has gone */
    ngx_pool_cleanup_t         *cleanup;
    void                       *ctx;        /* the caller's, r's pool */
    unsigned                    waiting:1;  /* work will call back */
};


static void
ngx_cms_waiter_cleanup(void *data)
{
    ngx_cms_waiter_t  *w = data;

    if (w->waiting) {
        w->request = NULL;
        return;
    }

    ngx_free(w);
}


ngx_cms_waiter_t *
ngx_cms_waiter_create(ngx_http_request_t *r, void *ctx)
{
    ngx_cms_waiter_t    *w;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    w = ngx_calloc(sizeof(ngx_cms_waiter_t), r->connection->log);
    if (w == NULL) {
        return NULL;
    }

    w->request = r;
    w->cleanup = cln;
    w->ctx = ctx;

    cln->handler = ngx_cms_waiter_cleanup;
    cln->data = w;

    return w;
}


void
ngx_cms_waiter_wait(ngx_cms_waiter_t *w)
{
    if (w->waiting) {
        return;
    }

    w->waiting = 1;
    w->request->main->count++;
}


ngx_http_request_t *
ngx_cms_waiter_done(ngx_cms_waiter_t *w, void **ctx)
{
    ngx_http_request_t  *r;

    r = w->request;

    if (ctx) {
        *ctx = r ? w->ctx : NULL;
    }

    if (r != NULL) {
        /* the request stays: its cleanup must not touch the waiter */
        w->cleanup->handler = NULL;
    }

    ngx_free(w);

    return r;
}
