
/*
 * ngx_cms: the internal HTTP(S) client (see ngx_cms_client.h).
 *
 * The shape is njs's fetch (nginx/ngx_js_http.c) cut down to what a
 * conversation with a call bridge needs: ngx_event_connect_peer(), an
 * optional ngx_ssl handshake with SNI, SSL_get_verify_result() and a name
 * check, one request buffer out, one growing buffer in, and a single
 * cancelable deadline for the whole exchange so that a bridge that
 * accepts and never answers costs exactly "timeout".
 *
 * Connections are marked idle: on a graceful shutdown nginx closes idle
 * connections by setting c->close and calling the read handler, which
 * ends the exchange, so a worker never exits with a socket of ours open.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>

#include "ngx_cms_client.h"
#include "ngx_cms_client_head.h"


#define NGX_CMS_CLIENT_FIRST_BUFFER  4096


typedef struct {
    ngx_cms_client_t            pub;        /* must be first */

    ngx_pool_t                 *pool;
    ngx_log_t                   log;        /* the caller's, quieter */
    ngx_cms_client_target_t     target;
    u_char                     *host;       /* NUL-terminated copy */

    ngx_peer_connection_t       peer;
    ngx_event_t                 deadline;
    ngx_event_t                 done;

    ngx_buf_t                  *out;
    ngx_buf_t                  *in;
    size_t                      header_len; /* 0 until the blank line */
    off_t                       content_length;

    ngx_cms_client_handler_pt   handler;
    ngx_msec_t                  start;

    u_char                      errbuf[160];

    unsigned                    connected:1;
    unsigned                    sent:1;
    unsigned                    finished:1;
} ngx_cms_client_ctx_t;


static ngx_int_t ngx_cms_client_build(ngx_cms_client_ctx_t *ctx,
    ngx_str_t *method, ngx_str_t *path, ngx_str_t *body);
static void ngx_cms_client_connect(ngx_cms_client_ctx_t *ctx);
static ngx_int_t ngx_cms_client_test_connect(ngx_cms_client_ctx_t *ctx);
static void ngx_cms_client_connected(ngx_cms_client_ctx_t *ctx);
#if (NGX_SSL)
static void ngx_cms_client_ssl_init(ngx_cms_client_ctx_t *ctx);
static void ngx_cms_client_ssl_handshake_handler(ngx_connection_t *c);
static void ngx_cms_client_ssl_handshaked(ngx_cms_client_ctx_t *ctx);
#endif
static void ngx_cms_client_write_handler(ngx_event_t *wev);
static void ngx_cms_client_read_handler(ngx_event_t *rev);
static ngx_int_t ngx_cms_client_complete(ngx_cms_client_ctx_t *ctx,
    ngx_uint_t eof);
static ngx_int_t ngx_cms_client_parse(ngx_cms_client_ctx_t *ctx);
static void ngx_cms_client_deadline_handler(ngx_event_t *ev);
static void ngx_cms_client_done_handler(ngx_event_t *ev);
static void ngx_cms_client_fail(ngx_cms_client_ctx_t *ctx, ngx_err_t err,
    const char *fmt, ...);
static void ngx_cms_client_finish(ngx_cms_client_ctx_t *ctx, ngx_int_t rc);
static void ngx_cms_client_close(ngx_cms_client_ctx_t *ctx);


