
/*
 * ngx_cms audit plugin: one JSON line for every API call of a location
 * where "audit" is enabled, and one for every event.
 *
 *   cms_audit_log <path> [scope=writes|all] [buffer=<size>] [flush=<time>];
 *   cms_audit_log off;
 *   cms_audit_stream <key> [maxlen=<n>];
 *   cms_audit_stream off;
 *
 * Files are nginx's own open files (ngx_conf_open_file()): the master
 * opens them, "nginx -s reopen" reopens them, a reload opens them anew
 * while old workers finish on the old descriptors of the same files.
 *
 * Crash safety before speed: by default each record is one write() with
 * O_APPEND, as nginx's unbuffered access_log does, so a record is in the
 * kernel the moment its request is logged and a worker killed with -9
 * loses nothing it had logged.  With buffer= records wait in the worker's
 * memory for at most flush= (a cancelable timer), a full buffer, a
 * reopen or the worker's exit; a kill -9 loses what was waiting.
 *
 * With cms_audit_stream every record the file gets also goes to a Redis
 * stream, through the Redis client's reliable stream: spooled to disk
 * first when a spool is configured, sent in order, never twice, never
 * waiting for Redis (ngx_cms_redis.h).
 */


#include "ngx_cms_audit.h"
#include "ngx_cms_metrics.h"

#include "ngx_cms_redis.h"


#define NGX_CMS_AUDIT_SCOPE_WRITES   0
#define NGX_CMS_AUDIT_SCOPE_ALL      1

#define NGX_CMS_AUDIT_FLUSH_DEFAULT  1000

/* a record is about 1 KB: written on the stack, longer ones in the pool */
#define NGX_CMS_AUDIT_RECORD_BUF     4096

/* as the Redis client's own cms_redis_stream */
#define NGX_CMS_AUDIT_STREAM_MAXLEN  100000
#define NGX_CMS_AUDIT_STREAM_KEY_MAX 512


typedef struct {
    ngx_cms_audit_file_t       *file;      /* NULL: no audit log */
    ngx_uint_t                  scope;
    ngx_str_t                   stream;    /* the stream key; empty: none */
    ngx_uint_t                  stream_maxlen;
    unsigned                    set:1;     /* the directive is here */
    unsigned                    off:1;     /* "cms_audit_log off" */
    unsigned                    stream_set:1;
} ngx_cms_audit_loc_conf_t;


typedef struct {
    ngx_array_t                 files;     /* of ngx_cms_audit_file_t * */
    ngx_int_t                   request_id;
    ngx_cms_audit_loc_conf_t   *http;      /* the http{} level: events */
    u_char                     *stream_file; /* the first cms_audit_stream */
    ngx_uint_t                  stream_line;
} ngx_cms_audit_main_conf_t;


static void ngx_cms_audit_log(ngx_cms_call_t *call);
static void ngx_cms_audit_event(ngx_cms_event_t *ev);
static void ngx_cms_audit_facts(ngx_http_request_t *r, ngx_cms_call_t *call,
    ngx_cms_audit_facts_t *f);
static void ngx_cms_audit_stream(ngx_cms_audit_loc_conf_t *alcf,
    ngx_str_t *rec, ngx_log_t *log);

static void ngx_cms_audit_write(ngx_cms_audit_file_t *af, u_char *buf,
    size_t len, ngx_log_t *log);
static void ngx_cms_audit_buffer_flush(ngx_cms_audit_file_t *af,
    ngx_log_t *log);
static void ngx_cms_audit_file_flush(ngx_open_file_t *file, ngx_log_t *log);
static void ngx_cms_audit_flush_handler(ngx_event_t *ev);

static char *ngx_cms_audit_log_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_cms_audit_stream_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_cms_audit_file_t *ngx_cms_audit_file(ngx_conf_t *cf,
    ngx_str_t *name, size_t size, size_t ring, ngx_msec_t flush);
