
/*
 * ngx_cms slots plugin: the slot table shared through Redis.
 *
 * Redis keeps, per slot space (space ids are unique: a bulk sync makes
 * new ones), a hash <prefix>slots:space:<id> with the holder's state
 * and keys, the whole record as text, a version, and a reservation
 * while a check-out is on its way to the bridge; a sorted set
 * <prefix>slots:held counts the slots held or reserved (score: the
 * reservation's expiry, or "forever") for cms_slot_max_meetings.
 *
 * Two scripts, so that two proxies racing on one slot see one truth:
 *
 *   decide   looks at the slot (seeding it from the caller's zone when
 *            Redis has lost it, or has an older version of it than the
 *            zone has applied: a Sentinel failover can promote a replica
 *            that missed the last writes, and deciding on its stale view
 *            let closes pass as "nothing to do" while every zone kept
 *            the slot in use), decides the PUT as ngx_cms_slot_decide()
 *            would, and for a check-out reserves the slot, all at once;
 *   commit   ends a reservation and, when something changed, writes the
 *            new record, bumps the version and publishes it on
 *            <prefix>slots.
 *
 * Every instance's workers subscribe to that channel and apply records
 * newer than theirs to the zone, so the status and the next decision of
 * every proxy know what the others did.  Redis down: the zone decides
 * alone (cms_slot_redis_down open) or slot PUTs are refused (closed);
 * when Redis comes back the table is reconciled from CMS and written
 * there whole.
 */


#include "ngx_cms_slots.h"
#include "ngx_cms_slot_record.h"



#include "ngx_cms_redis.h"


#define NGX_CMS_SLOTS_SEP        '\x1f'
#define NGX_CMS_SLOTS_NFIELDS    17
#define NGX_CMS_SLOTS_REC_MAX    2048


typedef struct {
    ngx_cms_redis_script_t     *decide;
    ngx_cms_redis_script_t     *commit;
    ngx_str_t                   channel;    /* without the prefix */
} ngx_cms_slots_redis_conf_t;


/* a decision on its way: outlives the request if it must */

typedef struct {
    ngx_cms_slots_req_t        *sr;         /* NULL: the request is gone */
    ngx_pool_cleanup_t         *cln;
    ngx_cms_slots_main_conf_t  *smcf;
    u_char                      token[64];
    size_t                      token_len;
    ngx_cms_slots_id_t          space;

    /*
     * A timer that is not cancelable while the request waits: the call
     * is not bound to the request's pool (the reply must come even when
     * the client is gone), so without it a gracefully exiting worker
     * would not wait for the reply and would leave the client's socket
     * open.  The Redis command timeout answers long before it fires.
     */
    ngx_event_t                 wait;
} ngx_cms_slots_pending_t;


#define NGX_CMS_SLOTS_WAIT_MAX   60000


static ngx_str_t  ngx_cms_slots_decide_lua = ngx_string(
"local h = redis.call('HMGET', KEYS[1], 'st', 'k', 'nk', 'r', 'rx', "
"'rk', 'rnk', 'rec', 'v')\n"
"local st, k, nk, rec, v = h[1], h[2], h[3], h[8], h[9]\n"
"local now = tonumber(ARGV[6])\n"
"if not st or (tonumber(v) or 0) < tonumber(ARGV[14]) then\n"
"  st, k, nk, rec, v = ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[14]\n"
"  redis.call('HSET', KEYS[1], 'st', st, 'k', k, 'nk', nk, 'rec', rec, "
"'v', v)\n"
"  if st ~= '0' then redis.call('ZADD', KEYS[2], '9e15', ARGV[13])\n"
"  elseif not h[4] then redis.call('ZREM', KEYS[2], ARGV[13]) end\n"
"end\n"
"local vst, vk, vnk = st, k, nk\n"
"local reserved = h[4] and h[5] and tonumber(h[5]) > now\n"
"if reserved then vst, vk, vnk = '1', h[6], h[7] end\n"
"local act = 'none'\n"
"if ARGV[1] == 'open' then\n"
"  if vst == '0' then act = 'checkout'\n"
"  elseif vk == ARGV[2] or ((ARGV[4] == '0' or vk == '0') "
"and vnk == ARGV[3]) then act = 'extend'\n"
"  else act = 'conflict' end\n"
"elseif st ~= '0' or reserved then act = 'checkin' end\n"
"if act == 'checkout' then\n"
"  local max = tonumber(ARGV[12])\n"
"  if max > 0 and redis.call('ZCOUNT', KEYS[2], now, '+inf') >= max then\n"
"    act = 'limit'\n"
"  else\n"
"    local exp = now + tonumber(ARGV[7])\n"
"    redis.call('HSET', KEYS[1], 'r', ARGV[5], 'rx', exp, 'rk', ARGV[2], "
"'rnk', ARGV[3])\n"
"    redis.call('ZADD', KEYS[2], exp, ARGV[13])\n"
"  end\n"
"end\n"
"return {act, rec or '', tostring(v or '0'), reserved and '1' or '0'}\n");


