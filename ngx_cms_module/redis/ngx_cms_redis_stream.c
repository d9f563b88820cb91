
/*
 * ngx_cms Redis client: the reliable stream, for the audit stream and
 * anything else that must not be lost.
 *
 * The path of a record, in one worker:
 *
 *   ngx_cms_redis_stream_add()
 *       -> gets the next sequence number of this process (its "source",
 *          host:pid:start-ms) and is kept in memory while Redis keeps
 *          up (mode=fallback, the default), or appended to this worker's
 *          spool file with one write() (mode=always, and whenever Redis
 *          does not keep up);
 *   the sender, whenever the command connection is up and nothing is in
 *   flight, 10 ms after the first record it has not sent yet (at once
 *   when a whole batch waits, or files of dead processes):
 *       -> reads up to 128 records, oldest first: files left by dead
 *          processes, then our file, then memory;
 *       -> sends them in ONE script call (EVALSHA) that, for each record
 *          whose seq is above the last seq stored for its source, does
 *          XADD <prefix><key> [MAXLEN ~ <maxlen>] * record <json>
 *               rid <source>:<seq>
 *          and stores the new last seq (SET ... EX 7 days);
 *       -> with cms_redis_stream_replicas <n>, sends WAIT <n> <timeout>
 *          right behind it, on a connection of the stream's own;
 *       -> only when the script answered (and WAIT said <n> replicas
 *          have everything up to it), forgets them (advances the
 *          file's cursor; a fully confirmed file is cut back to its
 *          header).  Any failure leaves them where they are, for the
 *          next attempt after a reconnect or a one-second retry.
 *
 * The guarantee, honestly:
 *   - Order: records of one process reach Redis in the order they were
 *     added (one batch in flight, retried from the first unconfirmed
 *     record).  Records a dead process left are replayed by a later
 *     worker, so across processes (reload, crash) they may land after
 *     records the new worker sent first.
 *   - No duplicates: a batch that was applied but whose reply was lost
 *     (timeout, disconnect, kill -9 of nginx) is sent again and skipped
 *     record by record by the seq check, because one source's records
 *     are always applied as a prefix in order.  The check forgets a
 *     source 7 days after its last write: a record replayed later than
 *     that (after its reply was lost) could be added a second time.
 *   - No loss, with a spool in mode=always: a record accepted (NGX_OK)
 *     is in the file before the call returns, so it survives kill -9 of
 *     the worker or of the whole of nginx (not an OS crash or power
 *     loss: no fsync, as with access_log).  Once Redis acknowledged it,
 *     Redis' own durability applies (persistence, asynchronous
 *     replication: a Sentinel failover can lose acknowledged writes),
 *     unless cms_redis_stream_replicas is set (below).
 *   - cms_redis_stream_replicas <n> [timeout=]: a batch counts as
 *     delivered only once WAIT <n> <timeout>, sent right after it on the
 *     same connection, answers that <n> replicas acknowledged every
 *     write of that connection so far.  Until then the records stay in
 *     the spool (or memory) and the batch is sent again, every second,
 *     like a failed one; the seq check skips what the master already
 *     has, so a batch sent again adds nothing twice, and what a lost
 *     master took with it (a replica promoted without it) is added once,
 *     to the new master.  The script writes the seq key on every call,
 *     even when it skips every record: WAIT waits for the connection's
 *     last write.  Redis 7.0.15 (Debian 12) moves a connection's offset
 *     to the master's after any command, a read too, so this is a guard
 *     for a server that counts only the connection's own writes: there a
 *     new connection that wrote nothing would have WAIT answered at once
 *     by any replica still connected, acknowledging or not.  Scripts are replicated as their effects, in
 *     MULTI/EXEC: a replica has a record and its seq, or neither.  WAIT
 *     holds back every later command of its connection for up to its
 *     timeout (a replica gone): hence a connection of the stream's own,
 *     and the stream only waits behind it.  It narrows the window, it
 *     does not close it: a failover to a replica other than the <n>
 *     that acknowledged (with more replicas than <n>) can still lose
 *     the batch, and WAIT is not a transaction (the records are on the
 *     master whether or not WAIT is satisfied).
 *   - Without a spool, or when the spool cannot be written (disk full,
 *     max_size), records wait in memory, at most 10000; beyond that, and
 *     whatever is still in memory when the process exits, is lost and
 *     counted ("lost" in the status).  At exit, memory records are
 *     written to the spool file if it works again.
 *   - In mode=fallback (the default) a record is kept in memory and
 *     sent from there, saving the write() per record; it goes to the
 *     spool file
 *     only when it cannot be sent promptly: Redis not available, a batch
 *     failed, more than 1024 records waiting or the oldest one waiting
 *     longer than command_timeout, and at exit.  Then all of memory is
 *     appended first (all or nothing: the file stays older than memory,
 *     and a batch in flight from memory becomes the head of the file), so
 *     order and the seq check hold.  The price: a kill -9 of the worker
 *     loses what Redis had not yet acknowledged (at most the batches of
 *     one command_timeout); the audit file, written through, has it.
 *   - A Redis error (not a transport failure) leaves the batch in place
 *     and retries every second: a stream key of the wrong type blocks
 *     the stream (records pile up in the spool) rather than dropping
 *     records; the status shows the error.
 */


#include "ngx_cms_redis_int.h"
#include "ngx_cms_metrics.h"
#include "ngx_cms_spool_line.h"


typedef struct {
    ngx_str_t                   seq;
    ngx_str_t                   maxlen;
    ngx_str_t                   key;
    ngx_str_t                   record;
} ngx_cms_redis_line_t;


typedef struct {
    ngx_queue_t                 queue;
    ngx_msec_t                  time;         /* when added */
    ngx_cms_redis_line_t        fields;       /* in line[], parsed */
    size_t                      len;
    size_t                      size;         /* room in line[] */
    u_char                      line[1];
} ngx_cms_redis_record_t;