static void *ngx_cms_audit_create_main_conf(ngx_conf_t *cf);
static void *ngx_cms_audit_create_loc_conf(ngx_conf_t *cf);
static char *ngx_cms_audit_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_cms_audit_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_cms_audit_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_cms_audit_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_cms_audit_init_process(ngx_cycle_t *cycle);
static void ngx_cms_audit_file_protect(ngx_cms_audit_file_t *af,
    ngx_log_t *log);


static ngx_command_t  ngx_cms_audit_commands[] = {

    { ngx_string("cms_audit_log"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_cms_audit_log_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_audit_stream"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_cms_audit_stream_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_cms_audit_module_ctx = {
    ngx_cms_audit_preconfiguration,        /* preconfiguration */
    ngx_cms_audit_postconfiguration,       /* postconfiguration */

    ngx_cms_audit_create_main_conf,        /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_cms_audit_create_loc_conf,         /* create location configuration */
    ngx_cms_audit_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_cms_audit_module = {
    NGX_MODULE_V1,
    &ngx_cms_audit_module_ctx,             /* module context */
    ngx_cms_audit_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_cms_audit_init_module,             /* init module */
    ngx_cms_audit_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/*
 * The outermost layer: its log hook runs last (hooks unwind in reverse),
 * so the record sees what every other plugin decided and noted.  It
 * needs no request or response hook: nothing it writes depends on the
 * body of an answer.
 */

static ngx_cms_plugin_t  ngx_cms_audit_plugin = {
    NGX_CMS_PLUGIN_ABI_VERSION,
    ngx_string("audit"),
    10000,
    NULL,
    NULL,
    ngx_cms_audit_log,
    ngx_cms_audit_event,
    0,
    NULL
};


static ngx_uint_t  ngx_cms_audit_warned;


/* hooks */

static void
ngx_cms_audit_log(ngx_cms_call_t *call)
{
    u_char                     buf[NGX_CMS_AUDIT_RECORD_BUF];
    ngx_str_t                  rec;
    ngx_log_t                 *log;
    ngx_http_request_t        *r;
    ngx_cms_audit_facts_t      facts;
    ngx_cms_audit_loc_conf_t  *alcf;

    r = ngx_cms_call_request(call);
    log = r->connection->log;

    alcf = ngx_http_get_module_loc_conf(r, ngx_cms_audit_module);

    if (alcf->file == NULL) {
        if (!alcf->off && !ngx_cms_audit_warned) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "cms: the audit plugin is enabled in a location "
                          "without \"cms_audit_log\": nothing is audited");
            ngx_cms_audit_warned = 1;
        }

        return;
    }

    /* a read a report-only policy rule would have refused counts as one
     * refused */

    if (alcf->scope == NGX_CMS_AUDIT_SCOPE_WRITES
        && !ngx_cms_call_num(call, NGX_CMS_CALL_WRITE)
        && ngx_cms_call_num(call, NGX_CMS_CALL_VERDICT) != NGX_CMS_VERDICT_DENY
        && ngx_cms_note_get(call, "would_deny") == NULL)
    {
        return;
    }

    ngx_memzero(&facts, sizeof(ngx_cms_audit_facts_t));

    ngx_cms_audit_facts(r, call, &facts);
    ngx_cms_audit_story_facts(call, &facts);

    if (ngx_cms_audit_call_record(r->pool, buf, sizeof(buf), call, &facts,
                                  &rec)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_CRIT, log, 0,
                      "cms: no memory for the audit record of %V %V",
                      ngx_cms_call_str(call, NGX_CMS_CALL_METHOD),
                      ngx_cms_call_str(call, NGX_CMS_CALL_PATH));
        return;
    }

    /* the record is built once: the stream gets the bytes the file gets */

    if (alcf->stream.len) {
        ngx_cms_audit_stream(alcf, &rec, log);
    }

    rec.data[rec.len] = '\n';
    ngx_cms_audit_write(alcf->file, rec.data, rec.len + 1, log);
}


static void
ngx_cms_audit_facts(ngx_http_request_t *r, ngx_cms_call_t *call,
    ngx_cms_audit_facts_t *f)
{
    ngx_time_t                 *tp;
    ngx_msec_int_t              ms;
    ngx_http_variable_value_t  *vv;
    ngx_cms_audit_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_cms_audit_module);

    /*
     * $cms_request_id, the id the access log can write too: made once
     * per request and cached (not $request_id: see ngx_cms_request_id.c)
     */

    vv = ngx_http_get_indexed_variable(r, amcf->request_id);

    if (vv && !vv->not_found) {
        f->request_id.data = vv->data;
        f->request_id.len = vv->len;
    }

    tp = ngx_timeofday();

    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));

    f->duration_ms = ngx_max(ms, 0);
}