/*
 * The change script.  ARGV: 1 op, 2 token, 3 ok, 4 st, 5 k, 6 nk, 7 rec,
 * 8 space, 9 channel, 10 now, 11 arg, 12 the zone's version of the slot.
 *
 * Versions are microseconds of wall clock: a change written here gets
 * Redis's clock (or one more than the last version, or the zone's, if
 * either is ahead), and a change an instance's zone makes on its own
 * (a decision made alone while Redis was down, a correction from the
 * bridge, a release) gets the instance's clock there; an outcome Redis
 * decided and a one-field change made while Redis is up take Redis's
 * version when their commit lands (ngx_cms_slots_touch_locked(), and
 * its callers).  A counter restarted
 * from what a promoted replica or a restarted Redis had gave a second,
 * different record a version the zones had applied already, which they
 * then ignored; and whichever instance pushed its table last after an
 * outage won, stale or not (the chaos soak's slot tables).  Now "put"
 * (an instance's table pushed after an outage) and "map" write only
 * over an older version, under the zone's own, so the newest change
 * wins whoever pushes last.  Whole records are written only
 * by the deciding instance (checkout, checkin) and by reconciliation
 * (put, map); everything else changes one field of the record Redis
 * has, so an instance that has not heard the latest news cannot write
 * an old record over a newer one.  A checkout commits only while its
 * reservation stands: a check-in decided meanwhile supersedes it.
 */

static ngx_str_t  ngx_cms_slots_commit_lua = ngx_string(
"local op, key, held = ARGV[1], KEYS[1], KEYS[2]\n"
"local zv = tonumber(ARGV[12]) or 0\n"
"local function store(st, k, nk, rec, v)\n"
"  v = string.format('%.0f', v)\n"
"  redis.call('HSET', key, 'v', v, 'st', st, 'k', k, 'nk', nk, 'rec', rec)\n"
"  if st == '0' then redis.call('ZREM', held, ARGV[8])\n"
"  else redis.call('ZADD', held, '9e15', ARGV[8]) end\n"
"  redis.call('PUBLISH', ARGV[9], v .. '\\31' .. rec)\n"
"  return v\n"
"end\n"
"local function write(st, k, nk, rec)\n"
"  local t = redis.call('TIME')\n"
"  local v = (tonumber(redis.call('HGET', key, 'v')) or 0) + 1\n"
"  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
"  if now > v then v = now end\n"
"  if zv > v then v = zv end\n"
"  return store(st, k, nk, rec, v)\n"
"end\n"
"if op == 'map' or op == 'put' then\n"
"  local v = redis.call('HGET', key, 'v')\n"
"  if v and (op == 'map' or (tonumber(v) or 0) >= zv) then return 0 end\n"
"  return store(ARGV[4], ARGV[5], ARGV[6], ARGV[7], zv)\n"
"end\n"
"local r = redis.call('HGET', key, 'r')\n"
"if op == 'checkout' then\n"
"  if r ~= ARGV[2] then return 0 end\n"
"  redis.call('HDEL', key, 'r', 'rx', 'rk', 'rnk')\n"
"  if ARGV[3] ~= '1' then\n"
"    if redis.call('HGET', key, 'st') == '0' then\n"
"      redis.call('ZREM', held, ARGV[8])\n"
"    end\n"
"    return 0\n"
"  end\n"
"  return write('1', ARGV[5], ARGV[6], ARGV[7])\n"
"end\n"
"if op == 'checkin' then\n"
"  if r then redis.call('HDEL', key, 'r', 'rx', 'rk', 'rnk') end\n"
"  return write('0', '0', '0', ARGV[7])\n"
"end\n"
"local h = redis.call('HMGET', key, 'st', 'nk', 'rec', 'k')\n"
"if not h[1] or h[1] == '0' or not h[3] then return 0 end\n"
"if ARGV[6] ~= '' and h[2] ~= ARGV[6] then return 0 end\n"
"local f = {}\n"
"for x in (h[3] .. '\\31'):gmatch('(.-)\\31') do f[#f + 1] = x end\n"
"if #f ~= 17 then return 0 end\n"
"if op == 'call' then\n"
"  f[16] = ARGV[11]\n"
"  if f[9] == '1' then f[8], f[9] = '1', '0' end\n"
"elseif op == 'uncall' then\n"
"  if f[16] ~= ARGV[11] then return 0 end\n"
"  f[17], f[16] = f[16], ''\n"
"elseif op == 'extend' then\n"
"  f[13], f[8], f[9] = ARGV[10], '1', '0'\n"
"elseif op == 'stuck' then\n"
"  f[8], f[9] = '2', ARGV[11]\n"
"else\n"
"  return 0\n"
"end\n"
"return write(f[8], h[4], h[2], table.concat(f, '\\31'))\n");


static void ngx_cms_slots_redis_decided(ngx_cms_redis_reply_t *reply,
    ngx_str_t *error, void *data);
static void ngx_cms_slots_redis_cleanup(void *data);
static void ngx_cms_slots_redis_wait_handler(ngx_event_t *ev);
static ngx_int_t ngx_cms_slots_redis_commit(ngx_cms_slots_main_conf_t *smcf,
    const char *op, u_char *token, size_t token_len, ngx_uint_t ok,
    ngx_uint_t npool, long index, ngx_cms_slots_id_t *space, uint64_t nk,
    ngx_str_t *arg, ngx_cms_slots_hold_t *hold);
static uint64_t ngx_cms_slots_version_locked(ngx_cms_slots_main_conf_t *smcf,
    ngx_uint_t npool, long index);
static size_t ngx_cms_slots_record_locked(ngx_cms_slots_main_conf_t *smcf,
    ngx_uint_t npool, long index, ngx_cms_slots_hold_t *hold, u_char *buf,
    size_t size);
static void ngx_cms_slots_redis_apply(ngx_cms_slots_main_conf_t *smcf,
    u_char *rec, size_t len, u_char *ver, size_t ver_len, ngx_log_t *log);
static void ngx_cms_slots_redis_message(ngx_str_t *channel,
    ngx_str_t *message, void *data);
