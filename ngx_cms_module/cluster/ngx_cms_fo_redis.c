
/*
 * ngx_cms: the failover state agreed through Redis.
 *
 * With "cms_redis" configured, the active bridge and its epoch of every
 * upstream also live in the Redis hash <prefix>failover:<upstream>, and
 * are changed only by a Lua script that refuses a change decided on a
 * stale epoch.  The script publishes every change on the channel of the
 * same name inside the same atomic step, and every worker of every
 * instance subscribes to it, so all proxies switch at once; the first
 * worker of an instance to see a change applies it to the instance's
 * zone (the others find the epoch already there).
 *
 *   a proposal    CHANGE: wins unless Redis has a newer epoch than the
 *                 one it was decided on; the loser adopts Redis's state
 *   (re)connect   SYNC: whichever of Redis and the zone has the higher
 *   and every     epoch wins (an equal epoch with another bridge: Redis);
 *   second        pub/sub keeps nothing for a subscriber that is not
 *                 there yet, so the worker that runs the health checks
 *                 also syncs every second
 *   Redis down    proposals are applied to the zone alone, as without
 *                 Redis, and SYNC reconciles when it is back
 *
 * The call map (ngx_cms_affinity.c) is shared too: what an instance
 * learns that is new to it goes into the hash <prefix>calls:<upstream>
 * (id -> "bridge time") and onto the channel of that name, and a starting
 * instance loads the hash (entries older than a day are dropped then).
 *
 * Health is not shared: each instance checks the bridges itself, and
 * whoever notices first decides for all.  The change is announced to the
 * plugins' event hooks by the instance where it was decided only
 * ("origin"), so an audit stream shared in Redis records it once.
 */


#include "ngx_cms_failover.h"
#include "ngx_cms_fo_redis.h"
#include "ngx_cms_redis.h"


#define NGX_CMS_FO_REDIS_FIELDS  8
#define NGX_CMS_FO_REDIS_RESYNC  1000
#define NGX_CMS_FO_REDIS_CALL_TTL  86400


/* KEYS[1] state; ARGV: base epoch, to, manual, at, origin, by, why,
 * channel, the current active bridge (a "from" when Redis has none) */

static ngx_str_t  ngx_cms_fo_redis_change_lua = ngx_string(
    "local k = KEYS[1]\n"
    "local cur = tonumber(redis.call('HGET', k, 'epoch') or '-1')\n"
    "local f = {'epoch', 'active', 'manual', 'at', 'origin', 'from',\n"
    "           'by', 'why'}\n"
    "if cur > tonumber(ARGV[1]) then\n"
    "  local s = redis.call('HMGET', k, unpack(f))\n"
    "  local r = {0}\n"
    "  for i = 1, 8 do r[i + 1] = s[i] or '' end\n"
    "  return r\n"
    "end\n"
    "local from = redis.call('HGET', k, 'active') or ARGV[9]\n"
    "local v = {tostring(tonumber(ARGV[1]) + 1), ARGV[2], ARGV[3],\n"
    "           ARGV[4], ARGV[5], from, ARGV[6], ARGV[7]}\n"
    "for i = 1, 8 do redis.call('HSET', k, f[i], v[i]) end\n"
    "redis.call('PUBLISH', ARGV[8], table.concat(v, '\\n'))\n"
    "local r = {1}\n"
    "for i = 1, 8 do r[i + 1] = v[i] end\n"
    "return r\n");


/* KEYS[1] state; ARGV: epoch, active, manual, at, origin, from, by, why,
 * channel */

static ngx_str_t  ngx_cms_fo_redis_sync_lua = ngx_string(
    "local k = KEYS[1]\n"
    "local cur = tonumber(redis.call('HGET', k, 'epoch') or '-1')\n"
    "local f = {'epoch', 'active', 'manual', 'at', 'origin', 'from',\n"
    "           'by', 'why'}\n"
    "if tonumber(ARGV[1]) > cur then\n"
    "  for i = 1, 8 do redis.call('HSET', k, f[i], ARGV[i]) end\n"
    "  local v = {}\n"
    "  for i = 1, 8 do v[i] = ARGV[i] end\n"
    "  redis.call('PUBLISH', ARGV[9], table.concat(v, '\\n'))\n"
    "  local r = {1}\n"
    "  for i = 1, 8 do r[i + 1] = ARGV[i] end\n"
    "  return r\n"
    "end\n"
    "local s = redis.call('HMGET', k, unpack(f))\n"
    "local r = {0}\n"
    "for i = 1, 8 do r[i + 1] = s[i] or '' end\n"
    "return r\n");