/*
 * The Redis sink: the record goes to the reliable stream, which has it
 * in this worker's spool file (or memory) before it returns and sends it
 * later; nothing here waits for Redis.  A record it refuses is counted
 * and logged by the Redis client.
 */

static void
ngx_cms_audit_stream(ngx_cms_audit_loc_conf_t *alcf, ngx_str_t *rec,
    ngx_log_t *log)
{

    ngx_int_t  rc;

    static ngx_uint_t  busy, warned;

    /*
     * An event emitted from inside the Redis client would come back here
     * through the event hook: it goes to the file only, rather than
     * into a stream that is in the middle of adding.
     */

    if (busy) {
        return;
    }

    busy = 1;
    rc = ngx_cms_redis_stream_add(&alcf->stream, alcf->stream_maxlen, rec);
    busy = 0;

    if (rc == NGX_DECLINED && !warned) {
        warned = 1;
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "cms: the Redis client is not running in this "
                      "process: audit records do not go to the stream "
                      "\"%V\", only to the file", &alcf->stream);
    }

}


/*
 * Events (failover, slots, Redis) are not tied to a request: they go to
 * the http{} level cms_audit_log, whatever its scope.
 */

static void
ngx_cms_audit_event(ngx_cms_event_t *ev)
{
    u_char                      buf[NGX_CMS_AUDIT_RECORD_BUF];
    ngx_str_t                   rec;
    ngx_log_t                  *log;
    ngx_cms_audit_file_t       *af;
    ngx_cms_audit_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_cms_audit_module);

    if (amcf == NULL || amcf->http == NULL || amcf->http->file == NULL) {
        return;
    }

    af = amcf->http->file;

    if (af->file->fd == NGX_INVALID_FILE) {
        /* emitted while the configuration is read: nothing is open yet */
        return;
    }

    log = ev->log ? ev->log : ngx_cycle->log;

    if (ngx_cms_audit_event_record(buf, sizeof(buf), ev, log, &rec)
        != NGX_OK)
    {
        return;
    }

    /*
     * Only workers flush buffers (timer, reopen, exit) and send to
     * Redis: anywhere else the record goes straight to the file.
     */

    if (ngx_process == NGX_PROCESS_WORKER
        || ngx_process == NGX_PROCESS_SINGLE)
    {
        if (amcf->http->stream.len) {
            ngx_cms_audit_stream(amcf->http, &rec, log);
        }

        rec.data[rec.len] = '\n';
        ngx_cms_audit_write(af, rec.data, rec.len + 1, log);

    } else {
        rec.data[rec.len] = '\n';
        ngx_cms_audit_write_fd(af, rec.data, rec.len + 1, log);
    }

    if (rec.data != buf) {
        ngx_free(rec.data);
    }
}


/* the file sink */

static void
ngx_cms_audit_write(ngx_cms_audit_file_t *af, u_char *buf, size_t len,
    ngx_log_t *log)
{
    ngx_cms_count(NGX_CMS_METRIC_AUDIT_RECORDS, 1);

    if (af->ring) {
        ngx_cms_audit_ring_add(af->ring, buf, len, log);
        return;
    }

    if (af->start == NULL) {
        ngx_cms_audit_write_fd(af, buf, len, log);
        return;
    }

    if (len > (size_t) (af->last - af->pos)) {
        ngx_cms_audit_buffer_flush(af, log);
    }

    if (len > (size_t) (af->last - af->pos)) {
        /* larger than the whole buffer: the buffer is empty by now */
        ngx_cms_audit_write_fd(af, buf, len, log);
        return;
    }

    if (af->pos == af->start && af->event && !af->event->timer_set) {
        ngx_add_timer(af->event, af->flush);
    }

    af->pos = ngx_cpymem(af->pos, buf, len);
}