static void ngx_cms_slots_redis_watch(ngx_uint_t available, void *data);
static ngx_int_t ngx_cms_slots_space_key(ngx_pool_t *pool, u_char *id,
    size_t len, ngx_str_t *key);
static uint64_t ngx_cms_slots_hex(u_char *p, size_t len);


ngx_int_t
ngx_cms_slots_redis_conf(ngx_conf_t *cf, ngx_cms_slots_main_conf_t *smcf)
{
    ngx_cms_slots_redis_conf_t  *rc;

    if (!ngx_cms_redis_configured(cf)) {
        if (smcf->redis == 1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"cms_slot_redis on\" needs \"cms_redis\"");
            return NGX_ERROR;
        }

        smcf->redis = 0;
        return NGX_OK;
    }

    if (smcf->redis == NGX_CONF_UNSET) {
        smcf->redis = 1;
    }

    if (!smcf->redis) {
        return NGX_OK;
    }

    rc = ngx_pcalloc(cf->pool, sizeof(ngx_cms_slots_redis_conf_t));
    if (rc == NULL) {
        return NGX_ERROR;
    }

    rc->decide = ngx_cms_redis_script_add(cf, &ngx_cms_slots_decide_lua);
    rc->commit = ngx_cms_redis_script_add(cf, &ngx_cms_slots_commit_lua);

    if (rc->decide == NULL || rc->commit == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&rc->channel, "slots");

    smcf->redis_scripts = rc;

    return NGX_OK;
}


ngx_int_t
ngx_cms_slots_redis_init_process(ngx_cms_slots_main_conf_t *smcf)
{
    ngx_cms_slots_redis_conf_t  *rc;

    if (!smcf->redis) {
        return NGX_OK;
    }

    rc = smcf->redis_scripts;

    if (ngx_cms_redis_subscribe(&rc->channel, ngx_cms_slots_redis_message,
                                smcf)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_cms_redis_watch(ngx_cms_slots_redis_watch, smcf);
}


ngx_uint_t
ngx_cms_slots_redis_active(ngx_cms_slots_main_conf_t *smcf)
{
    return smcf->redis && ngx_cms_redis_available();
}


/* the request hook asks Redis; the request waits */

ngx_int_t
ngx_cms_slots_redis_decide(ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_slots_req_t *sr, ngx_cms_slots_hold_t *seed,
    ngx_http_request_t *r)
{
    u_char                       *p, *rec;
    size_t                        rec_len;
    uint64_t                      version;
    ngx_str_t                     argv[16];
    ngx_uint_t                    i;
    ngx_pool_cleanup_t           *cln;
    ngx_cms_slots_pending_t      *pd;
    ngx_cms_slots_redis_conf_t   *rc;

    rc = smcf->redis_scripts;

    pd = ngx_calloc(sizeof(ngx_cms_slots_pending_t), r->connection->log);
    if (pd == NULL) {
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        ngx_free(pd);
        return NGX_DECLINED;
    }

    pd->sr = sr;
    pd->cln = cln;
    pd->smcf = smcf;
    ngx_cms_slots_set_id(&pd->space, sr->space.data, sr->space.len);

    cln->handler = ngx_cms_slots_redis_cleanup;
    cln->data = pd;

    ngx_shmtx_lock(&smcf->shpool->mutex);
    sr->token = smcf->sh->next_token++;
    ngx_shmtx_unlock(&smcf->shpool->mutex);

    pd->token_len = ngx_snprintf(pd->token, sizeof(pd->token), "%P-%uL-%ui",
                                 ngx_pid, sr->token, (ngx_uint_t) ngx_random())
                    - pd->token;

    rec = ngx_pnalloc(r->pool, NGX_CMS_SLOTS_REC_MAX);
    p = ngx_pnalloc(r->pool, 256);

    if (rec == NULL || p == NULL) {
        goto failed;
    }

    ngx_shmtx_lock(&smcf->shpool->mutex);
    rec_len = ngx_cms_slots_record_locked(smcf, sr->pool, sr->index, NULL,
                                          rec, NGX_CMS_SLOTS_REC_MAX);
    version = rec_len ? ngx_cms_slots_version_locked(smcf, sr->pool,
                                                      sr->index)
                      : 0;
    ngx_shmtx_unlock(&smcf->shpool->mutex);

    if (ngx_cms_slots_space_key(r->pool, sr->space.data, sr->space.len,
                                &argv[0])
        != NGX_OK)
    {
        goto failed;
    }

    ngx_str_set(&argv[1], "slots:held");
    if (ngx_cms_redis_key(r->pool, &argv[1], &argv[1]) != NGX_OK) {
        goto failed;
    }

    /* ARGV[1..14], see the script */

    i = 2;

    if (sr->shape == NGX_CMS_SLOT_PUT_OPEN) {
        ngx_str_set(&argv[i], "open");
    } else {
        ngx_str_set(&argv[i], "close");
    }

    i++;

#define ngx_cms_slots_arg(fmt, ...)                                           \
    argv[i].data = p;                                                         \
    p = ngx_sprintf(p, fmt, __VA_ARGS__);                                     \
    argv[i].len = p - argv[i].data;                                           \
    i++

    ngx_cms_slots_arg("%016xL", sr->key);
    ngx_cms_slots_arg("%016xL", sr->name_key);
    ngx_cms_slots_arg("%d", sr->has_secret ? 1 : 0);

    argv[i].data = pd->token;
    argv[i].len = pd->token_len;
    i++;

    ngx_cms_slots_arg("%uL", ngx_cms_slots_now_ms());
    ngx_cms_slots_arg("%d", NGX_CMS_SLOTS_RESERVE_MS);
    ngx_cms_slots_arg("%ui", seed->state == NGX_CMS_SLOT_FREE ? 0 : 1);

    if (seed->state == NGX_CMS_SLOT_FREE) {
        ngx_str_set(&argv[i], "0");
        i++;
        ngx_str_set(&argv[i], "0");
        i++;

    } else {
        if (seed->key) {
            ngx_cms_slots_arg("%016xL", seed->key);
        } else {
            ngx_str_set(&argv[i], "0");
            i++;
        }

        ngx_cms_slots_arg("%016xL", seed->name_key);
    }

#undef ngx_cms_slots_arg

    argv[i].data = rec;
    argv[i].len = rec_len;
    i++;

    argv[i].data = p;
    p = ngx_sprintf(p, "%ui", smcf->max_meetings);
    argv[i].len = p - argv[i].data;
    i++;

    argv[i] = sr->space;
    i++;

    argv[i].data = p;
    argv[i].len = ngx_sprintf(p, "%uL", version) - p;
    i++;

    if (ngx_cms_redis_script_call(rc->decide, NULL,
                                  ngx_cms_slots_redis_decided, pd, 2, i, argv)
        != NGX_OK)
    {
        goto failed;
    }

    sr->redis_wait = 1;

    pd->wait.handler = ngx_cms_slots_redis_wait_handler;
    pd->wait.data = pd;
    pd->wait.log = ngx_cycle->log;
    ngx_add_timer(&pd->wait, NGX_CMS_SLOTS_WAIT_MAX);

    return NGX_CMS_SUSPEND;

failed:

    cln->handler = NULL;
    ngx_free(pd);

    return NGX_DECLINED;
}


static void
ngx_cms_slots_redis_cleanup(void *data)
{
    ngx_cms_slots_pending_t  *pd = data;

    pd->sr = NULL;
    pd->cln = NULL;

    /* nobody waits any more: the worker need not stay for the reply */

    if (pd->wait.timer_set) {
        ngx_del_timer(&pd->wait);
    }
}


static void
ngx_cms_slots_redis_wait_handler(ngx_event_t *ev)
{
    /* only there to keep an exiting worker: the reply or its timeout
     * comes from the Redis client */
}


static ngx_str_t *
ngx_cms_slots_reply_str(ngx_cms_redis_reply_t *reply, size_t i,
    ngx_str_t *s)
{
    redisReply  *e;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements <= i)
    {
        return NULL;
    }

    e = reply->element[i];

    if (e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_STATUS) {
        return NULL;
    }

    s->data = (u_char *) e->str;
    s->len = e->len;

    return s;
}


