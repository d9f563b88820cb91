
/*
 * ngx_cms: where a request's own state lives, and how it is made: the
 * context of a request, classified (ngx_cms_classify()), for the handlers,
 * filters and hooks that ask for it.
 *
 * nginx gives a request a pool of 4 KB blocks (request_pool_size) and a
 * plain proxied GET fills about two of them.  Our context (the call, the
 * classification, the state machine) and the balancer's per-request
 * state add about 1 KB, so a request with cms_api on needed a third
 * block: one more posix_memalign() and free() per request, about 350
 * instructions, more than anything else the module did for a GET.
 *
 * Instead the context comes in a block of its own, with spare room after
 * it for a small body's parameters and the balancer's state, and the
 * block is kept for the next request when this one's pool goes: a
 * pointer push and pop in place of a malloc and a free.  All the pool
 * holds is the cleanup that gives the block back (24 bytes), which fits
 * in what a plain request leaves free.
 *
 * The cleanup runs when the pool is destroyed, after the log phase and
 * after every cleanup registered later (the balancer's, the upstream's
 * run from ngx_http_free_request() before), so nothing that points into
 * the block outlives it.  The blocks kept are bounded (the requests in
 * flight at once, up to NGX_CMS_CTX_KEEP); more are freed.  Under ASan
 * none is kept, so a use after the request still shows.
 */


#include "ngx_cms.h"


/*
 * room after the context: room for eight parameters (NGX_CMS_FEW_PARAMS,
 * 576 bytes) and a short body's decoded text (a TMS PUT's: 118), the
 * balancer's peer data and failover state (272)
 */
#define NGX_CMS_CTX_ROOM   1280

#if defined(__SANITIZE_ADDRESS__)
#define NGX_CMS_CTX_KEEP   0
#else
#define NGX_CMS_CTX_KEEP   64
#endif


typedef struct ngx_cms_ctx_block_s  ngx_cms_ctx_block_t;

struct ngx_cms_ctx_block_s {
    ngx_cms_ctx_t            ctx;       /* first: the block is the ctx */
    ngx_cms_ctx_block_t     *next;      /* on the free list */
    u_char                   room[NGX_CMS_CTX_ROOM];
};


/* the end of the classification in the context */
#define NGX_CMS_CTX_API_END                                                   \
    (offsetof(ngx_cms_ctx_t, api) + sizeof(ngx_cms_api_req_t))

/*
 * ngx_cms_ctx_create() leaves unzeroed what ngx_cms_call_prepare() sets
 * (the call from its request field to its end) and the classification
 * right after the call
 */
_Static_assert(offsetof(ngx_cms_ctx_t, call) == 0
               && offsetof(ngx_cms_call_t, core) + sizeof(void *)
                  == sizeof(ngx_cms_call_t)
               && offsetof(ngx_cms_ctx_t, api) == sizeof(ngx_cms_call_t),
               "ngx_cms_ctx_t: the call's prepared part and api not last "
               "in the call and next to it");


static ngx_cms_ctx_t *ngx_cms_ctx_create(ngx_pool_t *pool);
static ngx_inline void ngx_cms_ctx_zero(u_char *p, size_t n);
static void ngx_cms_ctx_release(void *data);
static ngx_cms_method_e ngx_cms_method(ngx_http_request_t *r);


/* per worker */
static ngx_cms_ctx_block_t  *ngx_cms_ctx_free;
static ngx_uint_t            ngx_cms_ctx_nfree;


/* a zeroed context whose memory goes back to the list with pool */

static ngx_cms_ctx_t *
ngx_cms_ctx_create(ngx_pool_t *pool)
{
    ngx_cms_ctx_t        *ctx;
    ngx_pool_cleanup_t   *cln;
    ngx_cms_ctx_block_t  *b;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    b = ngx_cms_ctx_free;

    if (b) {
        ngx_cms_ctx_free = b->next;
        ngx_cms_ctx_nfree--;

    } else {
        b = ngx_alloc(sizeof(ngx_cms_ctx_block_t), pool->log);
        if (b == NULL) {
            return NULL;
        }
    }

    cln->handler = ngx_cms_ctx_release;
    cln->data = b;

    ctx = &b->ctx;

    /*
     * Zeroed but for two parts that are always written before they are
     * read, half of the context: the call's part that
     * ngx_cms_call_prepare() fills, and the classification that follows
     * it (ngx_cms_api_classify(), from ngx_cms_classify()).
     */

    ngx_cms_ctx_zero((u_char *) ctx, offsetof(ngx_cms_ctx_t, call.request));
    ngx_cms_ctx_zero((u_char *) ctx + NGX_CMS_CTX_API_END,
                     sizeof(ngx_cms_ctx_t) - NGX_CMS_CTX_API_END);

    ctx->room = b->room;
    ctx->room_end = b->room + NGX_CMS_CTX_ROOM;

    return ctx;
}