void
ngx_cms_audit_write_fd(ngx_cms_audit_file_t *af, u_char *buf, size_t len,
    ngx_log_t *log)
{
    time_t     now;
    ssize_t    n;
    ngx_err_t  err;

    if (af->file->fd != af->protected_fd) {
        ngx_cms_audit_file_protect(af, log);
    }

    n = ngx_write_fd(af->file->fd, buf, len);

    if (n == (ssize_t) len) {
        return;
    }

    ngx_cms_count(NGX_CMS_METRIC_AUDIT_FILE_ERRORS, 1);

    err = (n == -1) ? ngx_errno : 0;

    /* a full disk must not flood the error log: once a minute at most */

    now = ngx_time();

    if (now - af->error_log_time < 60) {
        return;
    }

    af->error_log_time = now;

    if (n == -1) {
        ngx_log_error(NGX_LOG_CRIT, log, err,
                      "cms: audit records lost: " ngx_write_fd_n
                      " to \"%V\" failed", &af->file->name);
        return;
    }

    ngx_log_error(NGX_LOG_CRIT, log, 0,
                  "cms: audit record cut: " ngx_write_fd_n
                  " to \"%V\" was incomplete: %z of %uz",
                  &af->file->name, n, len);
}


static void
ngx_cms_audit_buffer_flush(ngx_cms_audit_file_t *af, ngx_log_t *log)
{
    size_t  len;

    len = af->pos - af->start;

    if (len) {
        ngx_cms_audit_write_fd(af, af->start, len, log);
        af->pos = af->start;
    }

    if (af->event && af->event->timer_set) {
        ngx_del_timer(af->event);
    }
}


/*
 * nginx calls open_file->flush before it reopens the file (USR1) and
 * when a worker exits (ngx_conf_module's exit_process), so buffered
 * records reach the file they were meant for.
 *
 * open_file->data is left alone: other modules' logs opened on the same
 * path read it as their own buffer.  The file is found by its address in
 * the cycle the flush runs in.
 */

static void
ngx_cms_audit_file_flush(ngx_open_file_t *file, ngx_log_t *log)
{
    ngx_uint_t                  i;
    ngx_cms_audit_file_t      **af;
    ngx_cms_audit_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_cms_audit_module);
    if (amcf == NULL) {
        return;
    }

    af = amcf->files.elts;

    for (i = 0; i < amcf->files.nelts; i++) {
        if (af[i]->file != file) {
            continue;
        }

        if (af[i]->start) {
            ngx_cms_audit_buffer_flush(af[i], log);
        }

        if (af[i]->ring) {
            ngx_cms_audit_ring_flush(af[i]->ring, log);
        }
    }
}


static void
ngx_cms_audit_flush_handler(ngx_event_t *ev)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "cms audit buffer flush handler");

    ngx_cms_audit_buffer_flush(ev->data, ev->log);
}


/* configuration */