static void
ngx_cms_slots_redis_decided(ngx_cms_redis_reply_t *reply, ngx_str_t *error,
    void *data)
{
    ngx_cms_slots_pending_t  *pd = data;

    ngx_int_t                   rc;
    ngx_str_t                   act, rec, ver;
    ngx_log_t                  *log;
    ngx_cms_call_t             *call;
    ngx_cms_slots_req_t        *sr;
    ngx_cms_slots_main_conf_t  *smcf;

    smcf = pd->smcf;
    sr = pd->sr;

    log = sr ? ngx_cms_call_request(sr->call)->connection->log : smcf->log;

    if (pd->wait.timer_set) {
        ngx_del_timer(&pd->wait);
    }

    if (pd->cln) {
        pd->cln->handler = NULL;
    }

    ngx_str_null(&act);

    if (error == NULL
        && ngx_cms_slots_reply_str(reply, 0, &act) != NULL
        && ngx_cms_slots_reply_str(reply, 1, &rec) != NULL
        && ngx_cms_slots_reply_str(reply, 2, &ver) != NULL
        && rec.len)
    {
        /* what Redis knows of the slot is news for the zone, maybe */
        ngx_cms_slots_redis_apply(smcf, rec.data, rec.len, ver.data,
                                  ver.len, log);
    }

    if (sr == NULL) {
        /* the client went away: a reservation made for it is undone */

        if (act.len == 8 && ngx_strncmp(act.data, "checkout", 8) == 0) {
            (void) ngx_cms_slots_redis_commit(smcf, "checkout", pd->token,
                                              pd->token_len, 0, 0, 0,
                                              &pd->space, 0, NULL, NULL);
        }

        ngx_free(pd);
        return;
    }

    call = sr->call;

    sr->redis_wait = 0;
    ngx_memcpy(sr->redis_token, pd->token, pd->token_len);
    sr->redis_token_len = pd->token_len;

    ngx_free(pd);

    if (act.len == 0) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "cms slots: redis could not decide the PUT to space "
                      "\"%V\": %V; %s", &sr->space,
                      error ? error : &act,
                      smcf->fail_open ? "the zone decides"
                                      : "refused (cms_slot_redis_down "
                                        "closed)");

        rc = ngx_cms_slots_decide_local(call, smcf, sr, !smcf->fail_open);
        ngx_cms_resume(call, rc);
        return;
    }

    sr->redis = 1;

    if (act.len == 8 && ngx_strncmp(act.data, "checkout", 8) == 0) {
        sr->action = NGX_CMS_SLOT_ACT_CHECKOUT;

    } else if (act.len == 6 && ngx_strncmp(act.data, "extend", 6) == 0) {
        sr->action = NGX_CMS_SLOT_ACT_EXTEND;

    } else if (act.len == 7 && ngx_strncmp(act.data, "checkin", 7) == 0) {
        sr->action = NGX_CMS_SLOT_ACT_CHECKIN;

    } else if (act.len == 8 && ngx_strncmp(act.data, "conflict", 8) == 0) {
        sr->action = NGX_CMS_SLOT_ACT_CONFLICT;

    } else if (act.len == 5 && ngx_strncmp(act.data, "limit", 5) == 0) {
        sr->action = NGX_CMS_SLOT_ACT_CONFLICT;
        sr->limit = 1;

    } else {
        sr->action = NGX_CMS_SLOT_ACT_NONE;
    }

    rc = ngx_cms_slots_decided(call, smcf, sr);

    ngx_cms_resume(call, rc);
}