/*
 * n bytes zeroed, n a constant: in memsets of 64 bytes and one of the
 * rest, which gcc turns into a few vector stores, where one memset of
 * the whole (136 and 152 bytes here) becomes a "rep stos", slow to start
 * for so few bytes (and some 50 instructions a request in callgrind,
 * against 20)
 */

static ngx_inline void
ngx_cms_ctx_zero(u_char *p, size_t n)
{
    size_t  i;

    for (i = 0; i + 64 <= n; i += 64) {
        ngx_memzero(p + i, 64);
    }

    ngx_memzero(p + i, n - i);
}


static void
ngx_cms_ctx_release(void *data)
{
    ngx_cms_ctx_block_t  *b = data;

    /* (written so that a KEEP of 0 is no comparison with 0) */

    if (ngx_cms_ctx_nfree + 1 > NGX_CMS_CTX_KEEP) {
        ngx_free(b);
        return;
    }

    b->next = ngx_cms_ctx_free;
    ngx_cms_ctx_free = b;
    ngx_cms_ctx_nfree++;
}


/* at the worker's exit: the blocks kept are not leaked, for valgrind */

void
ngx_cms_ctx_free_all(void)
{
    ngx_cms_ctx_block_t  *b;

    while (ngx_cms_ctx_free) {
        b = ngx_cms_ctx_free;
        ngx_cms_ctx_free = b->next;
        ngx_free(b);
    }

    ngx_cms_ctx_nfree = 0;
}


/*
 * The request's context, made by whichever handler or filter asks first
 * (ngx_cms_classify() in ngx_cms.h), with the call classified: what the
 * bridge will be asked.
 */

ngx_cms_ctx_t *
ngx_cms_classify_new(ngx_http_request_t *r)
{
    u_char         *p, *last;
    ngx_cms_ctx_t  *ctx;

    ctx = ngx_cms_ctx_create(r->main->pool);
    if (ctx == NULL) {
        return NULL;
    }

    ctx->method = ngx_cms_method(r->main);

    /*
     * The raw path, as the client sent it: proxy_pass without a URI part
     * forwards exactly these bytes, so this is what the bridge will act
     * on.  Classifying nginx's normalized r->uri instead would let
     * "/coSpaces/../calls" be judged as one thing and executed as another.
     */

    if (r->main->valid_unparsed_uri) {
        p = r->main->unparsed_uri.data;
        last = p + r->main->unparsed_uri.len;

        if (r->main->args.len) {
            last = r->main->args.data - 1;
        }

    } else {
        /* rewritten ("rewrite", "set $args"): proxy_pass sends r->uri */
        p = r->main->uri.data;
        last = p + r->main->uri.len;
    }

    ctx->api_rc = ngx_cms_api_classify(p, last - p, ctx->method, &ctx->api);

    ctx->operation = ctx->api.operation;

    ngx_http_set_ctx(r->main, ctx, ngx_http_cms_module);

    return ctx;
}


static ngx_cms_method_e
ngx_cms_method(ngx_http_request_t *r)
{
    switch (r->method) {

    case NGX_HTTP_GET:
    case NGX_HTTP_HEAD:
        return NGX_CMS_METHOD_GET;

    case NGX_HTTP_POST:
        return NGX_CMS_METHOD_POST;

    case NGX_HTTP_PUT:
        return NGX_CMS_METHOD_PUT;

    case NGX_HTTP_DELETE:
        return NGX_CMS_METHOD_DELETE;

    default:
        return NGX_CMS_METHOD_OTHER;
    }
}