ngx_cms_client_t *
ngx_cms_client_request(ngx_cms_client_target_t *target, ngx_str_t *method,
    ngx_str_t *path, ngx_str_t *body, ngx_cms_client_handler_pt handler,
    void *data)
{
    ngx_pool_t            *pool;
    ngx_cms_client_ctx_t  *ctx;

    pool = ngx_create_pool(2048, target->log);
    if (pool == NULL) {
        return NULL;
    }

    ctx = ngx_pcalloc(pool, sizeof(ngx_cms_client_ctx_t));
    if (ctx == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    ctx->pool = pool;
    ctx->target = *target;
    ctx->handler = handler;
    ctx->pub.data = data;
    ctx->content_length = -1;
    ctx->start = ngx_current_msec;

    /*
     * A bridge that is down would otherwise put "connect() failed" in
     * the error log at every check; whoever called us reports the
     * failure once, when it matters.  Debug logging stays as it was.
     */

    ctx->log = *target->log;

    if ((ctx->log.log_level & NGX_LOG_DEBUG_ALL) == 0
        && ctx->log.log_level > NGX_LOG_CRIT)
    {
        ctx->log.log_level = NGX_LOG_CRIT;
    }

    ctx->host = ngx_pnalloc(pool, target->host.len + 1);
    if (ctx->host == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    ngx_cpystrn(ctx->host, target->host.data, target->host.len + 1);
    ctx->target.host.data = ctx->host;

    if (ngx_cms_client_build(ctx, method, path, body) != NGX_OK) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    ctx->deadline.handler = ngx_cms_client_deadline_handler;
    ctx->deadline.data = ctx;
    ctx->deadline.log = &ctx->log;
    ctx->deadline.cancelable = 1;

    ctx->done.handler = ngx_cms_client_done_handler;
    ctx->done.data = ctx;
    ctx->done.log = &ctx->log;

    ngx_add_timer(&ctx->deadline, target->timeout);

    ngx_cms_client_connect(ctx);

    return &ctx->pub;
}


void
ngx_cms_client_cancel(ngx_cms_client_t *cc)
{
    ngx_cms_client_ctx_t  *ctx = (ngx_cms_client_ctx_t *) cc;

    ngx_cms_client_close(ctx);

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    if (ctx->done.posted) {
        ngx_delete_posted_event(&ctx->done);
    }

    ngx_destroy_pool(ctx->pool);
}


static ngx_int_t
ngx_cms_client_build(ngx_cms_client_ctx_t *ctx, ngx_str_t *method,
    ngx_str_t *path, ngx_str_t *body)
{
    size_t      len, i;
    ngx_buf_t  *b;

    /* the path goes into a request line carrying the bridge's credentials:
     * no space or control byte may split it into another request */

    for (i = 0; i < path->len; i++) {
        if (path->data[i] <= 0x20 || path->data[i] == 0x7f) {
            return NGX_ERROR;
        }
    }

    len = method->len + 1 + path->len + sizeof(" HTTP/1.0" CRLF) - 1
          + sizeof("Host: " CRLF) - 1 + ctx->target.host.len
          + sizeof("User-Agent: ngx_cms" CRLF) - 1
          + sizeof("Accept-Encoding: identity" CRLF) - 1
          + sizeof("Connection: close" CRLF) - 1
          + sizeof(CRLF) - 1;

    if (ctx->target.authorization.len) {
        len += sizeof("Authorization: " CRLF) - 1
               + ctx->target.authorization.len;
    }

    if (body) {
        len += sizeof("Content-Type: application/x-www-form-urlencoded" CRLF)
               - 1
               + sizeof("Content-Length: " CRLF) - 1 + NGX_SIZE_T_LEN
               + body->len;
    }

    b = ngx_create_temp_buf(ctx->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_sprintf(b->last, "%V %V HTTP/1.0" CRLF "Host: %V" CRLF,
                          method, path, &ctx->target.host);

    if (ctx->target.authorization.len) {
        b->last = ngx_sprintf(b->last, "Authorization: %V" CRLF,
                              &ctx->target.authorization);
    }

    b->last = ngx_cpymem(b->last,
                         "User-Agent: ngx_cms" CRLF
                         "Accept-Encoding: identity" CRLF
                         "Connection: close" CRLF,
                         sizeof("User-Agent: ngx_cms" CRLF
                                "Accept-Encoding: identity" CRLF
                                "Connection: close" CRLF) - 1);

    if (body) {
        b->last = ngx_sprintf(b->last,
                      "Content-Type: application/x-www-form-urlencoded" CRLF
                      "Content-Length: %uz" CRLF, body->len);
    }

    *b->last++ = CR; *b->last++ = LF;

    if (body) {
        b->last = ngx_cpymem(b->last, body->data, body->len);
    }

    ctx->out = b;

    return NGX_OK;
}


static void
ngx_cms_client_connect(ngx_cms_client_ctx_t *ctx)
{
    ngx_int_t          rc;
    ngx_err_t          err;
    ngx_connection_t  *c;

    ctx->peer.sockaddr = ctx->target.addr->sockaddr;
    ctx->peer.socklen = ctx->target.addr->socklen;
    ctx->peer.name = &ctx->target.addr->name;
    ctx->peer.get = ngx_event_get_peer;
    ctx->peer.log = &ctx->log;
    ctx->peer.log_error = NGX_ERROR_INFO;

    rc = ngx_event_connect_peer(&ctx->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        err = ngx_socket_errno;
        ngx_cms_client_fail(ctx, err, "connect() to %V failed",
                            ctx->peer.name);
        return;
    }

    c = ctx->peer.connection;

    c->data = ctx;
    c->pool = ctx->pool;
    c->idle = 1;

    c->read->handler = ngx_cms_client_read_handler;
    c->write->handler = ngx_cms_client_write_handler;

    if (rc == NGX_OK) {
        ctx->connected = 1;
        ngx_cms_client_connected(ctx);
    }

    /* NGX_AGAIN: the write event tells when the connection is made */
}


static ngx_int_t
ngx_cms_client_test_connect(ngx_cms_client_ctx_t *ctx)
{
    int                err;
    socklen_t          len;
    ngx_connection_t  *c;

    c = ctx->peer.connection;

#if (NGX_HAVE_KQUEUE)

    if (ngx_event_flags & NGX_USE_KQUEUE_EVENT) {
        if (c->write->pending_eof || c->read->pending_eof) {
            err = c->write->pending_eof ? c->write->kq_errno
                                        : c->read->kq_errno;

            ngx_cms_client_fail(ctx, err, "connect() to %V failed",
                                ctx->peer.name);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

#endif

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        ngx_cms_client_fail(ctx, err, "connect() to %V failed",
                            ctx->peer.name);
        return NGX_ERROR;
    }

    ctx->connected = 1;

    return NGX_OK;
}


static void
ngx_cms_client_connected(ngx_cms_client_ctx_t *ctx)
{
#if (NGX_SSL)

    if (ctx->target.ssl && ctx->peer.connection->ssl == NULL) {
        ngx_cms_client_ssl_init(ctx);
        return;
    }

#endif

    ngx_cms_client_write_handler(ctx->peer.connection->write);
}


#if (NGX_SSL)

static void
ngx_cms_client_ssl_init(ngx_cms_client_ctx_t *ctx)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    c = ctx->peer.connection;

    if (ngx_ssl_create_connection(ctx->target.ssl, c,
                                  NGX_SSL_BUFFER|NGX_SSL_CLIENT)
        != NGX_OK)
    {
        ngx_cms_client_fail(ctx, 0, "cannot create a TLS connection");
        return;
    }

    c->sendfile = 0;

#ifdef SSL_CTRL_SET_TLSEXT_HOSTNAME

    /* RFC 6066: no SNI for address literals */

    if (ctx->target.host.len
        && ctx->host[0] != '['
        && ngx_inet_addr(ctx->host, ctx->target.host.len) == INADDR_NONE
        && SSL_set_tlsext_host_name(c->ssl->connection, (char *) ctx->host)
           == 0)
    {
        ngx_cms_client_fail(ctx, 0, "cannot set the TLS server name");
        return;
    }

#endif

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        c->ssl->handler = ngx_cms_client_ssl_handshake_handler;
        return;
    }

    ngx_cms_client_ssl_handshaked(ctx);
}


static void
ngx_cms_client_ssl_handshake_handler(ngx_connection_t *c)
{
    ngx_cms_client_ssl_handshaked(c->data);
}


static void
ngx_cms_client_ssl_handshaked(ngx_cms_client_ctx_t *ctx)
{
    long               rc;
    X509              *cert;
    ngx_int_t          match;
    ngx_connection_t  *c;

    c = ctx->peer.connection;

    if (c->close) {
        ngx_cms_client_fail(ctx, 0, "the worker is shutting down");
        return;
    }

    if (!c->ssl->handshaked) {
        ngx_cms_client_fail(ctx, 0, "TLS handshake with %V failed",
                            ctx->peer.name);
        return;
    }

    if (ctx->target.verify) {
        rc = SSL_get_verify_result(c->ssl->connection);

        if (rc != X509_V_OK) {
            ngx_cms_client_fail(ctx, 0,
                                "certificate of %V not trusted (%l: %s)",
                                ctx->peer.name, rc,
                                X509_verify_cert_error_string(rc));
            return;
        }

        /*
         * ngx_ssl_check_host() matches DNS names only; a bridge
         * configured by address is checked against the certificate's
         * IP addresses.
         */

        if (ngx_inet_addr(ctx->host, ctx->target.host.len) != INADDR_NONE
            || ctx->host[0] == '[')
        {
            match = NGX_ERROR;

            cert = SSL_get_peer_certificate(c->ssl->connection);
            if (cert) {
                if (X509_check_ip_asc(cert, (char *) ctx->host, 0) == 1) {
                    match = NGX_OK;
                }

                X509_free(cert);
            }

        } else {
            match = ngx_ssl_check_host(c, &ctx->target.host);
        }

        if (match != NGX_OK) {
            ngx_cms_client_fail(ctx, 0,
                                "certificate of %V does not match \"%V\"",
                                ctx->peer.name, &ctx->target.host);
            return;
        }
    }

    c->read->handler = ngx_cms_client_read_handler;
    c->write->handler = ngx_cms_client_write_handler;

    ngx_cms_client_write_handler(c->write);
}

#endif


static void
ngx_cms_client_write_handler(ngx_event_t *wev)
{
    ssize_t                n;
    ngx_buf_t             *b;
    ngx_connection_t      *c;
    ngx_cms_client_ctx_t  *ctx;

    c = wev->data;
    ctx = c->data;

    if (ctx->sent) {
        return;
    }

    if (!ctx->connected) {
        if (ngx_cms_client_test_connect(ctx) != NGX_OK) {
            return;
        }

        ngx_cms_client_connected(ctx);
        return;
    }

    b = ctx->out;

    while (b->pos < b->last) {
        n = c->send(c, b->pos, b->last - b->pos);

        if (n == NGX_ERROR) {
            ngx_cms_client_fail(ctx, ngx_socket_errno,
                                "send() to %V failed", ctx->peer.name);
            return;
        }

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                ngx_cms_client_fail(ctx, 0, "write event failed");
            }

            return;
        }

        b->pos += n;
    }

    ctx->sent = 1;

    if (ngx_handle_write_event(wev, 0) != NGX_OK) {
        ngx_cms_client_fail(ctx, 0, "write event failed");
        return;
    }

    if (c->read->ready) {
        ngx_cms_client_read_handler(c->read);
        return;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_cms_client_fail(ctx, 0, "read event failed");
    }
}