/* the bridge answered: end the reservation, share what changed */

void
ngx_cms_slots_redis_resolve(ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_slots_req_t *sr, ngx_uint_t ok, ngx_uint_t changed)
{
    ngx_str_t             reason, *user;
    ngx_cms_slots_hold_t  hold;

    if (!smcf->redis) {
        return;
    }

    if (!sr->redis) {
        /* the zone decided alone (Redis was down): tell it all */
        if (changed) {
            ngx_cms_slots_redis_publish(smcf, sr->pool, sr->index);
        }

        return;
    }

    switch (sr->action) {

    case NGX_CMS_SLOT_ACT_CHECKOUT:
        ngx_memzero(&hold, sizeof(ngx_cms_slots_hold_t));
        hold.state = NGX_CMS_SLOT_IN_USE;
        hold.key = sr->key;
        hold.name_key = sr->name_key;
        hold.since = ngx_time();
        hold.extended = hold.since;
        ngx_cms_slots_set_text(&hold.meeting, sr->meeting.data,
                               sr->meeting.len);

        if (sr->call) {
            user = ngx_cms_call_str(sr->call, NGX_CMS_CALL_USER);
            ngx_cms_slots_set_user(&hold.user, user->data, user->len);
        }

        (void) ngx_cms_slots_redis_commit(smcf, "checkout", sr->redis_token,
                                          sr->redis_token_len, ok, sr->pool,
                                          sr->index, NULL, 0, NULL, &hold);
        break;

    case NGX_CMS_SLOT_ACT_EXTEND:
        if (ok) {
            (void) ngx_cms_slots_redis_commit(smcf, "extend", (u_char *) "",
                                              0, 1, sr->pool, sr->index,
                                              NULL, sr->name_key, NULL,
                                              NULL);
        }
        break;

    case NGX_CMS_SLOT_ACT_CHECKIN:
        if (ok) {
            ngx_memzero(&hold, sizeof(ngx_cms_slots_hold_t));
            (void) ngx_cms_slots_redis_commit(smcf, "checkin", (u_char *) "",
                                              0, 1, sr->pool, sr->index,
                                              NULL, 0, NULL, &hold);

        } else if (changed) {
            ngx_str_set(&reason, "2");
            (void) ngx_cms_slots_redis_commit(smcf, "stuck", (u_char *) "",
                                              0, 1, sr->pool, sr->index,
                                              NULL, 0, &reason, NULL);
        }
        break;

    default:
        break;
    }
}


/* one field of a slot's record in Redis: a call, a stuck flag */

void
ngx_cms_slots_redis_field(ngx_cms_slots_main_conf_t *smcf, const char *op,
    ngx_uint_t npool, long index, uint64_t nk, ngx_str_t *arg)
{
    if (!ngx_cms_slots_redis_active(smcf)) {
        return;
    }

    (void) ngx_cms_slots_redis_commit(smcf, op, (u_char *) "", 0, 1, npool,
                                      index, NULL, nk, arg, NULL);
}


void
ngx_cms_slots_redis_publish(ngx_cms_slots_main_conf_t *smcf,
    ngx_uint_t npool, long index)
{
    if (!ngx_cms_slots_redis_active(smcf)) {
        return;
    }

    (void) ngx_cms_slots_redis_commit(smcf, "put", (u_char *) "", 0, 1,
                                      npool, index, NULL, 0, NULL, NULL);
}


/* a space just mapped: told to Redis unless Redis knows it already */

void
ngx_cms_slots_redis_publish_map(ngx_cms_slots_main_conf_t *smcf,
    ngx_uint_t npool, long index)
{
    if (!ngx_cms_slots_redis_active(smcf)) {
        return;
    }

    (void) ngx_cms_slots_redis_commit(smcf, "map", (u_char *) "", 0, 1,
                                      npool, index, NULL, 0, NULL, NULL);
}


void
ngx_cms_slots_redis_publish_pool(ngx_cms_slots_main_conf_t *smcf,
    ngx_uint_t npool)
{
    /*
     * A sync recreated the pool's spaces: they become known (and are
     * published) one by one as listings or reconciliation map them.
     */
}


void
ngx_cms_slots_redis_push_all(ngx_cms_slots_main_conf_t *smcf)
{
    ngx_uint_t             i, j, n;
    ngx_cms_slots_pool_t  *pool;

    if (!ngx_cms_slots_redis_active(smcf)) {
        return;
    }

    for (i = 0; i < NGX_CMS_SLOTS_MAX_POOLS; i++) {

        ngx_shmtx_lock(&smcf->shpool->mutex);
        pool = &smcf->sh->pools[i];
        n = (pool->used && pool->active) ? pool->nslots : 0;
        ngx_shmtx_unlock(&smcf->shpool->mutex);

        for (j = 0; j < n; j++) {
            ngx_cms_slots_redis_publish(smcf, i, pool->model.start + j);
        }
    }
}