/* the state as Redis has it (strings point into a reply or a message) */

typedef struct {
    ngx_uint_t                 won;
    uint64_t                   epoch;
    ngx_str_t                  active;
    ngx_uint_t                 manual;
    time_t                     at;
    ngx_str_t                  origin;
    ngx_str_t                  from;
    ngx_str_t                  by;
    ngx_str_t                  why;
} ngx_cms_fo_redis_state_t;


struct ngx_cms_fo_redis_s {
    ngx_cms_fo_cluster_t      *cluster;
    ngx_str_t                  key;         /* with the prefix */
    ngx_str_t                  name;        /* the channel, without it */
    ngx_str_t                  channel;     /* with it, for PUBLISH */
    ngx_str_t                  calls_name;  /* "calls:<upstream>" */
    ngx_str_t                  calls_key;   /* with the prefix */

    /* this worker's view, for the status */
    ngx_uint_t                 proposals;
    ngx_uint_t                 lost;
    ngx_uint_t                 adopted;
    ngx_uint_t                 syncs;
    ngx_uint_t                 local;       /* decided without Redis */
    ngx_uint_t                 calls_shared;
    ngx_uint_t                 calls_received;
    ngx_uint_t                 calls_loaded;
    time_t                     synced;
    ngx_msec_t                 sync_sent;
    ngx_uint_t                 syncing;
    ngx_str_t                  error;
    u_char                     error_data[NGX_CMS_SHM_TEXT_LEN];
    ngx_uint_t                 unknown_warned;
};


typedef struct {
    ngx_cms_fo_cluster_t      *cluster;
    ngx_cms_fo_proposal_t      proposal;
    ngx_cms_fo_done_pt         done;
    void                      *data;
} ngx_cms_fo_redis_pending_t;


static ngx_cms_redis_script_t  *ngx_cms_fo_redis_change;
static ngx_cms_redis_script_t  *ngx_cms_fo_redis_sync_script;
static u_char                   ngx_cms_fo_redis_origin_data[128];
static ngx_str_t                ngx_cms_fo_redis_origin;


static void ngx_cms_fo_redis_watch(ngx_uint_t available, void *data);
static void ngx_cms_fo_redis_sync(ngx_cms_fo_cluster_t *cl);
static void ngx_cms_fo_redis_synced(ngx_cms_redis_reply_t *reply,
    ngx_str_t *error, void *data);
static void ngx_cms_fo_redis_changed(ngx_cms_redis_reply_t *reply,
    ngx_str_t *error, void *data);
static void ngx_cms_fo_redis_message(ngx_str_t *channel, ngx_str_t *message,
    void *data);
static ngx_int_t ngx_cms_fo_redis_parse_reply(ngx_cms_redis_reply_t *reply,
    ngx_cms_fo_redis_state_t *st);
static ngx_int_t ngx_cms_fo_redis_parse_fields(ngx_str_t *f,
    ngx_cms_fo_redis_state_t *st);
static ngx_int_t ngx_cms_fo_redis_adopt(ngx_cms_fo_cluster_t *cl,
    ngx_cms_fo_redis_state_t *st, ngx_cms_shm_change_t *change);
static void ngx_cms_fo_redis_error(ngx_cms_fo_redis_t *fr, const char *what,
    ngx_str_t *error);
static void ngx_cms_fo_redis_call_message(ngx_str_t *channel,
    ngx_str_t *message, void *data);
static void ngx_cms_fo_redis_calls_loaded(ngx_cms_redis_reply_t *reply,
    ngx_str_t *error, void *data);


/* postconfiguration: the scripts, if Redis is configured at all */