static void
ngx_cms_client_read_handler(ngx_event_t *rev)
{
    size_t                 size;
    ssize_t                n;
    ngx_buf_t             *b, *nb;
    ngx_connection_t      *c;
    ngx_cms_client_ctx_t  *ctx;

    c = rev->data;
    ctx = c->data;

    if (c->close) {
        ngx_cms_client_fail(ctx, 0, "the worker is shutting down");
        return;
    }

    if (!ctx->connected) {
        if (ngx_cms_client_test_connect(ctx) != NGX_OK) {
            return;
        }

        ngx_cms_client_connected(ctx);
        return;
    }

    if (!ctx->sent) {
        /* the answer cannot come before the question */
        return;
    }

    for ( ;; ) {

        b = ctx->in;

        if (b == NULL || b->last == b->end) {
            size = b ? (size_t) (b->end - b->start) * 2
                     : NGX_CMS_CLIENT_FIRST_BUFFER;

            if (b && (size_t) (b->end - b->start)
                     >= ctx->target.max_response)
            {
                ngx_cms_client_fail(ctx, 0,
                                    "answer from %V larger than %uz bytes",
                                    ctx->peer.name,
                                    ctx->target.max_response);
                return;
            }

            if (size > ctx->target.max_response) {
                size = ctx->target.max_response;
            }

            nb = ngx_create_temp_buf(ctx->pool, size);
            if (nb == NULL) {
                ngx_cms_client_fail(ctx, 0, "out of memory");
                return;
            }

            if (b) {
                nb->last = ngx_cpymem(nb->last, b->pos, b->last - b->pos);
            }

            ctx->in = nb;
            b = nb;
        }

        n = c->recv(c, b->last, b->end - b->last);

        if (n > 0) {
            b->last += n;

            if (ngx_cms_client_complete(ctx, 0) != NGX_AGAIN) {
                return;
            }

            continue;
        }

        if (n == 0) {
            (void) ngx_cms_client_complete(ctx, 1);
            return;
        }

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_cms_client_fail(ctx, 0, "read event failed");
            }

            return;
        }

        ngx_cms_client_fail(ctx, ngx_socket_errno,
                            "recv() from %V failed", ctx->peer.name);
        return;
    }
}