void
ngx_cms_slots_redis_status(ngx_cms_slots_main_conf_t *smcf, ngx_str_t *out,
    ngx_pool_t *pool)
{
    if (!smcf->redis) {
        ngx_str_set(out, "{\"enabled\":false}");
        return;
    }

    if (ngx_cms_redis_available()) {
        ngx_str_set(out, "{\"enabled\":true,\"available\":true}");

    } else if (smcf->fail_open) {
        ngx_str_set(out, "{\"enabled\":true,\"available\":false,"
                         "\"degraded\":\"this instance decides alone\"}");
    } else {
        ngx_str_set(out, "{\"enabled\":true,\"available\":false,"
                         "\"degraded\":\"slot check-outs refused\"}");
    }
}


/*
 * One change script call (see the script): op, the reservation's token
 * ("" for none), whether the bridge said yes, the slot (the record is
 * taken from the zone), or a space id alone for a rollback of a slot
 * the zone lost meanwhile; nk: the holder's name key the change is for
 * (0: whoever holds it); arg: a call id or a stuck reason.
 */

static ngx_int_t
ngx_cms_slots_redis_commit(ngx_cms_slots_main_conf_t *smcf, const char *op,
    u_char *token, size_t token_len, ngx_uint_t ok, ngx_uint_t npool,
    long index, ngx_cms_slots_id_t *space, uint64_t nk, ngx_str_t *arg,
    ngx_cms_slots_hold_t *hold)
{
    u_char                      *rec, *keys;
    size_t                       rec_len;
    ngx_int_t                    rc;
    uint64_t                     version;
    ngx_str_t                    argv[14], name;
    ngx_pool_t                  *pool;
    ngx_cms_slots_pool_t        *sp;
    ngx_cms_slots_slot_t        *slot;
    ngx_cms_slots_redis_conf_t  *rcf;
    ngx_cms_slots_id_t           id;

    rcf = smcf->redis_scripts;

    pool = ngx_create_pool(4096, smcf->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    rec = ngx_pnalloc(pool, NGX_CMS_SLOTS_REC_MAX);
    keys = ngx_pnalloc(pool, 64);
    if (rec == NULL || keys == NULL) {
        goto failed;
    }

    rec_len = 0;
    version = 0;
    ngx_memzero(&id, sizeof(ngx_cms_slots_id_t));

    ngx_str_set(&argv[5], "0");
    ngx_str_set(&argv[6], "0");
    ngx_str_set(&argv[7], "0");
    ngx_str_null(&argv[8]);

    ngx_shmtx_lock(&smcf->shpool->mutex);

    if (space) {
        id = *space;

    } else {
        sp = &smcf->sh->pools[npool];

        if (sp->used && sp->active && index >= sp->model.start
            && index <= sp->model.end)
        {
            slot = &sp->slots[index - sp->model.start];
            id = slot->space;
            version = slot->version;

            /*
             * The deciding request knows its own holder better than the
             * zone, which a late message may have changed meanwhile.
             */

            if (hold == NULL) {
                hold = &slot->hold;
            }

            rec_len = ngx_cms_slots_record_locked(smcf, npool, index, hold,
                                                  rec,
                                                  NGX_CMS_SLOTS_REC_MAX);

            if (hold->state != NGX_CMS_SLOT_FREE) {
                argv[5].data = (u_char *) (hold->state == NGX_CMS_SLOT_STUCK
                                           ? "2" : "1");
                argv[5].len = 1;
            }

            /* 0 is "no key", as the scripts have it */

            if (hold->key) {
                argv[6].data = keys;
                argv[6].len = ngx_sprintf(keys, "%016xL", hold->key) - keys;
            }

            if (hold->name_key) {
                argv[7].data = keys + 16;
                argv[7].len = ngx_sprintf(keys + 16, "%016xL",
                                          hold->name_key)
                              - (keys + 16);
            }
        }
    }

    ngx_shmtx_unlock(&smcf->shpool->mutex);

    if (id.len == 0 || (rec_len == 0 && ngx_strcmp(op, "checkout") != 0)) {
        goto failed;
    }

    if (ngx_cms_slots_space_key(pool, id.data, id.len, &argv[0]) != NGX_OK) {
        goto failed;
    }

    ngx_str_set(&argv[1], "slots:held");
    if (ngx_cms_redis_key(pool, &argv[1], &argv[1]) != NGX_OK) {
        goto failed;
    }

    argv[2].data = (u_char *) op;
    argv[2].len = ngx_strlen(op);

    argv[3].data = token;
    argv[3].len = token_len;

    if (ok) {
        ngx_str_set(&argv[4], "1");
    } else {
        ngx_str_set(&argv[4], "0");
    }

    /* argv[5..7]: st, k, nk of the zone's record; a field change names
     * the holder it is for in nk ("" for any) */

    if (ngx_strcmp(op, "call") == 0 || ngx_strcmp(op, "uncall") == 0
        || ngx_strcmp(op, "extend") == 0 || ngx_strcmp(op, "stuck") == 0)
    {
        if (nk) {
            argv[7].data = keys + 32;
            argv[7].len = ngx_sprintf(keys + 32, "%016xL", nk) - (keys + 32);
        } else {
            ngx_str_set(&argv[7], "");
        }
    }

    argv[8].data = rec;
    argv[8].len = rec_len;

    argv[9].data = ngx_pnalloc(pool, id.len);
    if (argv[9].data == NULL) {
        goto failed;
    }

    argv[9].len = id.len;
    ngx_memcpy(argv[9].data, id.data, id.len);

    name = rcf->channel;
    if (ngx_cms_redis_key(pool, &name, &argv[10]) != NGX_OK) {
        goto failed;
    }

    argv[11].data = ngx_pnalloc(pool, NGX_TIME_T_LEN);
    if (argv[11].data == NULL) {
        goto failed;
    }

    argv[11].len = ngx_sprintf(argv[11].data, "%T", ngx_time())
                   - argv[11].data;

    if (arg) {
        argv[12] = *arg;
    } else {
        ngx_str_set(&argv[12], "");
    }

    argv[13].data = ngx_pnalloc(pool, NGX_INT64_LEN);
    if (argv[13].data == NULL) {
        goto failed;
    }

    argv[13].len = ngx_sprintf(argv[13].data, "%uL", version)
                   - argv[13].data;

    /* the strings are copied into the command: the pool may go now */

    rc = ngx_cms_redis_script_call(rcf->commit, NULL, NULL, NULL, 2, 14,
                                   argv);

    ngx_destroy_pool(pool);

    return rc;

failed:

    ngx_destroy_pool(pool);

    return NGX_ERROR;
}


/*
 * A slot's record, as text: the pool (so another instance can learn
 * it), the slot and its space, the holder.  Fields are separated by
 * 0x1f, which no name contains (it is replaced by a space if one does).
 */

static u_char *
ngx_cms_slots_rec_text(u_char *p, u_char *last, u_char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len && p < last; i++) {
        *p++ = (s[i] == NGX_CMS_SLOTS_SEP) ? ' ' : s[i];
    }

    if (p < last) {
        *p++ = NGX_CMS_SLOTS_SEP;
    }

    return p;
}