typedef struct {
    ngx_cms_redis_main_conf_t  *conf;
    ngx_log_t                  *log;
    ngx_str_t                   source;
    uint64_t                    seq;

    ngx_cms_redis_spool_t      *own;
    ngx_queue_t                 orphans;
    ngx_queue_t                 memory;
    ngx_uint_t                  memory_n;
    off_t                       memory_bytes;

    ngx_uint_t                  unsent;       /* ours, not yet in a batch */

    /* the batch in flight */
    ngx_uint_t                  busy;
    ngx_uint_t                  replies;      /* still to come: 1 or 2 */
    ngx_uint_t                  script_ok;    /* its script answered */
    ngx_uint_t                  added_now;    /* what the script added */
    ngx_uint_t                  replicated;   /* WAIT said enough */
    ngx_uint_t                  short_logged; /* WAIT fell short, said */
    ngx_cms_redis_spool_t      *batch_spool;  /* NULL: from memory */
    ngx_uint_t                  batch_n;
    off_t                       batch_bytes;

    u_char                     *buf;
    size_t                      buf_size;
    ngx_queue_t                 rooms;        /* records to reuse */
    ngx_uint_t                  rooms_n;
    ngx_cms_redis_line_t        lines[NGX_CMS_REDIS_STREAM_BATCH];

    ngx_event_t                 kick_ev;
    ngx_event_t                 retry_ev;
    ngx_event_t                 scan_ev;

    ngx_uint_t                  added;
    ngx_uint_t                  confirmed;
    ngx_uint_t                  duplicates;
    ngx_uint_t                  lost;
    ngx_uint_t                  corrupt;
    ngx_uint_t                  errors;
    ngx_uint_t                  unreplicated; /* batches WAIT held back */
    ngx_uint_t                  replayed;     /* orphan files done */
    ngx_uint_t                  spool_broken; /* falling back to memory */

    u_char                      error[NGX_CMS_REDIS_ERRLEN];
    size_t                      error_len;
    ngx_msec_t                  error_time;

    ngx_uint_t                  running;
} ngx_cms_redis_stream_t;


static void ngx_cms_redis_stream_watch(ngx_uint_t available, void *data);
static void ngx_cms_redis_stream_ready(void);
static void ngx_cms_redis_stream_send(void);
static ngx_int_t ngx_cms_redis_stream_spill(ngx_cms_redis_stream_t *s);
static ngx_int_t ngx_cms_redis_stream_batch_file(ngx_cms_redis_stream_t *s,
    ngx_cms_redis_spool_t *spool);
static ngx_int_t ngx_cms_redis_stream_batch_memory(
    ngx_cms_redis_stream_t *s);
static ngx_int_t ngx_cms_redis_stream_call(ngx_cms_redis_stream_t *s,
    ngx_uint_t n, u_char *source, size_t source_len);
static void ngx_cms_redis_stream_reply(ngx_cms_redis_reply_t *reply,
    ngx_str_t *error, void *data);
static void ngx_cms_redis_stream_wait_reply(ngx_cms_redis_reply_t *reply,
    ngx_str_t *error, void *data);
static void ngx_cms_redis_stream_done(ngx_cms_redis_stream_t *s);
static ngx_int_t ngx_cms_redis_stream_parse(u_char *p, u_char *end,
    ngx_cms_redis_line_t *line);
static void ngx_cms_redis_stream_error(ngx_cms_redis_stream_t *s,
    ngx_uint_t level, const char *fmt, ...);
static void ngx_cms_redis_stream_kick_handler(ngx_event_t *ev);
static void ngx_cms_redis_stream_scan_handler(ngx_event_t *ev);
static ngx_cms_redis_record_t *ngx_cms_redis_stream_room(
    ngx_cms_redis_stream_t *s, size_t len);
static void ngx_cms_redis_stream_recycle(ngx_cms_redis_stream_t *s,
    ngx_cms_redis_record_t *rec);


static ngx_cms_redis_stream_t  ngx_cms_redis_stream;


/*
 * KEYS[1]: the last seq of the source; KEYS[2..]: the streams.
 * ARGV[1]: the source; then seq, maxlen, record for every stream key.
 * redis.pcall: a failing XADD must not hide the ones before it, so the
 * last seq is stored up to the record that failed.  A call that skips
 * every record still writes the seq key (the same value, a fresh TTL):
 * a WAIT behind it then covers the records skipped (see above).
 */

static ngx_str_t  ngx_cms_redis_stream_lua = ngx_string(
    "local seen = redis.call('GET', KEYS[1])" CRLF
    "local last = tonumber(seen or '0')" CRLF
    "local stored = nil" CRLF
    "local added = 0" CRLF
    "for i = 2, #KEYS do" CRLF
    "  local a = 3 * i - 4" CRLF
    "  if tonumber(ARGV[a]) > last then" CRLF
    "    local rid = ARGV[1] .. ':' .. ARGV[a]" CRLF
    "    local r" CRLF
    "    if ARGV[a + 1] == '0' then" CRLF
    "      r = redis.pcall('XADD', KEYS[i], '*', 'record', ARGV[a + 2]," CRLF
    "                      'rid', rid)" CRLF
    "    else" CRLF
    "      r = redis.pcall('XADD', KEYS[i], 'MAXLEN', '~', ARGV[a + 1]," CRLF
    "                      '*', 'record', ARGV[a + 2], 'rid', rid)" CRLF
    "    end" CRLF
    "    if type(r) == 'table' and r.err then" CRLF
    "      if stored then" CRLF
    "        redis.call('SET', KEYS[1], stored, 'EX', 604800)" CRLF
    "      end" CRLF
    "      return r" CRLF
    "    end" CRLF
    "    last = tonumber(ARGV[a])" CRLF
    "    stored = ARGV[a]" CRLF
    "    added = added + 1" CRLF
    "  end" CRLF
    "end" CRLF
    "if stored then" CRLF
    "  redis.call('SET', KEYS[1], stored, 'EX', 604800)" CRLF
    "elseif seen then" CRLF
    "  redis.call('SET', KEYS[1], seen, 'EX', 604800)" CRLF
    "end" CRLF
    "return added" CRLF
);


