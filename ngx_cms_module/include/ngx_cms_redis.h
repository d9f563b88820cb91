
/*
 * ngx_cms Redis client: the public C API, for the rest of ngx_cms and for
 * plugins.
 *
 * Every worker process keeps one command connection and one pub/sub
 * connection to the Redis master (given by "cms_redis", or found through
 * "cms_redis_sentinel"), driven by the nginx event loop; with
 * "cms_redis_stream_replicas" the reliable stream has a third one of its
 * own (its WAIT holds back its connection, never the commands here).  Nothing here
 * ever blocks: a command is written to the connection's buffer and its
 * handler runs later, from the event loop.
 *
 * The rules every function below follows:
 *
 *   - Worker processes only.  The run-time functions return NGX_DECLINED
 *     (and call no handler) without Redis in the configuration, outside a
 *     worker, and for commands before this module's init_process ran or
 *     after its exit_process: send commands from init_process of a module
 *     loaded after this one (the plugins are), or later.  Subscriptions
 *     and watchers may be registered from any init_process.
 *
 *   - A command handler is called EXACTLY ONCE for every call that
 *     returned NGX_OK, and never from inside the call that sent the
 *     command: with the reply, with a Redis error, on command timeout,
 *     when the connection is lost, when Redis is not connected at the
 *     time of the call, or when the worker exits.  A call that returns
 *     NGX_ERROR (bad arguments, out of memory) never calls its handler.
 *
 *   - Handler arguments:
 *       reply == NULL        the command got no answer; "error" says why:
 *                            "not connected", "command timeout (<t> ms)",
 *                            "worker exiting", or the connection's error
 *                            ("connection closed", "Connection reset by
 *                            peer", "READONLY: ...");
 *       reply != NULL        Redis answered; when the answer is a Redis
 *                            error (reply->type == REDIS_REPLY_ERROR),
 *                            "error" points to its text too, so
 *                            "error != NULL" means "did not succeed";
 *       error == NULL        success.
 *     The reply and the error text belong to the client and are valid
 *     only during the call: copy what you keep.  A NULL handler means
 *     "fire and forget".
 *
 *   - Ownership of "data" (the requester may be gone): a command sent with
 *     a pool (for a request, r->pool) registers a cleanup on that pool.
 *     If the pool is destroyed before the answer arrives (the request was
 *     finalized, the client went away), the pending command is ORPHANED:
 *     the handler is still called exactly once, but with data == NULL, and
 *     must then touch nothing that belonged to the requester.  So a
 *     handler of a pool-bound command must be given non-NULL data and must
 *     check it.  With pool == NULL nothing is orphaned: data must outlive
 *     the command (static or cycle memory).
 *
 *     A request that waits for an answer keeps itself alive the usual way
 *     (r->main->count++ and return NGX_DONE, or a suspended phase).  If it
 *     also sets r->read_event_handler = ngx_http_test_reading, a client
 *     abort finalizes it and its pending command becomes orphaned, which
 *     is exactly what the cleanup is for.  A handler that resumes a
 *     request should end with ngx_http_run_posted_requests(c).
 *
 *     When the worker exits, commands still pending are answered with
 *     "worker exiting", and pool-bound ones are then always orphaned
 *     (data == NULL): no request is ever resumed from exit_process.
 *
 *   - Keys and channels: the command functions send exactly what they are
 *     given; build key names with ngx_cms_redis_key() so the configured
 *     prefix is applied.  ngx_cms_redis_subscribe(), ngx_cms_redis_publish()
 *     and ngx_cms_redis_stream_add() apply the prefix themselves.
 *
 *   - Pipelining: commands share one connection and are answered in the
 *     order they were sent.  One exception: a script call answered
 *     NOSCRIPT (only after SCRIPT FLUSH or a failover to a server that
 *     never saw it) is re-sent as EVAL behind the commands sent after it.
 *
 *   - Degradation: nothing here waits for Redis.  With Redis down, the
 *     handlers get "not connected" on the next event loop turn, so a
 *     request is never delayed by more than command_timeout (connected
 *     but unresponsive Redis) and usually not at all.  What a feature
 *     does without Redis (fail open or closed) is the feature's choice.
 */


#ifndef _NGX_CMS_REDIS_H_INCLUDED_
#define _NGX_CMS_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>


/* hiredis' own reply: type REDIS_REPLY_STRING, _ARRAY, _INTEGER, ... */
typedef struct redisReply  ngx_cms_redis_reply_t;

typedef struct ngx_cms_redis_script_s  ngx_cms_redis_script_t;

typedef void (*ngx_cms_redis_handler_pt)(ngx_cms_redis_reply_t *reply,
    ngx_str_t *error, void *data);

/* a message on a subscribed channel; "channel" is without the prefix */
typedef void (*ngx_cms_redis_message_pt)(ngx_str_t *channel,
    ngx_str_t *message, void *data);

/* the command connection became usable (1) or stopped being usable (0) */
typedef void (*ngx_cms_redis_watch_pt)(ngx_uint_t available, void *data);


/*
 * Configuration time (inside http{}: directive handlers, preconfiguration
 * or postconfiguration).
 */