static size_t
ngx_cms_slots_record_locked(ngx_cms_slots_main_conf_t *smcf,
    ngx_uint_t npool, long index, ngx_cms_slots_hold_t *hold, u_char *buf,
    size_t size)
{
    u_char                *p, *last;
    ngx_cms_slots_pool_t  *pool;
    ngx_cms_slots_slot_t  *slot;

    pool = &smcf->sh->pools[npool];

    if (!pool->used || !pool->active || index < pool->model.start
        || index > pool->model.end)
    {
        return 0;
    }

    slot = &pool->slots[index - pool->model.start];

    if (slot->space.len == 0) {
        return 0;
    }

    if (hold == NULL) {
        hold = &slot->hold;
    }

    p = buf;
    last = buf + size;

    p = ngx_cms_slots_rec_text(p, last, pool->id.data, pool->id.len);
    p = ngx_slprintf(p, last, "%l\x1f%l\x1f", pool->model.start,
                     pool->model.end);
    p = ngx_cms_slots_rec_text(p, last, pool->model.prefix,
                               pool->model.prefix_len);
    p = ngx_cms_slots_rec_text(p, last, pool->model.suffix,
                               pool->model.suffix_len);
    p = ngx_slprintf(p, last, "%l\x1f", index);
    p = ngx_cms_slots_rec_text(p, last, slot->space.data, slot->space.len);
    p = ngx_slprintf(p, last, "%ui\x1f%ui\x1f%016xL\x1f%016xL\x1f%T\x1f%T\x1f",
                     hold->state, hold->stuck, hold->key,
                     hold->name_key, hold->since,
                     hold->extended);
    p = ngx_cms_slots_rec_text(p, last, hold->meeting.data,
                               hold->meeting.len);
    p = ngx_cms_slots_rec_text(p, last, hold->user.data,
                               hold->user.len);
    p = ngx_cms_slots_rec_text(p, last, hold->call.data,
                               hold->call.len);
    p = ngx_cms_slots_rec_text(p, last, slot->last_call.data,
                               slot->last_call.len);

    if (p == last) {
        return 0;
    }

    /* no separator after the last field */
    return p - 1 - buf;
}


/* the version of the slot's record the zone has applied last */

static uint64_t
ngx_cms_slots_version_locked(ngx_cms_slots_main_conf_t *smcf,
    ngx_uint_t npool, long index)
{
    ngx_cms_slots_pool_t  *pool;

    pool = &smcf->sh->pools[npool];

    return pool->slots[index - pool->model.start].version;
}


/* a record from Redis (a message, a decision's answer) into the zone */