ngx_int_t
ngx_cms_fo_redis_conf(ngx_conf_t *cf, ngx_cms_fo_main_conf_t *fmcf)
{
    ngx_uint_t              i, any;
    ngx_cms_fo_cluster_t  **cl;

    cl = fmcf->clusters.elts;
    any = 0;

    for (i = 0; i < fmcf->clusters.nelts; i++) {
        if (cl[i]->redis_agree == NGX_CONF_UNSET) {
            cl[i]->redis_agree = 1;
        }

        if (!ngx_cms_redis_configured(cf)) {
            cl[i]->redis_agree = 0;
        }

        any |= cl[i]->redis_agree;
    }

    if (!any) {
        return NGX_OK;
    }

    ngx_cms_fo_redis_change = ngx_cms_redis_script_add(cf,
                                               &ngx_cms_fo_redis_change_lua);
    ngx_cms_fo_redis_sync_script = ngx_cms_redis_script_add(cf,
                                               &ngx_cms_fo_redis_sync_lua);

    if (ngx_cms_fo_redis_change == NULL
        || ngx_cms_fo_redis_sync_script == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_cms_fo_redis_init_process(ngx_cycle_t *cycle, ngx_cms_fo_cluster_t *cl)
{
    u_char              *p;
    ngx_str_t            name;
    ngx_cms_fo_redis_t  *fr;

    if (!cl->redis_agree) {
        return NGX_OK;
    }

    fr = ngx_pcalloc(cycle->pool, sizeof(ngx_cms_fo_redis_t));
    if (fr == NULL) {
        return NGX_ERROR;
    }

    fr->cluster = cl;
    fr->error.data = fr->error_data;

    /* "failover:<upstream>": the hash, and the channel */

    name.len = sizeof("failover:") - 1 + cl->name.len;
    name.data = ngx_pnalloc(cycle->pool, name.len);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(name.data, "failover:", sizeof("failover:") - 1);
    ngx_memcpy(p, cl->name.data, cl->name.len);

    fr->name = name;

    if (ngx_cms_redis_key(cycle->pool, &name, &fr->key) != NGX_OK) {
        return NGX_ERROR;
    }

    fr->channel = fr->key;

    name.len = sizeof("calls:") - 1 + cl->name.len;
    name.data = ngx_pnalloc(cycle->pool, name.len);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(name.data, "calls:", sizeof("calls:") - 1);
    ngx_memcpy(p, cl->name.data, cl->name.len);

    fr->calls_name = name;

    if (ngx_cms_redis_key(cycle->pool, &name, &fr->calls_key) != NGX_OK) {
        return NGX_ERROR;
    }

    /* who we are, to know our own changes when they come back */

    if (ngx_cms_fo_redis_origin.len == 0) {
        p = ngx_snprintf(ngx_cms_fo_redis_origin_data,
                         sizeof(ngx_cms_fo_redis_origin_data), "%V:%P",
                         &cycle->hostname,
                         ngx_process == NGX_PROCESS_WORKER ? ngx_parent
                                                           : ngx_pid);
        ngx_cms_fo_redis_origin.data = ngx_cms_fo_redis_origin_data;
        ngx_cms_fo_redis_origin.len = p - ngx_cms_fo_redis_origin_data;
    }

    cl->redis = fr;

    if (ngx_cms_redis_subscribe(&fr->name, ngx_cms_fo_redis_message, fr)
        == NGX_ERROR
        || (cl->affinity
            && ngx_cms_redis_subscribe(&fr->calls_name,
                                       ngx_cms_fo_redis_call_message, fr)
               == NGX_ERROR)
        || ngx_cms_redis_watch(ngx_cms_fo_redis_watch, fr) == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_cms_fo_redis_watch(ngx_uint_t available, void *data)
{
    ngx_cms_fo_redis_t  *fr = data;

    if (!available) {
        return;
    }

    ngx_cms_fo_redis_sync(fr->cluster);

    /* the call map: one worker loads it into the instance's zone */

    if (fr->cluster->affinity && ngx_worker == 0
        && ngx_cms_redis_command(NULL, ngx_cms_fo_redis_calls_loaded, fr,
                                 "HGETALL %b", fr->calls_key.data,
                                 fr->calls_key.len)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, fr->cluster->log, 0,
                      "cms: upstream \"%V\": cannot load the call map from "
                      "Redis", &fr->cluster->name);
    }
}


/* from ngx_cms_affinity.c: news about a call; bridge == NULL: gone */

void
ngx_cms_fo_redis_call(ngx_cms_fo_cluster_t *cl, u_char *id, size_t len,
    ngx_str_t *bridge)
{
    u_char              *p;
    ngx_str_t            msg;
    ngx_int_t            rc;
    ngx_cms_fo_redis_t  *fr;
    u_char               value[NGX_CMS_SHM_NAME_LEN + NGX_TIME_T_LEN + 2];
    u_char               text[NGX_CMS_SHM_CALL_ID_LEN + NGX_CMS_SHM_NAME_LEN
                              + 2];

    fr = cl->redis;

    if (fr == NULL || !ngx_cms_redis_available()) {
        return;
    }

    msg.data = text;

    if (bridge) {
        p = ngx_snprintf(value, sizeof(value), "%V %T", bridge, ngx_time());

        rc = ngx_cms_redis_command(NULL, NULL, NULL, "HSET %b %b %b",
                                   fr->calls_key.data, fr->calls_key.len,
                                   id, len, value, (size_t) (p - value));

        msg.len = ngx_snprintf(text, sizeof(text), "%*s %V", len, id, bridge)
                  - text;

    } else {
        rc = ngx_cms_redis_command(NULL, NULL, NULL, "HDEL %b %b",
                                   fr->calls_key.data, fr->calls_key.len,
                                   id, len);

        msg.len = ngx_snprintf(text, sizeof(text), "%*s -", len, id) - text;
    }

    if (rc == NGX_OK
        && ngx_cms_redis_publish(NULL, &fr->calls_name, &msg, NULL, NULL)
           == NGX_OK)
    {
        fr->calls_shared++;
    }
}


/* "<id> <bridge>" or "<id> -", from this instance or another */

static void
ngx_cms_fo_redis_call_message(ngx_str_t *channel, ngx_str_t *message,
    void *data)
{
    ngx_cms_fo_redis_t  *fr = data;

    u_char               *sp;
    ngx_cms_bridge_t  *b;

    sp = ngx_strlchr(message->data, message->data + message->len, ' ');

    if (sp == NULL || sp == message->data) {
        return;
    }

    fr->calls_received++;

    if (message->data + message->len - sp == 2 && sp[1] == '-') {
        ngx_cms_affinity_forget(fr->cluster, message->data,
                                sp - message->data, 0);
        return;
    }

    b = ngx_cms_failover_bridge_by_name(fr->cluster, sp + 1,
                                        message->data + message->len - sp - 1);
    if (b) {
        ngx_cms_affinity_learn(fr->cluster, message->data, sp - message->data,
                               b->slot, 0);
    }
}


static void
ngx_cms_fo_redis_calls_loaded(ngx_cms_redis_reply_t *reply, ngx_str_t *error,
    void *data)
{
    ngx_cms_fo_redis_t  *fr = data;

    u_char               *v, *sp, *last;
    size_t                i;
    time_t                at;
    ngx_cms_bridge_t  *b;
    redisReply           *id, *value;

    if (error || reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        return;
    }

    for (i = 0; i + 1 < reply->elements; i += 2) {
        id = reply->element[i];
        value = reply->element[i + 1];

        if (id->type != REDIS_REPLY_STRING
            || value->type != REDIS_REPLY_STRING)
        {
            continue;
        }

        v = (u_char *) value->str;
        last = v + value->len;

        sp = ngx_strlchr(v, last, ' ');
        at = sp ? ngx_atotm(sp + 1, last - sp - 1) : NGX_ERROR;

        if (sp == NULL || at == NGX_ERROR
            || ngx_time() - at > NGX_CMS_FO_REDIS_CALL_TTL)
        {
            /* ended long ago, most likely without a DELETE through us */
            (void) ngx_cms_redis_command(NULL, NULL, NULL, "HDEL %b %b",
                                         fr->calls_key.data,
                                         fr->calls_key.len,
                                         id->str, (size_t) id->len);
            continue;
        }

        b = ngx_cms_failover_bridge_by_name(fr->cluster, v, sp - v);

        if (b) {
            ngx_cms_affinity_learn(fr->cluster, (u_char *) id->str, id->len,
                                   b->slot, 0);
            fr->calls_loaded++;
        }
    }
}


/* argv for the scripts, from the zone, under the lock */

static ngx_uint_t
ngx_cms_fo_redis_argv_locked(ngx_cms_fo_cluster_t *cl, ngx_pool_t *pool,
    ngx_str_t *argv)
{
    u_char                 *p;
    ngx_cms_shm_change_t   *last;
    ngx_cms_shm_cluster_t  *sh;

    sh = cl->sh;

    last = sh->nchanges
           ? &sh->history[(sh->nchanges - 1) % NGX_CMS_SHM_HISTORY] : NULL;

    p = ngx_pnalloc(pool, 2 * NGX_INT64_LEN + 2 + 4 * NGX_CMS_SHM_NAME_LEN
                          + NGX_CMS_SHM_TEXT_LEN);
    if (p == NULL) {
        return 0;
    }

    argv[0] = cl->redis->key;

    argv[1].data = p;
    p = ngx_sprintf(p, "%uL", sh->epoch);
    argv[1].len = p - argv[1].data;

    argv[2].data = p;
    p = ngx_cpymem(p, sh->bridges[sh->active].name.data,
                   sh->bridges[sh->active].name.len);
    argv[2].len = p - argv[2].data;

    argv[3].data = (u_char *) (sh->manual ? "1" : "0");
    argv[3].len = 1;

    argv[4].data = p;
    p = ngx_sprintf(p, "%T", last ? last->at : 0);
    argv[4].len = p - argv[4].data;

    argv[5] = ngx_cms_fo_redis_origin;

    argv[6].data = p;
    if (last) {
        p = ngx_cpymem(p, last->from.data, last->from.len);
    }
    argv[6].len = p - argv[6].data;

    argv[7].data = p;
    p = last ? ngx_cpymem(p, last->by.data, last->by.len)
             : ngx_cpymem(p, "configuration", 13);
    argv[7].len = p - argv[7].data;

    argv[8].data = p;
    p = last ? ngx_cpymem(p, last->why.data, last->why.len)
             : ngx_cpymem(p, "the primary bridge", 18);
    argv[8].len = p - argv[8].data;

    argv[9] = cl->redis->channel;

    return 10;
}


/* from the health checker's tick */

void
ngx_cms_fo_redis_tick(ngx_cms_fo_cluster_t *cl)
{
    ngx_cms_fo_redis_t  *fr;

    fr = cl->redis;

    if (fr == NULL || fr->syncing || !ngx_cms_redis_available()
        || (ngx_msec_int_t) (ngx_current_msec - fr->sync_sent)
           < NGX_CMS_FO_REDIS_RESYNC)
    {
        return;
    }

    ngx_cms_fo_redis_sync(cl);
}


static void
ngx_cms_fo_redis_sync(ngx_cms_fo_cluster_t *cl)
{
    ngx_str_t    argv[10];
    ngx_uint_t   n;
    ngx_pool_t  *pool;

    if (cl->redis->syncing) {
        return;
    }

    pool = ngx_create_pool(1024, cl->log);
    if (pool == NULL) {
        return;
    }

    ngx_shmtx_lock(&cl->shpool->mutex);
    n = ngx_cms_fo_redis_argv_locked(cl, pool, argv);
    ngx_shmtx_unlock(&cl->shpool->mutex);

    /* the command has its own copy of the arguments once sent */

    cl->redis->sync_sent = ngx_current_msec;

    if (n == 0
        || ngx_cms_redis_script_call(ngx_cms_fo_redis_sync_script, NULL,
                                     ngx_cms_fo_redis_synced, cl->redis,
                                     1, n, argv)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                      "cms: upstream \"%V\": cannot sync the failover state "
                      "with Redis", &cl->name);

    } else {
        cl->redis->syncing = 1;
    }

    ngx_destroy_pool(pool);
}


static void
ngx_cms_fo_redis_synced(ngx_cms_redis_reply_t *reply, ngx_str_t *error,
    void *data)
{
    ngx_cms_fo_redis_t  *fr = data;

    ngx_cms_shm_change_t      change;
    ngx_cms_fo_redis_state_t  st;

    fr->syncing = 0;

    if (error) {
        ngx_cms_fo_redis_error(fr, "sync", error);
        return;
    }

    if (ngx_cms_fo_redis_parse_reply(reply, &st) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, fr->cluster->log, 0,
                      "cms: upstream \"%V\": unexpected answer of the "
                      "failover sync script", &fr->cluster->name);
        return;
    }

    fr->syncs++;
    fr->synced = ngx_time();
    fr->error.len = 0;

    if (st.won) {
        /* ours was newer: Redis has it now, and everybody was told */
        return;
    }

    if (ngx_cms_fo_redis_adopt(fr->cluster, &st, &change) == NGX_OK) {
        fr->adopted++;
        ngx_cms_failover_announce(fr->cluster, &change,
                                  st.origin.len == ngx_cms_fo_redis_origin.len
                                  && ngx_strncmp(st.origin.data,
                                         ngx_cms_fo_redis_origin.data,
                                         st.origin.len) == 0);
    }
}


/*
 * Returns 1 if the proposal went to Redis (done is then called later),
 * 0 if it must be applied to the zone alone.
 */

ngx_uint_t
ngx_cms_fo_redis_propose(ngx_cms_fo_cluster_t *cl, ngx_cms_fo_proposal_t *p,
    ngx_cms_fo_done_pt done, void *data)
{
    u_char                      *s;
    ngx_str_t                    argv[10];
    ngx_pool_t                  *pool;
    ngx_cms_fo_redis_t          *fr;
    ngx_cms_shm_cluster_t       *sh;
    ngx_cms_fo_redis_pending_t  *pending;

    fr = cl->redis;

    if (fr == NULL) {
        return 0;
    }

    if (!ngx_cms_redis_available()) {
        fr->local++;
        return 0;
    }

    pool = ngx_create_pool(1024, cl->log);
    if (pool == NULL) {
        return 0;
    }

    pending = ngx_alloc(sizeof(ngx_cms_fo_redis_pending_t), cl->log);
    s = ngx_pnalloc(pool, 2 * NGX_INT64_LEN + 2 * NGX_CMS_SHM_NAME_LEN);

    if (pending == NULL || s == NULL) {
        goto failed;
    }

    pending->cluster = cl;
    pending->proposal = *p;
    pending->done = done;
    pending->data = data;

    sh = cl->sh;

    argv[0] = fr->key;

    argv[1].data = s;
    s = ngx_sprintf(s, "%uL", p->epoch);
    argv[1].len = s - argv[1].data;

    argv[2].data = sh->bridges[p->to].name.data;
    argv[2].len = sh->bridges[p->to].name.len;

    argv[3].data = (u_char *) (p->manual ? "1" : "0");
    argv[3].len = 1;

    argv[4].data = s;
    s = ngx_sprintf(s, "%T", ngx_time());
    argv[4].len = s - argv[4].data;

    argv[5] = ngx_cms_fo_redis_origin;

    argv[6].data = p->by.data;
    argv[6].len = p->by.len;

    argv[7].data = p->why.data;
    argv[7].len = p->why.len;

    argv[8] = fr->channel;

    argv[9].data = sh->bridges[sh->active].name.data;
    argv[9].len = sh->bridges[sh->active].name.len;

    if (ngx_cms_redis_script_call(ngx_cms_fo_redis_change, NULL,
                                  ngx_cms_fo_redis_changed, pending,
                                  1, 10, argv)
        != NGX_OK)
    {
        goto failed;
    }

    fr->proposals++;
    ngx_destroy_pool(pool);

    return 1;

failed:

    if (pending) {
        ngx_free(pending);
    }

    ngx_destroy_pool(pool);
    fr->local++;

    return 0;
}


static void
ngx_cms_fo_redis_changed(ngx_cms_redis_reply_t *reply, ngx_str_t *error,
    void *data)
{
    ngx_cms_fo_redis_pending_t  *pending = data;

    ngx_int_t                  rc;
    ngx_uint_t                 origin;
    ngx_cms_fo_redis_t        *fr;
    ngx_cms_fo_cluster_t      *cl;
    ngx_cms_shm_change_t       change;
    ngx_cms_fo_redis_state_t   st;

    cl = pending->cluster;
    fr = cl->redis;

    if (error || ngx_cms_fo_redis_parse_reply(reply, &st) != NGX_OK) {

        /*
         * No answer: the failover cannot wait for Redis.  Decided here;
         * the sync after the reconnect settles it with the others.
         */

        ngx_cms_fo_redis_error(fr, "change", error);
        fr->local++;

        ngx_cms_failover_propose_local(cl, &pending->proposal,
                                       pending->done, pending->data);
        ngx_free(pending);
        return;
    }

    rc = ngx_cms_fo_redis_adopt(cl, &st, &change);

    if (rc == NGX_OK) {
        /* the message may have been faster: whoever applies announces */
        origin = (st.origin.len == ngx_cms_fo_redis_origin.len
                  && ngx_strncmp(st.origin.data,
                                 ngx_cms_fo_redis_origin.data,
                                 st.origin.len) == 0);

        ngx_cms_failover_announce(cl, &change, origin);
    }

    if (!st.won) {
        fr->lost++;
    }

    if (pending->done) {
        if (rc != NGX_OK) {
            /* the zone had it already: describe the current state */
            ngx_memzero(&change, sizeof(ngx_cms_shm_change_t));
            change.epoch = st.epoch;
            ngx_cms_shm_set_name(&change.to, st.active.data, st.active.len);
            change.manual = st.manual;
        }

        pending->done(pending->data, st.won ? NGX_OK : NGX_DECLINED, &change);
    }

    ngx_free(pending);
}


static void
ngx_cms_fo_redis_message(ngx_str_t *channel, ngx_str_t *message, void *data)
{
    ngx_cms_fo_redis_t  *fr = data;

    u_char                    *p, *last;
    ngx_str_t                  f[NGX_CMS_FO_REDIS_FIELDS];
    ngx_uint_t                 i;
    ngx_cms_shm_change_t       change;
    ngx_cms_fo_redis_state_t   st;

    /* epoch, active, manual, at, origin, from, by, why: one a line */

    p = message->data;
    last = p + message->len;

    for (i = 0; i < NGX_CMS_FO_REDIS_FIELDS; i++) {
        f[i].data = p;

        if (i == NGX_CMS_FO_REDIS_FIELDS - 1) {
            p = last;

        } else {
            p = ngx_strlchr(p, last, '\n');
            if (p == NULL) {
                goto invalid;
            }
        }

        f[i].len = p - f[i].data;

        if (p < last) {
            p++;
        }
    }

    ngx_memzero(&st, sizeof(ngx_cms_fo_redis_state_t));

    if (ngx_cms_fo_redis_parse_fields(f, &st) != NGX_OK) {
        goto invalid;
    }

    if (ngx_cms_fo_redis_adopt(fr->cluster, &st, &change) == NGX_OK) {
        fr->adopted++;
        ngx_cms_failover_announce(fr->cluster, &change,
                                  st.origin.len == ngx_cms_fo_redis_origin.len
                                  && ngx_strncmp(st.origin.data,
                                         ngx_cms_fo_redis_origin.data,
                                         st.origin.len) == 0);
    }

    return;

invalid:

    ngx_log_error(NGX_LOG_WARN, fr->cluster->log, 0,
                  "cms: upstream \"%V\": ignored a malformed failover "
                  "message on \"%V\"", &fr->cluster->name, channel);
}


/* {won, epoch, active, manual, at, origin, from, by, why} */

static ngx_int_t
ngx_cms_fo_redis_parse_reply(ngx_cms_redis_reply_t *reply,
    ngx_cms_fo_redis_state_t *st)
{
    size_t      i;
    ngx_str_t   f[NGX_CMS_FO_REDIS_FIELDS];

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != NGX_CMS_FO_REDIS_FIELDS + 1
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        return NGX_ERROR;
    }

    ngx_memzero(st, sizeof(ngx_cms_fo_redis_state_t));

    st->won = (reply->element[0]->integer == 1);

    for (i = 0; i < NGX_CMS_FO_REDIS_FIELDS; i++) {
        if (reply->element[i + 1]->type != REDIS_REPLY_STRING) {
            return NGX_ERROR;
        }

        f[i].data = (u_char *) reply->element[i + 1]->str;
        f[i].len = reply->element[i + 1]->len;
    }

    return ngx_cms_fo_redis_parse_fields(f, st);
}