/* "cms_redis" or "cms_redis_sentinel" is in this configuration */
ngx_uint_t ngx_cms_redis_configured(ngx_conf_t *cf);

/*
 * Declares a Lua script; the handle is valid for the life of the
 * configuration.  The script is loaded with SCRIPT LOAD on every new
 * connection, called with EVALSHA and, on NOSCRIPT, once more with EVAL.
 */
ngx_cms_redis_script_t *ngx_cms_redis_script_add(ngx_conf_t *cf,
    ngx_str_t *source);


/*
 * Run time, in a worker.  All return NGX_OK (the handler will be called),
 * NGX_ERROR (bad arguments, out of memory: it will not), or NGX_DECLINED
 * (see above: it will not).
 */

/* hiredis format: %s a C string, %b binary (pointer, size_t), %d, %lld */
ngx_int_t ngx_cms_redis_command(ngx_pool_t *pool,
    ngx_cms_redis_handler_pt handler, void *data, const char *fmt, ...);

ngx_int_t ngx_cms_redis_command_argv(ngx_pool_t *pool,
    ngx_cms_redis_handler_pt handler, void *data, ngx_uint_t argc,
    ngx_str_t *argv);

#define ngx_cms_redis_command_r(r, handler, data, ...)                       \
    ngx_cms_redis_command((r)->pool, handler, data, __VA_ARGS__)

#define ngx_cms_redis_command_argv_r(r, handler, data, argc, argv)           \
    ngx_cms_redis_command_argv((r)->pool, handler, data, argc, argv)

/* argv holds the nkeys keys first, then the arguments: argc in all */
ngx_int_t ngx_cms_redis_script_call(ngx_cms_redis_script_t *script,
    ngx_pool_t *pool, ngx_cms_redis_handler_pt handler, void *data,
    ngx_uint_t nkeys, ngx_uint_t argc, ngx_str_t *argv);

/*
 * Subscribes this worker to a channel on the pub/sub connection, now or
 * as soon as it is up, and again after every reconnect.  Messages sent
 * while the connection was down are not seen (Redis pub/sub keeps
 * nothing).  handler and data must live as long as the worker.
 */
ngx_int_t ngx_cms_redis_subscribe(ngx_str_t *channel,
    ngx_cms_redis_message_pt handler, void *data);

/* PUBLISH on the command connection; the reply is the receiver count */
ngx_int_t ngx_cms_redis_publish(ngx_pool_t *pool, ngx_str_t *channel,
    ngx_str_t *message, ngx_cms_redis_handler_pt handler, void *data);

/* called on every change; handler and data must live as the worker */
ngx_int_t ngx_cms_redis_watch(ngx_cms_redis_watch_pt handler, void *data);

/* the command connection is up: authenticated, database selected */
ngx_uint_t ngx_cms_redis_available(void);

/* the master in use (host:port, or the socket path); empty: none */
void ngx_cms_redis_master(ngx_str_t *addr);

/* <prefix><name>, allocated from pool */
ngx_int_t ngx_cms_redis_key(ngx_pool_t *pool, ngx_str_t *name,
    ngx_str_t *key);


/*
 * The reliable stream: appends one record (a JSON text) to the stream
 * <prefix><key> with XADD <prefix><key> [MAXLEN ~ <maxlen>] * record <json>
 * rid <source>:<seq>; maxlen 0 means no cap.  Never waits for Redis.
 *
 * With "cms_redis_spool <dir>" every record is first appended to this
 * worker's spool file (one write(), as an unbuffered access_log does),
 * then sent, in order, one batch at a time, and forgotten only once Redis
 * confirmed it; the records a dead process left are replayed by a later
 * worker.  A Lua script with a per-source sequence number makes the
 * replay idempotent, so a record whose XADD succeeded but whose reply was
 * lost is not added twice; with "cms_redis_stream_replicas <n>" a batch
 * is forgotten only once WAIT says <n> replicas have it, and sent again
 * until then.  With "mode=fallback" records are kept in
 * memory and written to the spool only when they cannot be sent promptly
 * (Redis unavailable, a failed batch, a backlog) and at exit: one write()
 * per record less, but a kill -9 of the worker loses what Redis had not
 * acknowledged yet.  See ngx_cms_redis_stream.c for the exact guarantee
 * and its limits.
 *
 * Raw CR and LF in the record (legal in JSON only as white space) are
 * stored as spaces.  The key must not contain white space.
 *
 * NGX_OK: queued; NGX_DECLINED: Redis or the stream is not configured
 * here (or not a worker); NGX_ERROR: bad key, record too big, or the
 * record had to be dropped (no room left; counted as "lost").
 */
ngx_int_t ngx_cms_redis_stream_add(ngx_str_t *key, ngx_uint_t maxlen,
    ngx_str_t *record);


/*
 * Health, as one JSON object text (this worker's view): connected or
 * not, since when, last error, counters, current master with Sentinel,
 * the stream and its spool.  {"configured":false} without Redis.
 */
ngx_int_t ngx_cms_redis_status_json(ngx_pool_t *pool, ngx_str_t *out);


#endif /* _NGX_CMS_REDIS_H_INCLUDED_ */