ngx_int_t
ngx_cms_redis_stream_init(ngx_cycle_t *cycle, ngx_cms_redis_main_conf_t *rmcf)
{
    ngx_cms_redis_stream_t  *s;

    s = &ngx_cms_redis_stream;

    ngx_memzero(s, sizeof(ngx_cms_redis_stream_t));

    s->conf = rmcf;
    s->log = cycle->log;
    s->source = ngx_cms_redis_worker.source;

    ngx_queue_init(&s->orphans);
    ngx_queue_init(&s->memory);
    ngx_queue_init(&s->rooms);

    s->kick_ev.handler = ngx_cms_redis_stream_kick_handler;
    s->retry_ev.handler = ngx_cms_redis_stream_kick_handler;
    s->scan_ev.handler = ngx_cms_redis_stream_scan_handler;

    s->kick_ev.data = &ngx_cms_redis_no_connection;
    s->retry_ev.data = &ngx_cms_redis_no_connection;
    s->scan_ev.data = &ngx_cms_redis_no_connection;

    s->kick_ev.log = cycle->log;
    s->retry_ev.log = cycle->log;
    s->scan_ev.log = cycle->log;

    s->kick_ev.cancelable = 1;
    s->retry_ev.cancelable = 1;
    s->scan_ev.cancelable = 1;

    s->buf_size = 64 * 1024;
    s->buf = ngx_alloc(s->buf_size, cycle->log);
    if (s->buf == NULL) {
        return NGX_ERROR;
    }

    if (rmcf->spool.len) {
        s->own = ngx_cms_redis_spool_create(&rmcf->spool, &s->source,
                                            cycle->log);

        if (s->own == NULL) {
            s->spool_broken = 1;
            ngx_cms_redis_stream_error(s, NGX_LOG_ERR,
                                       "no spool file in \"%V\": records "
                                       "wait in memory", &rmcf->spool);
        }

        (void) ngx_cms_redis_spool_claim(&rmcf->spool, s->own, &s->orphans,
                                         cycle->log);

        ngx_add_timer(&s->scan_ev, NGX_CMS_REDIS_SPOOL_SCAN);
    }

    s->running = 1;

    /*
     * Redis coming (back) is news for the stream as for anyone: it hears
     * it through the client's watchers, registered first, so it drains
     * before the others act.
     */

    if (ngx_cms_redis_watch(ngx_cms_redis_stream_watch, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    /* with cms_redis_stream_replicas, its own connection coming up too */

    ngx_cms_redis_stream_conn_watch(ngx_cms_redis_stream_ready);

    return NGX_OK;
}


void
ngx_cms_redis_stream_exit(void)
{
    ngx_uint_t               n;
    ngx_queue_t             *q;
    ngx_cms_redis_record_t  *rec;
    ngx_cms_redis_spool_t   *spool;
    ngx_cms_redis_stream_t  *s;

    s = &ngx_cms_redis_stream;

    if (!s->running) {
        return;
    }

    s->running = 0;

    if (s->kick_ev.posted) {
        ngx_delete_posted_event(&s->kick_ev);
    }

    if (s->kick_ev.timer_set) {
        ngx_del_timer(&s->kick_ev);
    }

    if (s->retry_ev.timer_set) {
        ngx_del_timer(&s->retry_ev);
    }

    if (s->scan_ev.timer_set) {
        ngx_del_timer(&s->scan_ev);
    }

    /* what waits in memory goes after the file's records, if it can */

    n = 0;

    while (!ngx_queue_empty(&s->memory)) {
        q = ngx_queue_head(&s->memory);
        rec = ngx_queue_data(q, ngx_cms_redis_record_t, queue);

        if (s->own == NULL
            || ngx_cms_redis_spool_append(s->own, rec->line, rec->len, s->log)
               != NGX_OK)
        {
            n++;
        }

        ngx_queue_remove(q);
        ngx_free(rec);
    }

    if (n) {
        s->lost += n;
        ngx_cms_count(NGX_CMS_METRIC_STREAM_LOST, n);
        ngx_log_error(NGX_LOG_WARN, s->log, 0,
                      "cms redis: %ui stream records lost at exit "
                      "(no usable spool)", n);
    }

    if (s->own) {
        ngx_cms_redis_spool_close(s->own, s->log);
        s->own = NULL;
    }

    while (!ngx_queue_empty(&s->orphans)) {
        q = ngx_queue_head(&s->orphans);
        ngx_queue_remove(q);
        spool = ngx_queue_data(q, ngx_cms_redis_spool_t, queue);
        ngx_cms_redis_spool_close(spool, s->log);
    }

    ngx_free(s->buf);
    s->buf = NULL;

    while (!ngx_queue_empty(&s->rooms)) {
        q = ngx_queue_head(&s->rooms);
        ngx_queue_remove(q);
        ngx_free(ngx_queue_data(q, ngx_cms_redis_record_t, queue));
    }

    s->rooms_n = 0;
}


ngx_int_t
ngx_cms_redis_stream_add(ngx_str_t *key, ngx_uint_t maxlen,
    ngx_str_t *record)
{
    size_t                   len;
    off_t                    max;
    ngx_cms_redis_line_t    *f;
    ngx_cms_spool_line_t     sl;
    ngx_cms_redis_record_t  *rec, *oldest;
    ngx_cms_redis_stream_t  *s;

    s = &ngx_cms_redis_stream;

    if (!s->running) {
        return NGX_DECLINED;
    }

    if (ngx_cms_redis_stream_key_valid(key) != NGX_OK
        || record->len > NGX_CMS_REDIS_STREAM_MAX_RECORD)
    {
        s->lost++;
        ngx_cms_count(NGX_CMS_METRIC_STREAM_LOST, 1);
        ngx_cms_redis_stream_error(s, NGX_LOG_ERR,
                                   "record refused: bad key or over %uz "
                                   "bytes", NGX_CMS_REDIS_STREAM_MAX_RECORD);
        return NGX_ERROR;
    }

    len = NGX_CMS_SPOOL_LINE_EXTRA + key->len + record->len;

    /*
     * Built where it will stay if it waits in memory; given back for
     * the next record when this one goes to the file.
     */

    rec = ngx_cms_redis_stream_room(s, len);
    if (rec == NULL) {
        s->lost++;
        ngx_cms_count(NGX_CMS_METRIC_STREAM_LOST, 1);
        return NGX_ERROR;
    }

    /* the line a spool file holds (lib/, fuzzed with its reader) */

    len = ngx_cms_spool_line_write(rec->line, s->seq + 1, maxlen, key->data,
                                   key->len, record->data, record->len, &sl);

    rec->len = len;
    rec->time = ngx_current_msec;

    f = &rec->fields;
    f->seq.data = (u_char *) sl.seq;
    f->seq.len = sl.seq_len;
    f->maxlen.data = (u_char *) sl.maxlen;
    f->maxlen.len = sl.maxlen_len;
    f->key.data = (u_char *) sl.key;
    f->key.len = sl.key_len;
    f->record.data = (u_char *) sl.record;
    f->record.len = sl.record_len;

    s->seq++;

    if (s->own && s->conf->spool_fallback) {
        oldest = ngx_queue_empty(&s->memory)
                 ? NULL
                 : ngx_queue_data(ngx_queue_head(&s->memory),
                                  ngx_cms_redis_record_t, queue);

        /*
         * memory while it is sent promptly; the file once it is not.
         * Memory goes after what the file still holds (the sender reads
         * the file first, a spill appends memory to it), so the file
         * drains even under a steady stream of new records.
         */

        if ((oldest == NULL
                || (s->memory_n < NGX_CMS_REDIS_STREAM_FALLBACK
                    && ngx_current_msec - oldest->time
                       <= s->conf->command_timeout))
            && ngx_cms_redis_stream_conn_ready())
        {
            goto memory;
        }

        (void) ngx_cms_redis_stream_spill(s);
    }

    if (s->own && ngx_queue_empty(&s->memory)) {

        max = s->conf->spool_max_size;

        if (max && ngx_cms_redis_spool_used(s->own) + (off_t) len > max) {
            if (!s->spool_broken) {
                s->spool_broken = 1;
                ngx_cms_redis_stream_error(s, NGX_LOG_ERR,
                                           "spool file \"%s\" reached "
                                           "max_size: records wait in memory",
                                           s->own->path);
            }

        } else if (ngx_cms_redis_spool_append(s->own, rec->line, len,
                                             s->log)
                   == NGX_OK)
        {
            if (s->spool_broken) {
                s->spool_broken = 0;
                ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                              "cms redis: spool file \"%s\" usable again",
                              s->own->path);
            }

            ngx_cms_redis_stream_recycle(s, rec);

            s->added++;
            ngx_cms_count(NGX_CMS_METRIC_STREAM_ADDED, 1);
            s->unsent++;
            ngx_cms_redis_stream_wake();

            return NGX_OK;

        } else if (!s->spool_broken) {
            s->spool_broken = 1;
            ngx_cms_redis_stream_error(s, NGX_LOG_ERR,
                                       "spool write failed: records wait "
                                       "in memory");
        }
    }

memory:

    if (s->memory_n >= NGX_CMS_REDIS_STREAM_MEMORY) {
        ngx_cms_redis_stream_recycle(s, rec);
        s->lost++;
        ngx_cms_count(NGX_CMS_METRIC_STREAM_LOST, 1);

        /* once per thousand, not once per record */

        if (s->lost % 1000 == 1) {
            ngx_log_error(NGX_LOG_ERR, s->log, 0,
                          "cms redis: stream records dropped, %ui waiting "
                          "in memory already (%ui lost so far)",
                          s->memory_n, s->lost);
        }

        return NGX_ERROR;
    }

    ngx_queue_insert_tail(&s->memory, &rec->queue);
    s->memory_n++;
    s->memory_bytes += len;
    s->added++;
    ngx_cms_count(NGX_CMS_METRIC_STREAM_ADDED, 1);
    s->unsent++;

    ngx_cms_redis_stream_wake();

    return NGX_OK;
}


/*
 * Records of usual size (an audit record is under 1 kB) get a room of
 * NGX_CMS_REDIS_STREAM_ROOM bytes, kept for reuse once confirmed: no
 * malloc() and free() per record under a steady stream.
 */

static ngx_cms_redis_record_t *
ngx_cms_redis_stream_room(ngx_cms_redis_stream_t *s, size_t len)
{
    ngx_queue_t             *q;
    ngx_cms_redis_record_t  *rec;

    if (len <= NGX_CMS_REDIS_STREAM_ROOM && !ngx_queue_empty(&s->rooms)) {
        q = ngx_queue_head(&s->rooms);
        ngx_queue_remove(q);
        s->rooms_n--;

        return ngx_queue_data(q, ngx_cms_redis_record_t, queue);
    }

    len = ngx_max(len, NGX_CMS_REDIS_STREAM_ROOM);

    rec = ngx_alloc(sizeof(ngx_cms_redis_record_t) + len, s->log);
    if (rec == NULL) {
        return NULL;
    }

    rec->size = len;

    return rec;
}


static void
ngx_cms_redis_stream_recycle(ngx_cms_redis_stream_t *s,
    ngx_cms_redis_record_t *rec)
{
    if (rec->size != NGX_CMS_REDIS_STREAM_ROOM
        || s->rooms_n >= NGX_CMS_REDIS_STREAM_ROOMS)
    {
        ngx_free(rec);
        return;
    }

    ngx_queue_insert_head(&s->rooms, &rec->queue);
    s->rooms_n++;
}


void
ngx_cms_redis_stream_wake(void)
{
    ngx_cms_redis_stream_t  *s;

    s = &ngx_cms_redis_stream;

    if (!s->running || s->busy || s->kick_ev.posted) {
        return;
    }

    /*
     * A few new records wait a moment for more: from some 13k records/s
     * on a batch is then full, and its cost (one script call, one
     * write(), one reply, an epoll wake-up) is shared by 128; at lower
     * rates records reach Redis at most 10 ms late.  A backlog (a
     * replay, a spool to drain) goes at once, from the event loop.
     */

    if (s->unsent < NGX_CMS_REDIS_STREAM_BATCH
        && ngx_queue_empty(&s->orphans))
    {
        if (!s->kick_ev.timer_set) {
            ngx_add_timer(&s->kick_ev, NGX_CMS_REDIS_STREAM_LINGER);
        }

        return;
    }

    if (s->kick_ev.timer_set) {
        ngx_del_timer(&s->kick_ev);
    }

    ngx_post_event(&s->kick_ev, &ngx_posted_events);
}


static void
ngx_cms_redis_stream_watch(ngx_uint_t available, void *data)
{
    if (available) {
        ngx_cms_redis_stream_ready();
    }
}


/* Redis is back: look for what dead processes left, then send */

static void
ngx_cms_redis_stream_ready(void)
{
    ngx_cms_redis_stream_t  *s;

    s = &ngx_cms_redis_stream;

    if (!s->running) {
        return;
    }

    if (s->conf->spool.len) {
        (void) ngx_cms_redis_spool_claim(&s->conf->spool, s->own,
                                         &s->orphans, s->log);
    }

    ngx_cms_redis_stream_wake();
}


static void
ngx_cms_redis_stream_kick_handler(ngx_event_t *ev)
{
    ngx_cms_redis_stream_send();
}


static void
ngx_cms_redis_stream_scan_handler(ngx_event_t *ev)
{
    ngx_cms_redis_stream_t  *s;

    s = &ngx_cms_redis_stream;

    if (!s->running || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (ngx_cms_redis_spool_claim(&s->conf->spool, s->own, &s->orphans,
                                  s->log))
    {
        ngx_cms_redis_stream_wake();
    }

    ngx_add_timer(&s->scan_ev, NGX_CMS_REDIS_SPOOL_SCAN);
}


static void
ngx_cms_redis_stream_send(void)
{
    ngx_int_t                rc;
    ngx_uint_t               n;
    ngx_cms_redis_spool_t   *spool;
    ngx_cms_redis_stream_t  *s;

    s = &ngx_cms_redis_stream;

    if (!s->running || s->busy || ngx_cms_redis_worker.exiting) {
        return;
    }

    if (!ngx_cms_redis_stream_conn_ready()) {
        if (s->own && s->conf->spool_fallback) {
            (void) ngx_cms_redis_stream_spill(s);
        }

        return;
    }

    if (s->retry_ev.timer_set) {
        ngx_del_timer(&s->retry_ev);
    }

    if (s->kick_ev.timer_set) {
        ngx_del_timer(&s->kick_ev);
    }

    for (n = 0; n < 64; n++) {

        if (!ngx_queue_empty(&s->orphans)) {
            spool = ngx_queue_data(ngx_queue_head(&s->orphans),
                                   ngx_cms_redis_spool_t, queue);

        } else if (s->own && s->own->cursor < s->own->size) {
            spool = s->own;

        } else {
            spool = NULL;
        }

        if (spool == NULL) {
            rc = ngx_queue_empty(&s->memory)
                 ? NGX_OK : ngx_cms_redis_stream_batch_memory(s);

        } else {
            rc = ngx_cms_redis_stream_batch_file(s, spool);

            if (rc == NGX_DONE && spool == s->own) {
                /* shorter than we thought: nothing more to read */
                s->own->size = s->own->cursor;
                continue;
            }

            if (rc == NGX_DONE) {
                /* an orphan replayed to its end */
                ngx_queue_remove(&spool->queue);
                ngx_cms_redis_spool_close(spool, s->log);
                s->replayed++;
                ngx_cms_count(NGX_CMS_METRIC_STREAM_REPLAYED, 1);
                continue;
            }
        }

        if (rc == NGX_AGAIN || rc == NGX_DONE) {
            continue;
        }

        if (rc == NGX_ERROR) {
            ngx_add_timer(&s->retry_ev, NGX_CMS_REDIS_STREAM_RETRY);
        }

        return;
    }

    /* much skipped in one go (corrupt lines): the rest on the next turn */
    ngx_cms_redis_stream_wake();
}


/*
 * NGX_OK: a batch is in flight; NGX_DONE: the file has nothing left;
 * NGX_AGAIN: only unusable lines were consumed; NGX_ERROR: retry later.
 */

static ngx_int_t
ngx_cms_redis_stream_batch_file(ngx_cms_redis_stream_t *s,
    ngx_cms_redis_spool_t *spool)
{
    u_char   *p, *end, *nl;
    size_t    size;
    ssize_t   n;
    ngx_uint_t  count;

    for ( ;; ) {
        n = ngx_cms_redis_spool_read(spool, s->buf, s->buf_size, s->log);

        if (n < 0) {
            ngx_cms_redis_stream_error(s, NGX_LOG_ERR,
                                       "cannot read spool file \"%s\"",
                                       spool->path);
            return NGX_ERROR;
        }

        if (n == 0) {
            return NGX_DONE;
        }

        p = s->buf;
        end = s->buf + n;
        count = 0;

        if (!spool->own && (spool->torn || *p == '\0')) {

            /* the hole of a replayed file: zeros, then a sent line's end */

            while (p < end && *p == '\0') {
                p++;
            }

            nl = (p < end) ? memchr(p, LF, end - p) : NULL;

            spool->torn = (nl == NULL);
            ngx_cms_redis_spool_consume(spool, (nl ? nl + 1 : end) - s->buf,
                                        s->log);
            return NGX_AGAIN;
        }

        while (count < NGX_CMS_REDIS_STREAM_BATCH && p < end) {
            nl = memchr(p, LF, end - p);
            if (nl == NULL) {
                break;
            }

            if (ngx_cms_redis_stream_parse(p, nl, &s->lines[count])
                == NGX_OK)
            {
                count++;

            } else {
                s->corrupt++;
                ngx_log_error(NGX_LOG_ERR, s->log, 0,
                              "cms redis: unusable line skipped in spool "
                              "file \"%s\" at offset %O",
                              spool->path, spool->cursor + (p - s->buf));
            }

            p = nl + 1;
        }

        if (p != s->buf) {
            break;
        }

        /* not one whole line in the buffer */

        if ((size_t) n < s->buf_size) {
            /* the file ends in a torn line: its writer died mid-write */
            s->corrupt++;
            ngx_log_error(NGX_LOG_ERR, s->log, 0,
                          "cms redis: incomplete last line skipped in "
                          "spool file \"%s\"", spool->path);
            ngx_cms_redis_spool_consume(spool, n, s->log);
            return NGX_AGAIN;
        }

        if (s->buf_size > NGX_CMS_REDIS_STREAM_MAX_RECORD + 4096) {
            s->corrupt++;
            ngx_log_error(NGX_LOG_ERR, s->log, 0,
                          "cms redis: overlong line skipped in spool file "
                          "\"%s\"", spool->path);
            ngx_cms_redis_spool_consume(spool, n, s->log);
            return NGX_AGAIN;
        }

        size = s->buf_size * 2;
        p = ngx_alloc(size, s->log);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_free(s->buf);
        s->buf = p;
        s->buf_size = size;
    }

    if (count == 0) {
        ngx_cms_redis_spool_consume(spool, p - s->buf, s->log);
        return NGX_AGAIN;
    }

    if (ngx_cms_redis_stream_call(s, count, spool->source, spool->source_len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    s->batch_spool = spool;
    s->batch_n = count;
    s->batch_bytes = p - s->buf;

    if (spool == s->own) {
        s->unsent -= ngx_min(s->unsent, count);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_cms_redis_stream_batch_memory(ngx_cms_redis_stream_t *s)
{
    ngx_uint_t               count;
    ngx_queue_t             *q;
    ngx_cms_redis_record_t  *rec;

    count = 0;

    for (q = ngx_queue_head(&s->memory);
         q != ngx_queue_sentinel(&s->memory)
         && count < NGX_CMS_REDIS_STREAM_BATCH;
         q = ngx_queue_next(q))
    {
        rec = ngx_queue_data(q, ngx_cms_redis_record_t, queue);
        s->lines[count++] = rec->fields;
    }

    if (count == 0
        || ngx_cms_redis_stream_call(s, count, s->source.data, s->source.len)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    s->batch_spool = NULL;
    s->batch_n = count;
    s->batch_bytes = 0;
    s->unsent -= ngx_min(s->unsent, count);

    return NGX_OK;
}


/*
 * The EVALSHA of a batch, written straight into one buffer (RESP): keys
 * are the seq key and each record's stream, arguments the source and
 * seq, maxlen, record of each.  No argv arrays, no pool: this runs for
 * every record sent.
 */

static ngx_int_t
ngx_cms_redis_stream_call(ngx_cms_redis_stream_t *s, ngx_uint_t n,
    u_char *source, size_t source_len)
{
    u_char                *cmd, *p, *nkeys;
    u_char                 digits[NGX_INT64_LEN];
    size_t                 size;
    ngx_str_t             *prefix;
    ngx_uint_t             i;
    ngx_cms_redis_line_t  *l;

    static u_char  seq_key[] = "cms:stream:seq:";

    prefix = &s->conf->prefix;

    size = 1 + NGX_INT64_LEN + 2
           + 3 * NGX_CMS_REDIS_BULK + sizeof("EVALSHA") - 1 + 40
           + NGX_INT64_LEN
           + NGX_CMS_REDIS_BULK + prefix->len + sizeof(seq_key) - 1
           + source_len
           + NGX_CMS_REDIS_BULK + source_len
           + 1;                                 /* NUL: see format_argv */

    for (i = 0; i < n; i++) {
        l = &s->lines[i];
        size += 4 * NGX_CMS_REDIS_BULK + prefix->len + l->key.len
                + l->seq.len + l->maxlen.len + l->record.len;
    }

    cmd = ngx_alloc(size, s->log);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    p = cmd;
    *p++ = '*';
    p = ngx_cms_redis_uint(p, 3 + (1 + n) + (1 + 3 * n));
    *p++ = CR; *p++ = LF;

    p = ngx_cms_redis_bulk(p, "EVALSHA", sizeof("EVALSHA") - 1);
    p = ngx_cms_redis_bulk(p, s->conf->stream_script->sha1, 40);

    nkeys = ngx_cms_redis_uint(digits, 1 + n);
    p = ngx_cms_redis_bulk(p, digits, (size_t) (nkeys - digits));

    /* keys */

    *p++ = '$';
    p = ngx_cms_redis_uint(p, prefix->len + sizeof(seq_key) - 1 + source_len);
    *p++ = CR; *p++ = LF;
    p = ngx_cpymem(p, prefix->data, prefix->len);
    p = ngx_cpymem(p, seq_key, sizeof(seq_key) - 1);
    p = ngx_cpymem(p, source, source_len);
    *p++ = CR; *p++ = LF;

    for (i = 0; i < n; i++) {
        l = &s->lines[i];

        *p++ = '$';
        p = ngx_cms_redis_uint(p, prefix->len + l->key.len);
        *p++ = CR; *p++ = LF;
        p = ngx_cpymem(p, prefix->data, prefix->len);
        p = ngx_cpymem(p, l->key.data, l->key.len);
        *p++ = CR; *p++ = LF;
    }

    /* arguments */

    p = ngx_cms_redis_bulk(p, source, source_len);

    for (i = 0; i < n; i++) {
        l = &s->lines[i];

        p = ngx_cms_redis_bulk(p, l->seq.data, l->seq.len);
        p = ngx_cms_redis_bulk(p, l->maxlen.data, l->maxlen.len);
        p = ngx_cms_redis_bulk(p, l->record.data, l->record.len);
    }

    *p = '\0';

    if (ngx_cms_redis_script_submit(s->conf->stream_script,
                                    ngx_cms_redis_stream_reply, s,
                                    (char *) cmd, p - cmd)
        != NGX_OK)
    {
        ngx_cms_redis_stream_error(s, NGX_LOG_ERR, "cannot send a batch");
        return NGX_ERROR;
    }

    s->busy = 1;
    s->replies = 1;
    s->script_ok = 0;
    s->added_now = 0;
    s->replicated = (s->conf->stream_replicas == 0);

    /*
     * Not sent (out of memory): the batch ends unconfirmed when the
     * script answers, and is sent again.
     */

    if (s->conf->stream_replicas
        && ngx_cms_redis_wait_submit(s->conf->stream_replicas,
                                     s->conf->stream_replicas_timeout,
                                     ngx_cms_redis_stream_wait_reply, s)
           == NGX_OK)
    {
        s->replies = 2;
    }

    return NGX_OK;
}


static void
ngx_cms_redis_stream_reply(ngx_cms_redis_reply_t *reply, ngx_str_t *error,
    void *data)
{
    ngx_cms_redis_stream_t  *s = data;

    static ngx_str_t  unexpected = ngx_string("unexpected reply");

    if (error == NULL && reply->type == REDIS_REPLY_INTEGER) {
        s->script_ok = 1;
        s->added_now = (reply->integer >= 0
                        && (ngx_uint_t) reply->integer <= s->batch_n)
                       ? (ngx_uint_t) reply->integer : s->batch_n;

    } else if (s->running && !ngx_cms_redis_worker.exiting) {
        s->errors++;

        if (reply) {
            ngx_cms_redis_stream_error(s, NGX_LOG_ERR, "XADD script: %V",
                                       error ? error : &unexpected);
        } else {
            /* the connection's own error is logged by the connection */
            ngx_cms_redis_stream_error(s, NGX_LOG_DEBUG, "batch not "
                                       "confirmed: %V", error);
        }
    }

    if (--s->replies == 0) {
        ngx_cms_redis_stream_done(s);
    }
}


/*
 * WAIT's answer: how many replicas have every write of the connection so
 * far.  It covers the batch only when the script answered first (a
 * script sent again as EVAL after NOSCRIPT runs behind it).
 */

static void
ngx_cms_redis_stream_wait_reply(ngx_cms_redis_reply_t *reply,
    ngx_str_t *error, void *data)
{
    ngx_cms_redis_stream_t  *s = data;

    ngx_uint_t  acked;

    static ngx_str_t  none = ngx_string("");

    acked = (error == NULL && reply->type == REDIS_REPLY_INTEGER
             && reply->integer > 0)
            ? (ngx_uint_t) reply->integer : 0;

    if (s->script_ok && s->replies == 1
        && acked >= s->conf->stream_replicas)
    {
        s->replicated = 1;

    } else if (s->script_ok && s->running
               && !ngx_cms_redis_worker.exiting)
    {
        s->unreplicated++;

        /* every second while a replica is gone: said once, then debug */

        ngx_cms_redis_stream_error(s,
            s->short_logged ? NGX_LOG_DEBUG : NGX_LOG_WARN,
            "batch of %ui records not confirmed by %ui replicas within "
            "%M ms (WAIT: %ui%s%V): kept, sent again", s->batch_n,
            s->conf->stream_replicas, s->conf->stream_replicas_timeout,
            acked, error ? ", " : "", error ? error : &none);

        s->short_logged = 1;
    }

    if (--s->replies == 0) {
        ngx_cms_redis_stream_done(s);
    }
}


/* every answer is in: the batch is delivered, or kept for a retry */

static void
ngx_cms_redis_stream_done(ngx_cms_redis_stream_t *s)
{
    ngx_uint_t               i;
    ngx_queue_t             *q;
    ngx_cms_redis_record_t  *rec;

    s->busy = 0;

    if (!s->running || ngx_cms_redis_worker.exiting) {
        /* the records stay in the spool for the next worker */
        return;
    }

    if (s->script_ok && s->replicated) {

        if (s->batch_spool) {
            ngx_cms_redis_spool_consume(s->batch_spool, s->batch_bytes,
                                        s->log);

        } else {
            for (i = 0; i < s->batch_n && !ngx_queue_empty(&s->memory); i++) {
                q = ngx_queue_head(&s->memory);
                ngx_queue_remove(q);
                rec = ngx_queue_data(q, ngx_cms_redis_record_t, queue);
                s->memory_bytes -= rec->len;
                ngx_cms_redis_stream_recycle(s, rec);
                s->memory_n--;
            }
        }

        if (s->short_logged) {
            s->short_logged = 0;
            ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                          "cms redis: stream: batches confirmed by %ui "
                          "replicas again", s->conf->stream_replicas);
        }

        s->confirmed += s->batch_n;
        ngx_cms_count(NGX_CMS_METRIC_STREAM_CONFIRMED, s->batch_n);
        s->duplicates += s->batch_n - s->added_now;
        s->batch_n = 0;
        s->batch_spool = NULL;

        ngx_cms_redis_stream_wake();
        return;
    }

    if (s->batch_spool == NULL || s->batch_spool == s->own) {
        s->unsent += s->batch_n;
    }

    s->batch_n = 0;
    s->batch_spool = NULL;

    /* not sent promptly: what waits in memory is safer in the file */

    if (s->own && s->conf->spool_fallback) {
        (void) ngx_cms_redis_stream_spill(s);
    }

    ngx_add_timer(&s->retry_ev, NGX_CMS_REDIS_STREAM_RETRY);
}


/*
 * mode=fallback: appends all of memory to our file, all or nothing, so
 * the file stays older than memory.  A batch in flight from memory was
 * sent while the file had nothing unconfirmed (files go first), and only
 * a spill appends to it since: those records are now the head of the
 * file, and the reply is to consume them there.
 */

static ngx_int_t
ngx_cms_redis_stream_spill(ngx_cms_redis_stream_t *s)
{
    off_t                    start, max, in_flight;
    ngx_uint_t               i;
    ngx_queue_t             *q;
    ngx_cms_redis_record_t  *rec;

    if (ngx_queue_empty(&s->memory)) {
        return NGX_OK;
    }

    max = s->conf->spool_max_size;

    if (max && ngx_cms_redis_spool_used(s->own) + s->memory_bytes > max) {
        if (!s->spool_broken) {
            s->spool_broken = 1;
            ngx_cms_redis_stream_error(s, NGX_LOG_ERR,
                                       "spool file \"%s\" reached "
                                       "max_size: records wait in memory",
                                       s->own->path);
        }

        return NGX_ERROR;
    }

    start = s->own->size;
    in_flight = 0;
    i = 0;

    for (q = ngx_queue_head(&s->memory);
         q != ngx_queue_sentinel(&s->memory);
         q = ngx_queue_next(q))
    {
        rec = ngx_queue_data(q, ngx_cms_redis_record_t, queue);

        if (ngx_cms_redis_spool_append(s->own, rec->line, rec->len, s->log)
            != NGX_OK)
        {
            (void) ftruncate(s->own->fd, start);
            s->own->size = start;

            if (!s->spool_broken) {
                s->spool_broken = 1;
                ngx_cms_redis_stream_error(s, NGX_LOG_ERR,
                                           "spool write failed: records "
                                           "wait in memory");
            }

            return NGX_ERROR;
        }

        if (++i == s->batch_n) {
            in_flight = s->own->size - start;
        }
    }

    if (s->busy && s->batch_spool == NULL) {
        s->batch_spool = s->own;
        s->batch_bytes = in_flight;
    }

    while (!ngx_queue_empty(&s->memory)) {
        q = ngx_queue_head(&s->memory);
        ngx_queue_remove(q);
        ngx_cms_redis_stream_recycle(s,
                         ngx_queue_data(q, ngx_cms_redis_record_t, queue));
    }

    s->memory_n = 0;
    s->memory_bytes = 0;

    if (s->spool_broken) {
        s->spool_broken = 0;
        ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                      "cms redis: spool file \"%s\" usable again",
                      s->own->path);
    }

    return NGX_OK;
}


/* "<seq> <maxlen> <key> <record>", end at the LF (lib/, fuzzed) */

static ngx_int_t
ngx_cms_redis_stream_parse(u_char *p, u_char *end, ngx_cms_redis_line_t *l)
{
    ngx_cms_spool_line_t  sl;

    if (ngx_cms_spool_line_parse(p, end, &sl) != 0) {
        return NGX_ERROR;
    }

    l->seq.data = (u_char *) sl.seq;
    l->seq.len = sl.seq_len;
    l->maxlen.data = (u_char *) sl.maxlen;
    l->maxlen.len = sl.maxlen_len;
    l->key.data = (u_char *) sl.key;
    l->key.len = sl.key_len;
    l->record.data = (u_char *) sl.record;
    l->record.len = sl.record_len;

    return NGX_OK;
}


static void
ngx_cms_redis_stream_error(ngx_cms_redis_stream_t *s, ngx_uint_t level,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(s->error, s->error + NGX_CMS_REDIS_ERRLEN, fmt, args);
    va_end(args);

    s->error_len = p - s->error;
    s->error_time = ngx_cms_redis_now();

    if (level == NGX_LOG_DEBUG) {
        ngx_log_debug2(NGX_LOG_DEBUG_EVENT, s->log, 0,
                       "cms redis: stream: %*s", s->error_len, s->error);
        return;
    }

    ngx_log_error(level, s->log, 0, "cms redis: stream: %*s",
                  s->error_len, s->error);
}


ngx_int_t
ngx_cms_redis_stream_key_valid(ngx_str_t *key)
{
    ngx_uint_t  i;

    if (key->len == 0 || key->len > 512) {
        return NGX_ERROR;
    }

    for (i = 0; i < key->len; i++) {
        if (key->data[i] <= ' ' || key->data[i] == 0x7f) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


void
ngx_cms_redis_stream_status(ngx_cms_json_t *j)
{
    off_t                    pending;
    ngx_uint_t               orphans;
    ngx_queue_t             *q;
    ngx_cms_redis_spool_t   *spool;
    ngx_cms_redis_stream_t  *s;

    s = &ngx_cms_redis_stream;

    if (!s->running) {
        ngx_cms_json_raw(j, "null", 4);
        return;
    }

    pending = s->own ? s->own->size - s->own->cursor : 0;
    orphans = 0;

    for (q = ngx_queue_head(&s->orphans);
         q != ngx_queue_sentinel(&s->orphans);
         q = ngx_queue_next(q))
    {
        spool = ngx_queue_data(q, ngx_cms_redis_spool_t, queue);
        pending += spool->size - spool->cursor;
        orphans++;
    }

    ngx_cms_json_printf(j, "{\"spool\":");

    if (s->conf->spool.len) {
        ngx_cms_json_string(j, s->conf->spool.data,
                            s->conf->spool.len);
    } else {
        ngx_cms_json_printf(j, "null");
    }

    ngx_cms_json_printf(j, ",\"spool_file\":");

    if (s->own) {
        ngx_cms_json_string(j, s->own->path,
                            ngx_strlen(s->own->path));
    } else {
        ngx_cms_json_printf(j, "null");
    }

    ngx_cms_json_printf(j, ",\"mode\":\"%s\",\"spool_freed_bytes\":%O",
                        s->conf->spool.len == 0 ? "memory"
                        : s->conf->spool_fallback ? "fallback" : "always",
                        s->own ? s->own->freed : 0);

    ngx_cms_json_printf(j,
                        ",\"spooled_bytes\":%O,\"memory\":%ui,\"in_flight\":%ui"
                        ",\"idle\":%s,\"added\":%ui,\"confirmed\":%ui"
                        ",\"duplicates\":%ui,\"lost\":%ui,\"corrupt\":%ui"
                        ",\"errors\":%ui,\"orphans\":%ui,\"replayed_files\":%ui"
                        ",\"replicas\":%ui,\"unreplicated\":%ui"
                        ",\"last_error\":",
                        pending, s->memory_n, s->busy ? s->batch_n : 0,
                        (pending == 0 && s->memory_n == 0 && !s->busy
                         && orphans == 0) ? "true" : "false",
                        s->added, s->confirmed, s->duplicates, s->lost,
                        s->corrupt, s->errors, orphans, s->replayed,
                        s->conf->stream_replicas, s->unreplicated);

    if (s->error_len) {
        ngx_cms_json_string(j, s->error, s->error_len);
    } else {
        ngx_cms_json_printf(j, "null");
    }

    ngx_cms_json_raw(j, "}", 1);
}


/* the stream is there for the API even without "cms_redis_stream" */

ngx_int_t
ngx_cms_redis_stream_configure(ngx_conf_t *cf,
    ngx_cms_redis_main_conf_t *rmcf)
{
    rmcf->stream_script = ngx_cms_redis_script_add(cf,
                                                   &ngx_cms_redis_stream_lua);

    return rmcf->stream_script ? NGX_OK : NGX_ERROR;
}