static ngx_int_t
ngx_cms_fo_redis_parse_fields(ngx_str_t *f, ngx_cms_fo_redis_state_t *st)
{
    off_t   n;
    time_t  t;

    n = ngx_atoof(f[0].data, f[0].len);
    if (n == NGX_ERROR || f[1].len == 0) {
        return NGX_ERROR;
    }

    t = ngx_atotm(f[3].data, f[3].len);

    st->epoch = (uint64_t) n;
    st->active = f[1];
    st->manual = (f[2].len == 1 && f[2].data[0] == '1');
    st->at = (t == NGX_ERROR) ? 0 : t;
    st->origin = f[4];
    st->from = f[5];
    st->by = f[6];
    st->why = f[7];

    return NGX_OK;
}


/*
 * Redis's state into the zone, if it is newer (or, for an equal epoch,
 * names another bridge: Redis settles ties).  NGX_OK: applied, "change"
 * filled; NGX_DECLINED: the zone had it, or knows better.
 */

static ngx_int_t
ngx_cms_fo_redis_adopt(ngx_cms_fo_cluster_t *cl, ngx_cms_fo_redis_state_t *st,
    ngx_cms_shm_change_t *change)
{
    ngx_uint_t              applied;
    ngx_cms_shm_name_t      by;
    ngx_cms_shm_text_t      why;
    ngx_cms_bridge_t    *b;
    ngx_cms_fo_redis_t     *fr;

    fr = cl->redis;

    b = ngx_cms_failover_bridge_by_name(cl, st->active.data, st->active.len);

    if (b == NULL) {
        if (!fr->unknown_warned) {
            fr->unknown_warned = 1;
            ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                          "cms: upstream \"%V\": Redis names \"%V\" the "
                          "active bridge, which is not configured here; "
                          "ignored", &cl->name, &st->active);
        }

        return NGX_DECLINED;
    }

    ngx_cms_shm_set_name(&by, st->by.data, st->by.len);
    ngx_cms_shm_set_text(&why, st->why.data, st->why.len);

    ngx_shmtx_lock(&cl->shpool->mutex);

    applied = ngx_cms_failover_apply_locked(cl, b->slot, st->epoch,
                                            st->manual, &by, &why,
                                            st->at ? st->at : ngx_time(),
                                            change);

    ngx_shmtx_unlock(&cl->shpool->mutex);

    return applied ? NGX_OK : NGX_DECLINED;
}