/*
 * NGX_AGAIN while more is to come; otherwise the exchange has been
 * finished one way or the other.
 */

static ngx_int_t
ngx_cms_client_complete(ngx_cms_client_ctx_t *ctx, ngx_uint_t eof)
{
    ngx_buf_t  *b;

    b = ctx->in;

    if (ctx->header_len == 0) {
        ctx->header_len = ngx_cms_client_head_end(b->pos, b->last - b->pos);

        if (ctx->header_len == 0) {
            if (eof) {
                ngx_cms_client_fail(ctx, 0, "%V closed the connection "
                                    "before a complete header",
                                    ctx->peer.name);
                return NGX_ERROR;
            }

            return NGX_AGAIN;
        }

        if (ngx_cms_client_parse(ctx) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ctx->content_length >= 0
        && (off_t) (b->last - b->pos - ctx->header_len)
           >= ctx->content_length)
    {
        ngx_cms_client_finish(ctx, NGX_OK);
        return NGX_OK;
    }

    if (!eof) {
        return NGX_AGAIN;
    }

    if (ctx->content_length >= 0) {
        ngx_cms_client_fail(ctx, 0, "%V closed the connection before "
                            "the whole body", ctx->peer.name);
        return NGX_ERROR;
    }

    ngx_cms_client_finish(ctx, NGX_OK);

    return NGX_OK;
}


/*
 * The header block, complete, in ctx->in: the status line and the few
 * headers the callers use (ngx_cms_client_head.c, pure, fuzzed).
 */

static ngx_int_t
ngx_cms_client_parse(ngx_cms_client_ctx_t *ctx)
{
    const char             *err;
    ngx_cms_client_head_t   h;

    err = ngx_cms_client_head_parse(ctx->in->pos, ctx->header_len, &h);

    if (err) {
        ngx_cms_client_fail(ctx, 0, "%V %s", ctx->peer.name, err);
        return NGX_ERROR;
    }

    ctx->pub.status = h.status;
    ctx->content_length = h.content_length;

    if (h.location) {
        ctx->pub.location.data = (u_char *) h.location;
        ctx->pub.location.len = h.location_len;
    }

    if (h.content_type) {
        ctx->pub.content_type.data = (u_char *) h.content_type;
        ctx->pub.content_type.len = h.content_type_len;
    }

    return NGX_OK;
}


static void
ngx_cms_client_deadline_handler(ngx_event_t *ev)
{
    ngx_cms_client_ctx_t  *ctx = ev->data;

    ctx->pub.timed_out = 1;

    ngx_cms_client_fail(ctx, 0, "%V did not answer within %M ms",
                        &ctx->target.addr->name, ctx->target.timeout);
}


static void
ngx_cms_client_fail(ngx_cms_client_ctx_t *ctx, ngx_err_t err,
    const char *fmt, ...)
{
    u_char   *p, *last;
    va_list   args;

    if (ctx->finished) {
        return;
    }

    last = ctx->errbuf + sizeof(ctx->errbuf);

    va_start(args, fmt);
    p = ngx_vslprintf(ctx->errbuf, last, fmt, args);
    va_end(args);

    if (err) {
        p = ngx_slprintf(p, last, " (%d: ", err);
        p = ngx_strerror(err, p, last - p);
        p = ngx_slprintf(p, last, ")");
    }

    ctx->pub.error.data = ctx->errbuf;
    ctx->pub.error.len = p - ctx->errbuf;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, &ctx->log, 0,
                   "cms client: %V", &ctx->pub.error);

    ngx_cms_client_finish(ctx, NGX_ERROR);
}