static char *
ngx_cms_audit_log_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_audit_loc_conf_t  *alcf = conf;

    size_t       size, ring;
    ngx_str_t   *value, s;
    ngx_uint_t   i, scope;
    ngx_msec_t   flush;

    if (alcf->set) {
        return "is duplicate";
    }

    alcf->set = 1;

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"cms_audit_log off\" takes no parameters, "
                               "not \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        alcf->off = 1;
        return NGX_CONF_OK;
    }

    if (value[1].len == 0) {
        return "needs a file name";
    }

    if (ngx_strncmp(value[1].data, "syslog:", 7) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cms_audit_log\" writes files, not syslog: "
                           "\"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_strlchr(value[1].data, value[1].data + value[1].len, '$')) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cms_audit_log\" takes no variables in the "
                           "file name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    scope = NGX_CMS_AUDIT_SCOPE_WRITES;
    size = 0;
    ring = 0;
    flush = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "scope=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            if (s.len == 6 && ngx_strncmp(s.data, "writes", 6) == 0) {
                scope = NGX_CMS_AUDIT_SCOPE_WRITES;

            } else if (s.len == 3 && ngx_strncmp(s.data, "all", 3) == 0) {
                scope = NGX_CMS_AUDIT_SCOPE_ALL;

            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"cms_audit_log\": invalid scope \"%V\", "
                                   "use \"writes\" or \"all\"", &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "buffer=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            size = ngx_parse_size(&s);

            if (size == (size_t) NGX_ERROR || size == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"cms_audit_log\": invalid buffer size "
                                   "\"%V\"", &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "ring=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            ring = ngx_parse_size(&s);

            if (ring == (size_t) NGX_ERROR
                || ring < NGX_CMS_AUDIT_RING_MIN)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"cms_audit_log\": invalid ring size "
                                   "\"%V\", at least %uzk",
                                   &s, (size_t) NGX_CMS_AUDIT_RING_MIN / 1024);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "flush=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            flush = ngx_parse_time(&s, 0);

            if (flush == (ngx_msec_t) NGX_ERROR || flush == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"cms_audit_log\": invalid flush time "
                                   "\"%V\"", &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cms_audit_log\": invalid parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (size && ring) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cms_audit_log\": \"buffer=\" or \"ring=\" "
                           "for \"%V\", not both", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (flush && size == 0 && ring == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cms_audit_log\": \"flush=\" needs \"buffer=\" "
                           "or \"ring=\" for \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    /*
     * A buffer never holds records longer than a second unless told; a
     * ring is written at the end of each event-loop pass unless told.
     */

    if (size && flush == 0) {
        flush = NGX_CMS_AUDIT_FLUSH_DEFAULT;
    }

    alcf->file = ngx_cms_audit_file(cf, &value[1], size, ring, flush);
    if (alcf->file == NULL) {
        return NGX_CONF_ERROR;
    }

    alcf->scope = scope;

    return NGX_CONF_OK;
}


/*
 * cms_audit_stream <key> [maxlen=<n>] | off: the records of the file go
 * to the Redis stream <prefix><key> too, capped at about maxlen entries
 * (XADD MAXLEN ~; 0: no cap).
 */

static char *
ngx_cms_audit_stream_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_audit_loc_conf_t  *alcf = conf;

    ngx_str_t                  *value;
    u_char                     *p;
    ngx_int_t                   n;
    ngx_cms_audit_main_conf_t  *amcf;

    if (alcf->stream_set) {
        return "is duplicate";
    }

    alcf->stream_set = 1;

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no parameters after \"off\"";
        }

        return NGX_CONF_OK;
    }


    /* the Redis client's rule for stream keys: it refuses other keys */

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (*p <= ' ' || *p == 0x7f) {
            break;
        }
    }

    if (value[1].len == 0 || value[1].len > NGX_CMS_AUDIT_STREAM_KEY_MAX
        || p != value[1].data + value[1].len)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid stream key \"%V\" in "
                           "\"cms_audit_stream\": 1 to %d bytes, no white "
                           "space", &value[1], NGX_CMS_AUDIT_STREAM_KEY_MAX);
        return NGX_CONF_ERROR;
    }

    alcf->stream = value[1];
    alcf->stream_maxlen = NGX_CMS_AUDIT_STREAM_MAXLEN;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "maxlen=", 7) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"cms_audit_stream\": invalid parameter "
                               "\"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        n = ngx_atoi(value[2].data + 7, value[2].len - 7);
        if (n == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"cms_audit_stream\": invalid \"%V\": a "
                               "number, 0 for no cap", &value[2]);
            return NGX_CONF_ERROR;
        }

        alcf->stream_maxlen = n;
    }

    /* for the check that Redis is configured, once http{} is read */

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_cms_audit_module);

    if (amcf->stream_file == NULL) {
        amcf->stream_file = cf->conf_file->file.name.data;
        amcf->stream_line = cf->conf_file->line;
    }

    return NGX_CONF_OK;

}