static void
ngx_cms_fo_redis_error(ngx_cms_fo_redis_t *fr, const char *what,
    ngx_str_t *error)
{
    u_char           *p;

    static ngx_str_t  bad = ngx_string("an answer of an unexpected shape");

    p = ngx_snprintf(fr->error_data, sizeof(fr->error_data), "%s: %V", what,
                     error ? error : &bad);
    fr->error.len = p - fr->error_data;

    ngx_log_error(NGX_LOG_WARN, fr->cluster->log, 0,
                  "cms: upstream \"%V\": failover state through Redis: %V; "
                  "deciding locally until it is back", &fr->cluster->name,
                  &fr->error);
}


/* the Redis client's own status, and ours per upstream (this worker) */

void
ngx_cms_fo_redis_status(ngx_cms_json_t *j, ngx_pool_t *pool)
{
    ngx_str_t  out;

    if (ngx_cms_redis_status_json(pool, &out) != NGX_OK || out.len == 0) {
        ngx_cms_json_raw(j, (u_char *) "null", 4);
        return;
    }

    ngx_cms_json_raw(j, out.data, out.len);
}


void
ngx_cms_fo_redis_cluster_status(ngx_cms_json_t *j, ngx_cms_fo_cluster_t *cl)
{
    ngx_cms_fo_redis_t  *fr;

    fr = cl->redis;

    if (fr == NULL) {
        ngx_cms_json_raw(j, (u_char *) "{\"enabled\":false}", 17);
        return;
    }

    ngx_cms_json_printf(j, "{\"enabled\":true,\"available\":%s,\"key\":",
                        ngx_cms_redis_available() ? "true" : "false");
    ngx_cms_json_string(j, fr->key.data, fr->key.len);
    ngx_cms_json_raw(j, (u_char *) ",\"origin\":", 10);
    ngx_cms_json_string(j, ngx_cms_fo_redis_origin.data,
                        ngx_cms_fo_redis_origin.len);
    ngx_cms_json_printf(j, ",\"worker\":{\"proposals\":%ui,\"lost\":%ui,"
                        "\"adopted\":%ui,\"syncs\":%ui,\"local\":%ui,"
                        "\"calls_shared\":%ui,\"calls_received\":%ui,"
                        "\"calls_loaded\":%ui,\"synced\":",
                        fr->proposals, fr->lost, fr->adopted, fr->syncs,
                        fr->local, fr->calls_shared, fr->calls_received,
                        fr->calls_loaded);
    ngx_cms_json_time(j, fr->synced);
    ngx_cms_json_raw(j, (u_char *) ",\"error\":", 9);

    if (fr->error.len) {
        ngx_cms_json_string(j, fr->error.data, fr->error.len);

    } else {
        ngx_cms_json_raw(j, (u_char *) "null", 4);
    }

    ngx_cms_json_raw(j, (u_char *) "}}", 2);
}