static void
ngx_cms_client_finish(ngx_cms_client_ctx_t *ctx, ngx_int_t rc)
{
    ngx_buf_t  *b;

    if (ctx->finished) {
        return;
    }

    if (rc == NGX_OK) {
        b = ctx->in;

        /*
         * Again, now that the buffer is final: the Location and
         * Content-Type spans point into it.  It parsed before.
         */

        if (ngx_cms_client_parse(ctx) != NGX_OK) {
            return;
        }

        ctx->pub.body.data = b->pos + ctx->header_len;
        ctx->pub.body.len = b->last - ctx->pub.body.data;

        if (ctx->content_length >= 0
            && (off_t) ctx->pub.body.len > ctx->content_length)
        {
            ctx->pub.body.len = (size_t) ctx->content_length;
        }
    }

    ctx->finished = 1;
    ctx->pub.rc = rc;
    ctx->pub.elapsed = ngx_current_msec - ctx->start;

    ngx_cms_client_close(ctx);

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    /* never from inside the caller's own call, always the same way */

    ngx_post_event(&ctx->done, &ngx_posted_events);
}


static void
ngx_cms_client_done_handler(ngx_event_t *ev)
{
    ngx_pool_t            *pool;
    ngx_cms_client_ctx_t  *ctx;

    ctx = ev->data;
    pool = ctx->pool;

    ctx->handler(&ctx->pub);

    ngx_destroy_pool(pool);
}


static void
ngx_cms_client_close(ngx_cms_client_ctx_t *ctx)
{
    ngx_connection_t  *c;

    c = ctx->peer.connection;

    if (c == NULL) {
        return;
    }

    ctx->peer.connection = NULL;

#if (NGX_SSL)

    if (c->ssl) {
        /* quiet: both flags make SSL_shutdown() return at once */
        c->ssl->no_wait_shutdown = 1;
        c->ssl->no_send_shutdown = 1;

        (void) ngx_ssl_shutdown(c);
    }

#endif

    c->pool = NULL;

    ngx_close_connection(c);
}