static ngx_cms_audit_file_t *
ngx_cms_audit_file(ngx_conf_t *cf, ngx_str_t *name, size_t size, size_t ring,
    ngx_msec_t flush)
{
    ngx_uint_t                  i;
    ngx_open_file_t            *file;
    ngx_cms_audit_file_t       *af, **afp;
    ngx_cms_audit_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_cms_audit_module);

    file = ngx_conf_open_file(cf->cycle, name);
    if (file == NULL) {
        return NULL;
    }

    afp = amcf->files.elts;

    for (i = 0; i < amcf->files.nelts; i++) {
        if (afp[i]->file != file) {
            continue;
        }

        /* one file, one buffer: every directive must agree on it */

        if (afp[i]->size != size || afp[i]->flush != flush
            || afp[i]->ring_size != ring)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"cms_audit_log\" \"%V\" already defined "
                               "with other buffer=, ring= or flush= "
                               "parameters", name);
            return NULL;
        }

        return afp[i];
    }

    /*
     * Another buffered log on this path (an access_log with buffer=)
     * owns file->flush already: taking it would leave that log's buffer
     * unflushed on reopen and exit.  The reverse order is caught in
     * ngx_cms_audit_init_module().
     */

    if ((size || ring) && (file->flush || file->data)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cms_audit_log\" \"%V\" with buffer= or ring= "
                           "shares its file with another buffered log", name);
        return NULL;
    }

    af = ngx_pcalloc(cf->pool, sizeof(ngx_cms_audit_file_t));
    if (af == NULL) {
        return NULL;
    }

    af->file = file;
    af->size = size;
    af->flush = flush;

    if (size) {
        af->start = ngx_pnalloc(cf->pool, size);
        if (af->start == NULL) {
            return NULL;
        }

        af->pos = af->start;
        af->last = af->start + size;

        af->event = ngx_pcalloc(cf->pool, sizeof(ngx_event_t));
        if (af->event == NULL) {
            return NULL;
        }

        af->event->data = af;
        af->event->handler = ngx_cms_audit_flush_handler;
        af->event->log = &cf->cycle->new_log;
        af->event->cancelable = 1;

        file->flush = ngx_cms_audit_file_flush;
    }

    if (ring) {
        af->ring_size = ring;

        af->ring = ngx_cms_audit_ring_create(cf, af, ring, flush);
        if (af->ring == NULL) {
            return NULL;
        }

        file->flush = ngx_cms_audit_file_flush;
    }

    afp = ngx_array_push(&amcf->files);
    if (afp == NULL) {
        return NULL;
    }

    *afp = af;

    return af;
}


static void *
ngx_cms_audit_create_main_conf(ngx_conf_t *cf)
{
    ngx_cms_audit_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_cms_audit_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&amcf->files, cf->pool, 4,
                       sizeof(ngx_cms_audit_file_t *))
        != NGX_OK)
    {
        return NULL;
    }

    amcf->request_id = NGX_ERROR;

    return amcf;
}


