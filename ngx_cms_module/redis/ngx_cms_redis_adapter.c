
/*
 * ngx_cms Redis client: hiredis' async context driven by nginx events.
 *
 * The socket hiredis opened gets an nginx connection so the event module
 * can watch it; hiredis' five event hooks map onto ngx_add_event() and
 * ngx_del_event().  Two things differ from the adapters others copy:
 *
 *   - Level-triggered events.  hiredis reads at most 16 KB per call, so
 *     with edge-triggered epoll a bigger burst could sit unread with no
 *     new event coming.  Level events make the loop call us again while
 *     data is left, with no FIONREAD loop.
 *
 *   - The fd belongs to hiredis.  redisFree() closes it right after the
 *     cleanup hook returns, so the cleanup does what ngx_close_connection()
 *     does minus the close(): delete the events (the fd is still open, so
 *     with real flags, not NGX_CLOSE_EVENT), forget posted events, give
 *     the connection structure back.
 */


#include "ngx_cms_redis_int.h"


static void ngx_cms_redis_adapter_read(ngx_event_t *ev);
static void ngx_cms_redis_adapter_write(ngx_event_t *ev);
static void ngx_cms_redis_adapter_add_read(void *privdata);
static void ngx_cms_redis_adapter_del_read(void *privdata);
static void ngx_cms_redis_adapter_add_write(void *privdata);
static void ngx_cms_redis_adapter_del_write(void *privdata);
static void ngx_cms_redis_adapter_cleanup(void *privdata);


ngx_int_t
ngx_cms_redis_adapter_attach(redisAsyncContext *ac, ngx_log_t *log)
{
    ngx_connection_t  *c;

    if (ac->ev.data != NULL) {
        return NGX_ERROR;
    }

    c = ngx_get_connection(ac->c.fd, log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->log = log;
    c->read->log = log;
    c->write->log = log;
    c->read->handler = ngx_cms_redis_adapter_read;
    c->write->handler = ngx_cms_redis_adapter_write;
    c->data = ac;

    ac->ev.data = c;
    ac->ev.addRead = ngx_cms_redis_adapter_add_read;
    ac->ev.delRead = ngx_cms_redis_adapter_del_read;
    ac->ev.addWrite = ngx_cms_redis_adapter_add_write;
    ac->ev.delWrite = ngx_cms_redis_adapter_del_write;
    ac->ev.cleanup = ngx_cms_redis_adapter_cleanup;

    return NGX_OK;
}


static void
ngx_cms_redis_adapter_read(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    /* the context may be freed inside: nothing may follow this call */
    redisAsyncHandleRead(c->data);
}


static void
ngx_cms_redis_adapter_write(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleWrite(c->data);
}


static void
ngx_cms_redis_adapter_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "cms redis: cannot watch socket %d", c->fd);
        }
    }
}


static void
ngx_cms_redis_adapter_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_cms_redis_adapter_add_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "cms redis: cannot watch socket %d", c->fd);
        }
    }
}


static void
ngx_cms_redis_adapter_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}


/*
 * Called by hiredis while it frees the context: after the pending
 * callbacks ran with a NULL reply, before redisFree() closes the fd.
 */

static void
ngx_cms_redis_adapter_cleanup(void *privdata)
{
    ngx_connection_t      *c = privdata;
    redisAsyncContext     *ac;
    ngx_cms_redis_conn_t  *conn;

    ac = c->data;
    conn = ac->data;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    /* ngx_free_connection() uses the fd; forget it only afterwards */

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    ac->ev.data = NULL;
    ac->ev.addRead = NULL;
    ac->ev.delRead = NULL;
    ac->ev.addWrite = NULL;
    ac->ev.delWrite = NULL;
    ac->ev.cleanup = NULL;

    if (conn != NULL) {
        ngx_cms_redis_conn_lost(conn);
    }
}