static void
ngx_cms_slots_redis_apply(ngx_cms_slots_main_conf_t *smcf, u_char *rec,
    size_t len, u_char *ver, size_t ver_len, ngx_log_t *log)
{
    int                     rc;
    u_char                 *f[NGX_CMS_SLOTS_NFIELDS];
    size_t                  l[NGX_CMS_SLOTS_NFIELDS];
    long                    start, index;
    uint64_t                version;
    ngx_uint_t              i, n, state, newer;
    ngx_cms_slots_pool_t   *pool;
    ngx_cms_slots_slot_t   *slot;
    ngx_cms_slot_pool_t     model;
    ngx_cms_slot_record_t   r;

    /* split and checked by pure code (ngx_cms_slot_record.c, fuzzed) */

    /*
     * A version that does not parse (ngx_atoof()'s -1 read as the
     * largest version once) would make this record the newest forever:
     * no later change of the slot would ever be applied.  Corrupt.
     */

    if (ngx_cms_slot_record_version(ver, ver_len, &version)
        != NGX_CMS_SLOT_RECORD_OK)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "cms slots: slot record from redis with an invalid "
                      "version (%uz bytes, not a decimal number): ignored",
                      ver_len);
        return;
    }

    rc = ngx_cms_slot_record_parse(rec, len, NGX_CMS_SLOTS_ID_LEN, &r);

    if (rc == NGX_CMS_SLOT_RECORD_MALFORMED) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "cms slots: malformed slot record from redis");
        return;
    }

    if (rc != NGX_CMS_SLOT_RECORD_OK) {
        return;
    }

    for (i = 0; i < NGX_CMS_SLOTS_NFIELDS; i++) {
        f[i] = (u_char *) r.f[i];
        l[i] = r.l[i];
    }

    model = r.model;
    start = model.start;
    index = r.index;
    state = r.state;

    newer = 0;

    ngx_shmtx_lock(&smcf->shpool->mutex);

    /* the pool: ours by id, or one naming the same spaces, or new */

    pool = ngx_cms_slots_pool_by_id_locked(smcf, f[0], l[0], &n);

    if (pool == NULL) {
        for (n = 0; n < NGX_CMS_SLOTS_MAX_POOLS; n++) {
            pool = &smcf->sh->pools[n];

            if (pool->used && pool->active
                && ngx_cms_slot_pool_same(&pool->model, &model))
            {
                break;
            }
        }

        if (n == NGX_CMS_SLOTS_MAX_POOLS) {
            pool = ngx_cms_slots_pool_new_locked(smcf, f[0], l[0], &n);
            if (pool == NULL) {
                goto done;
            }

            pool->def = model;
            pool->defined = 1;
        }
    }

    if (!pool->active || !ngx_cms_slot_pool_same(&pool->model, &model)) {
        if (ngx_cms_slots_pool_activate_locked(smcf, pool, &model)
            != NGX_OK)
        {
            goto done;
        }
    }

    slot = &pool->slots[index - start];

    if (slot->space.len != l[6]
        || ngx_strncmp(slot->space.data, f[6], l[6]) != 0)
    {
        ngx_cms_slots_map_locked(smcf, pool, index, f[6], l[6]);
        slot->version = 0;
    }

    if (version <= slot->version) {
        goto done;
    }

    newer = 1;

    slot->version = version;
    slot->hold.state = state;
    slot->hold.stuck = ngx_atoi(f[8], l[8]);
    slot->hold.key = ngx_cms_slots_hex(f[9], l[9]);
    slot->hold.name_key = ngx_cms_slots_hex(f[10], l[10]);
    slot->hold.since = ngx_atotm(f[11], l[11]);
    slot->hold.extended = ngx_atotm(f[12], l[12]);
    ngx_cms_slots_set_text(&slot->hold.meeting, f[13], l[13]);
    ngx_cms_slots_set_user(&slot->hold.user, f[14], l[14]);
    ngx_cms_slots_set_id(&slot->hold.call, f[15], l[15]);
    ngx_cms_slots_set_id(&slot->last_call, f[16], l[16]);

    if (slot->hold.since == NGX_ERROR) {
        slot->hold.since = 0;
    }

    if (slot->hold.extended == NGX_ERROR) {
        slot->hold.extended = 0;
    }

    if (slot->hold.stuck == (ngx_uint_t) NGX_ERROR) {
        slot->hold.stuck = 0;
    }

    slot->changed_ms = ngx_cms_slots_now_ms();

done:

    ngx_shmtx_unlock(&smcf->shpool->mutex);

    if (newer) {
        ngx_log_debug4(NGX_LOG_DEBUG_HTTP, log, 0,
                       "cms slots: redis record v%uL for slot %l of \"%*s\"",
                       version, index, l[0], f[0]);
    }
}


static void
ngx_cms_slots_redis_message(ngx_str_t *channel, ngx_str_t *message,
    void *data)
{
    ngx_cms_slots_main_conf_t  *smcf = data;

    u_char  *sep;

    sep = ngx_strlchr(message->data, message->data + message->len,
                      NGX_CMS_SLOTS_SEP);
    if (sep == NULL) {
        return;
    }

    ngx_cms_slots_redis_apply(smcf, sep + 1,
                              message->data + message->len - sep - 1,
                              message->data, sep - message->data, smcf->log);
}


/* Redis is back (or there for the first time): CMS says what is true */

static void
ngx_cms_slots_redis_watch(ngx_uint_t available, void *data)
{
    ngx_cms_slots_main_conf_t  *smcf = data;

    if (!available) {
        ngx_log_error(NGX_LOG_WARN, smcf->log, 0,
                      "cms slots: redis is gone: %s",
                      smcf->fail_open ? "this instance decides alone"
                                      : "slot check-outs are refused");
        return;
    }

    if (ngx_cms_slots_bridge_available(smcf)) {
        ngx_shmtx_lock(&smcf->shpool->mutex);
        smcf->sh->reconcile_wanted = 1;
        ngx_shmtx_unlock(&smcf->shpool->mutex);

        if (!smcf->tick.timer_set || smcf->tick.timer.key
                                     > ngx_current_msec + 100)
        {
            if (smcf->tick.timer_set) {
                ngx_del_timer(&smcf->tick);
            }

            ngx_add_timer(&smcf->tick, 100);
        }

        return;
    }

    ngx_cms_slots_redis_push_all(smcf);
}


static ngx_int_t
ngx_cms_slots_space_key(ngx_pool_t *pool, u_char *id, size_t len,
    ngx_str_t *key)
{
    ngx_str_t  name;

    name.data = ngx_pnalloc(pool, sizeof("slots:space:") - 1 + len);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    name.len = ngx_cpymem(ngx_cpymem(name.data, "slots:space:", 12), id, len)
               - name.data;

    return ngx_cms_redis_key(pool, &name, key);
}


static uint64_t
ngx_cms_slots_hex(u_char *p, size_t len)
{
    u_char    c;
    size_t    i;
    uint64_t  v;

    v = 0;

    for (i = 0; i < len && i < 16; i++) {
        c = p[i] | 0x20;

        if (c >= '0' && c <= '9') {
            v = (v << 4) | (uint64_t) (c - '0');

        } else if (c >= 'a' && c <= 'f') {
            v = (v << 4) | (uint64_t) (c - 'a' + 10);

        } else {
            return 0;
        }
    }

    return v;
}