static void *
ngx_cms_audit_create_loc_conf(ngx_conf_t *cf)
{
    ngx_cms_audit_loc_conf_t  *alcf;

    alcf = ngx_pcalloc(cf->pool, sizeof(ngx_cms_audit_loc_conf_t));
    if (alcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     alcf->file = NULL;
     *     alcf->scope = NGX_CMS_AUDIT_SCOPE_WRITES;
     *     alcf->stream = { 0, NULL };
     *     alcf->stream_maxlen = 0;
     *     alcf->set = 0;
     *     alcf->off = 0;
     *     alcf->stream_set = 0;
     */

    return alcf;
}


static char *
ngx_cms_audit_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_cms_audit_loc_conf_t  *prev = parent;
    ngx_cms_audit_loc_conf_t  *conf = child;

    /* each directive replaces the one above it entirely, or inherits it */

    if (!conf->stream_set) {
        conf->stream = prev->stream;
        conf->stream_maxlen = prev->stream_maxlen;
    }

    if (conf->set) {
        return NGX_CONF_OK;
    }

    conf->file = prev->file;
    conf->scope = prev->scope;
    conf->off = prev->off;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_cms_audit_preconfiguration(ngx_conf_t *cf)
{
    return ngx_cms_plugin_register(cf, &ngx_cms_audit_plugin);
}


static ngx_int_t
ngx_cms_audit_postconfiguration(ngx_conf_t *cf)
{
    ngx_cms_audit_main_conf_t  *amcf;

    static ngx_str_t  request_id = ngx_string("cms_request_id");

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_cms_audit_module);

    amcf->http = ngx_http_conf_get_module_loc_conf(cf, ngx_cms_audit_module);

    amcf->request_id = ngx_http_get_variable_index(cf, &request_id);
    if (amcf->request_id == NGX_ERROR) {
        return NGX_ERROR;
    }


    if (amcf->stream_file && !ngx_cms_redis_configured(cf)) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"cms_audit_stream\" in %s:%ui needs \"cms_redis\" "
                      "or \"cms_redis_sentinel\" in http{}",
                      amcf->stream_file, amcf->stream_line);
        return NGX_ERROR;
    }


    return NGX_OK;
}


/*
 * After the whole configuration: a buffered audit file whose flush
 * callback another module took over (a buffered access_log on the same
 * path) would never be flushed on reopen or exit.
 */

static ngx_int_t
ngx_cms_audit_init_module(ngx_cycle_t *cycle)
{
    ngx_uint_t                  i;
    ngx_cms_audit_file_t      **af;
    ngx_cms_audit_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_cms_audit_module);
    if (amcf == NULL) {
        return NGX_OK;
    }

    af = amcf->files.elts;

    for (i = 0; i < amcf->files.nelts; i++) {
        if ((af[i]->start || af[i]->ring)
            && af[i]->file->flush != ngx_cms_audit_file_flush)
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "\"cms_audit_log\" \"%V\" with buffer= or ring= "
                          "shares its file with another buffered log",
                          &af[i]->file->name);
            return NGX_ERROR;
        }

        ngx_cms_audit_file_protect(af[i], cycle->log);
    }

    return NGX_OK;
}


/*
 * A worker started in the place of one killed with -9 (or the first ones
 * after a reload) writes what the rings still hold at once: the records
 * of a worker that died are not left for the next request.
 */

static ngx_int_t
ngx_cms_audit_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                  i;
    ngx_cms_audit_file_t      **af;
    ngx_cms_audit_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_cms_audit_module);
    if (amcf == NULL) {
        return NGX_OK;
    }

    af = amcf->files.elts;

    for (i = 0; i < amcf->files.nelts; i++) {
        if (af[i]->ring) {
            ngx_cms_audit_ring_flush(af[i]->ring, cycle->log);
        }
    }

    return NGX_OK;
}


/*
 * Who met whom, and when, is not for every local user: nginx creates its
 * log files 0644, so the audit file loses its "other" bits, here in the
 * master (which owns a new file) and again in the worker whenever the
 * descriptor changes (a reopen: the file is the workers' user's then).
 */

static void
ngx_cms_audit_file_protect(ngx_cms_audit_file_t *af, ngx_log_t *log)
{
    ngx_file_info_t  fi;

    af->protected_fd = af->file->fd;

    if (af->file->fd == NGX_INVALID_FILE
        || ngx_fd_info(af->file->fd, &fi) == NGX_FILE_ERROR
        || (fi.st_mode & S_IRWXO) == 0)
    {
        return;
    }

    if (fchmod(af->file->fd, fi.st_mode & 07770) == -1) {
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                      "cms: cannot make the audit file \"%V\" unreadable "
                      "to others", &af->file->name);
    }
}
