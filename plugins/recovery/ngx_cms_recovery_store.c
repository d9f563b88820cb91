
/*
 * ngx_cms recovery plugin: the meetings worth recovering.
 *
 * In the shared zone (a fixed table of cms_recovery_max_calls meetings,
 * each with up to NGX_CMS_REC_MAX_LEGS dial-outs), so every worker of
 * this instance knows them; and, with cms_redis, in Redis, so the
 * instance that wins a failover knows the meetings another instance
 * proxied.  Every Redis change is one call of one Lua script (its "op"
 * first), sent without waiting: the request that taught us is not
 * delayed, and a lost write costs the recovery of one meeting, nothing
 * else.
 *
 * Redis keys, below <prefix>recovery: (a day's expiry, so a meeting
 * nobody ended does not stay forever):
 *
 *   calls            SET of the call ids
 *   m:<call>         HASH: "call" = "<coSpace>\t<bridge>\t<body>",
 *                    "leg:<id>" = "<l|p>\t<body>"
 *   space:<coSpace>  the call running on it
 *   leg:<id>         the call of a dial-out
 *   map:<old id>     the id a recovered call or dial-out has now
 *   maps             HASH of the same, read whole by a worker when Redis
 *                    becomes available (ngx_cms_recovery_map.c); a map
 *                    older than a day leaves it (maps:at, a ZSET of the
 *                    times they were added)
 *   claim:<upstream>:<epoch>   who recovers after that failover
 *
 * The bodies are what the bridge got: a dial-out's may hold a PIN
 * (dtmfSequence), so they are never logged nor put into events.
 */


#include "ngx_cms_recovery.h"


static ngx_cms_rec_meeting_t *ngx_cms_rec_find_locked(ngx_cms_rec_sh_t *sh,
    ngx_str_t *call);
static void ngx_cms_rec_set_id(ngx_cms_rec_id_t *id, ngx_str_t *s);
static void ngx_cms_rec_redis_op(ngx_uint_t argc, ngx_str_t *args);
static ngx_int_t ngx_cms_rec_meeting_add(ngx_pool_t *pool, ngx_array_t *out,
    ngx_str_t *call, ngx_str_t *record);


static ngx_str_t  ngx_cms_rec_lua = ngx_string(
    "local b = KEYS[1] "
    "local op = ARGV[1] "
    "local ttl = tonumber(ARGV[2]) "
    "local function uncall(c) "
    "  local rec = redis.call('HGET', b .. 'm:' .. c, 'call') "
    "  if rec then "
    "    local s = string.match(rec, '^([^\\t]*)') "
    "    if s and redis.call('GET', b .. 'space:' .. s) == c then "
    "      redis.call('DEL', b .. 'space:' .. s) "
    "    end "
    "  end "
    "  redis.call('DEL', b .. 'm:' .. c) "
    "  redis.call('SREM', b .. 'calls', c) "
    "end "
    "if op == 'call' then "
    "  local old = redis.call('GET', b .. 'space:' .. ARGV[4]) "
    "  if old and old ~= ARGV[3] then uncall(old) end "
    "  redis.call('DEL', b .. 'm:' .. ARGV[3]) "
    "  redis.call('HSET', b .. 'm:' .. ARGV[3], 'call', ARGV[5]) "
    "  redis.call('EXPIRE', b .. 'm:' .. ARGV[3], ttl) "
    "  redis.call('SADD', b .. 'calls', ARGV[3]) "
    "  redis.call('SET', b .. 'space:' .. ARGV[4], ARGV[3], 'EX', ttl) "
    "  return 1 "
    "elseif op == 'leg' then "
    "  if redis.call('EXISTS', b .. 'm:' .. ARGV[3]) == 0 then return 0 end "
    "  redis.call('HSET', b .. 'm:' .. ARGV[3], 'leg:' .. ARGV[4], ARGV[5]) "
    "  redis.call('SET', b .. 'leg:' .. ARGV[4], ARGV[3], 'EX', ttl) "
    "  return 1 "
    "elseif op == 'unleg' then "
    "  local c = redis.call('GET', b .. 'leg:' .. ARGV[3]) "
    "  if not c then return 0 end "
    "  redis.call('HDEL', b .. 'm:' .. c, 'leg:' .. ARGV[3]) "
    "  redis.call('DEL', b .. 'leg:' .. ARGV[3]) "
    "  return 1 "
    "elseif op == 'uncall' then "
    "  uncall(ARGV[3]) "
    "  return 1 "
    "elseif op == 'unspace' then "
    "  local c = redis.call('GET', b .. 'space:' .. ARGV[3]) "
    "  if c then uncall(c) return 1 end "
    "  return 0 "
    "elseif op == 'moved' then "
    "  uncall(ARGV[3]) "
    "  redis.call('HSET', b .. 'm:' .. ARGV[4], 'call', ARGV[6]) "
    "  redis.call('EXPIRE', b .. 'm:' .. ARGV[4], ttl) "
    "  redis.call('SADD', b .. 'calls', ARGV[4]) "
    "  redis.call('SET', b .. 'space:' .. ARGV[5], ARGV[4], 'EX', ttl) "
    "  return 1 "
    "elseif op == 'map' then "
    "  local now = tonumber(ARGV[5]) "
    "  redis.call('SET', b .. 'map:' .. ARGV[3], ARGV[4], 'EX', ttl) "
    "  redis.call('HSET', b .. 'maps', ARGV[3], ARGV[4]) "
    "  redis.call('ZADD', b .. 'maps:at', now, ARGV[3]) "
    "  for _, o in ipairs(redis.call('ZRANGEBYSCORE', b .. 'maps:at', "
    "                               '-inf', now - ttl)) do "
    "    redis.call('HDEL', b .. 'maps', o) "
    "  end "
    "  redis.call('ZREMRANGEBYSCORE', b .. 'maps:at', '-inf', now - ttl) "
    "  redis.call('EXPIRE', b .. 'maps', ttl) "
    "  redis.call('EXPIRE', b .. 'maps:at', ttl) "
    "  return 1 "
    "elseif op == 'maps' then "
    "  return redis.call('HGETALL', b .. 'maps') "
    "elseif op == 'claim' then "
    "  local ok = redis.call('SET', b .. 'claim:' .. ARGV[3], ARGV[4], "
    "                        'NX', 'EX', ttl) "
    "  if ok then return 1 end "
    "  return 0 "
    "elseif op == 'load' then "
    "  local out = {} "
    "  for _, c in ipairs(redis.call('SMEMBERS', b .. 'calls')) do "
    "    local h = redis.call('HGETALL', b .. 'm:' .. c) "
    "    if #h == 0 then "
    "      redis.call('SREM', b .. 'calls', c) "
    "    else "
    "      table.insert(out, c) "
    "      table.insert(out, h) "
    "    end "
    "  end "
    "  return out "
    "end "
    "return redis.error_reply('unknown op') ");


ngx_int_t
ngx_cms_rec_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_cms_rec_main_conf_t  *ormcf = data;

    ngx_slab_pool_t          *shpool;
    ngx_cms_rec_sh_t         *sh;
    ngx_cms_rec_main_conf_t  *rmcf;

    rmcf = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (ormcf && ormcf->sh && ormcf->sh->max == rmcf->max_calls
        && ormcf->sh->maps)
    {
        /* a reload: the meetings live on */
        rmcf->shpool = ormcf->shpool;
        rmcf->sh = ormcf->sh;
        return NGX_OK;
    }

    rmcf->shpool = shpool;

    if (zone->shm.exists) {
        rmcf->sh = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_cms_rec_sh_t)
                         + rmcf->max_calls * sizeof(ngx_cms_rec_meeting_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    sh->max = rmcf->max_calls;
    sh->maps_max = rmcf->max_calls * (1 + NGX_CMS_REC_MAX_LEGS);

    sh->maps = ngx_slab_calloc(shpool, ngx_cms_rec_maps_size(rmcf));
    if (sh->maps == NULL) {
        return NGX_ERROR;
    }

    shpool->data = sh;
    rmcf->sh = sh;

    return NGX_OK;
}


ngx_int_t
ngx_cms_rec_redis_conf(ngx_conf_t *cf, ngx_cms_rec_main_conf_t *rmcf)
{
    if (rmcf->redis == NGX_CONF_UNSET) {
        rmcf->redis = ngx_cms_redis_configured(cf);
    }

    if (!rmcf->redis) {
        return NGX_OK;
    }

    if (!ngx_cms_redis_configured(cf)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cms_recovery_redis on\" needs cms_redis");
        return NGX_ERROR;
    }

    rmcf->script = ngx_cms_redis_script_add(cf, &ngx_cms_rec_lua);

    return rmcf->script ? NGX_OK : NGX_ERROR;
}


static void
ngx_cms_rec_set_id(ngx_cms_rec_id_t *id, ngx_str_t *s)
{
    id->len = ngx_min(s->len, NGX_CMS_REC_ID_LEN);
    ngx_memcpy(id->data, s->data, id->len);
}


static ngx_uint_t
ngx_cms_rec_id_is(ngx_cms_rec_id_t *id, ngx_str_t *s)
{
    return id->len == s->len && ngx_strncmp(id->data, s->data, s->len) == 0;
}


static void
ngx_cms_rec_ended_locked(ngx_cms_rec_sh_t *sh, ngx_str_t *id)
{
    ngx_cms_rec_set_id(&sh->ended[sh->ended_next++ % NGX_CMS_REC_ENDED], id);
}


static ngx_uint_t
ngx_cms_rec_has_ended_locked(ngx_cms_rec_sh_t *sh, ngx_str_t *id)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_CMS_REC_ENDED; i++) {
        if (ngx_cms_rec_id_is(&sh->ended[i], id)) {
            return 1;
        }
    }

    return 0;
}


static ngx_cms_rec_meeting_t *
ngx_cms_rec_find_locked(ngx_cms_rec_sh_t *sh, ngx_str_t *call)
{
    ngx_uint_t  i;

    for (i = 0; i < sh->max; i++) {
        if (sh->m[i].used && ngx_cms_rec_id_is(&sh->m[i].call, call)) {
            return &sh->m[i];
        }
    }

    return NULL;
}


void
ngx_cms_rec_track_call(ngx_str_t *call, ngx_str_t *space, ngx_str_t *bridge,
    ngx_str_t *params, ngx_log_t *log)
{
    u_char                   *p;
    ngx_str_t                 args[5], rec;
    ngx_uint_t                i, full;
    ngx_cms_rec_sh_t         *sh;
    ngx_cms_rec_meeting_t    *m, *slot;
    ngx_cms_rec_main_conf_t  *rmcf;

    rmcf = ngx_cms_rec_conf();
    sh = rmcf->sh;

    ngx_shmtx_lock(&rmcf->shpool->mutex);

    slot = NULL;

    for (i = 0; i < sh->max; i++) {
        m = &sh->m[i];

        if (m->used && ngx_cms_rec_id_is(&m->space, space)) {
            /* a new call on the coSpace: the meeting there now */
            m->used = 0;
            sh->tracked--;
        }

        if (!m->used && slot == NULL) {
            slot = m;
        }
    }

    full = (slot == NULL);

    if (slot) {
        m = slot;
        ngx_memzero(m, sizeof(ngx_cms_rec_meeting_t));
        m->used = 1;
        m->since = ngx_time();
        ngx_cms_rec_set_id(&m->call, call);
        ngx_cms_rec_set_id(&m->first, call);
        ngx_cms_rec_set_id(&m->space, space);
        ngx_cms_rec_set_id(&m->bridge, bridge);
        m->len = params->len;
        ngx_memcpy(m->params, params->data, params->len);
        sh->tracked++;

    } else {
        sh->full++;
    }

    ngx_shmtx_unlock(&rmcf->shpool->mutex);

    if (full) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "cms recovery: call \"%V\" on coSpace \"%V\" is not "
                      "kept for recovery: %ui meetings already "
                      "(cms_recovery_max_calls)", call, space, sh->max);
    }

    if (rmcf->script == NULL) {
        return;
    }

    rec.len = space->len + bridge->len + params->len + 2;
    rec.data = ngx_alloc(rec.len, log);
    if (rec.data == NULL) {
        return;
    }

    p = ngx_cpymem(rec.data, space->data, space->len);
    *p++ = '\t';
    p = ngx_cpymem(p, bridge->data, bridge->len);
    *p++ = '\t';
    ngx_memcpy(p, params->data, params->len);

    ngx_str_set(&args[0], "call");
    args[1] = *call;
    args[2] = *space;
    args[3] = rec;

    ngx_cms_rec_redis_op(4, args);

    ngx_free(rec.data);
}


void
ngx_cms_rec_track_leg(ngx_str_t *call, ngx_str_t *leg, u_char kind,
    ngx_str_t *params, ngx_log_t *log)
{
    ngx_str_t                 args[4], rec;
    ngx_cms_rec_leg_t        *l;
    ngx_cms_rec_meeting_t    *m;
    ngx_cms_rec_main_conf_t  *rmcf;

    rmcf = ngx_cms_rec_conf();

    ngx_shmtx_lock(&rmcf->shpool->mutex);

    m = ngx_cms_rec_find_locked(rmcf->sh, call);

    if (m && m->nlegs < NGX_CMS_REC_MAX_LEGS) {
        l = &m->legs[m->nlegs++];
        ngx_cms_rec_set_id(&l->id, leg);
        l->kind = kind;
        l->len = params->len;
        ngx_memcpy(l->params, params->data, params->len);
        m = NULL;
    }

    ngx_shmtx_unlock(&rmcf->shpool->mutex);

    if (m) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "cms recovery: dial-out \"%V\" of call \"%V\" is not "
                      "kept for recovery: %d already", leg, call,
                      NGX_CMS_REC_MAX_LEGS);
    }

    if (rmcf->script == NULL) {
        return;
    }

    /* Redis knows it, if the call was made through another instance */

    rec.len = params->len + 2;
    rec.data = ngx_alloc(rec.len, log);
    if (rec.data == NULL) {
        return;
    }

    rec.data[0] = kind;
    rec.data[1] = '\t';
    ngx_memcpy(rec.data + 2, params->data, params->len);

    ngx_str_set(&args[0], "leg");
    args[1] = *call;
    args[2] = *leg;
    args[3] = rec;

    ngx_cms_rec_redis_op(4, args);

    ngx_free(rec.data);
}


void
ngx_cms_rec_forget_leg(ngx_str_t *leg)
{
    ngx_str_t                 args[2];
    ngx_uint_t                i, j;
    ngx_cms_rec_sh_t         *sh;
    ngx_cms_rec_meeting_t    *m;
    ngx_cms_rec_main_conf_t  *rmcf;

    rmcf = ngx_cms_rec_conf();
    sh = rmcf->sh;

    ngx_shmtx_lock(&rmcf->shpool->mutex);

    ngx_cms_rec_ended_locked(sh, leg);

    for (i = 0; i < sh->max; i++) {
        m = &sh->m[i];

        if (!m->used) {
            continue;
        }

        for (j = 0; j < m->nlegs; j++) {
            if (ngx_cms_rec_id_is(&m->legs[j].id, leg)) {
                ngx_memmove(&m->legs[j], &m->legs[j + 1],
                            (m->nlegs - j - 1) * sizeof(ngx_cms_rec_leg_t));
                m->nlegs--;
                break;
            }
        }
    }

    ngx_shmtx_unlock(&rmcf->shpool->mutex);

    ngx_str_set(&args[0], "unleg");
    args[1] = *leg;

    ngx_cms_rec_redis_op(2, args);
}


void
ngx_cms_rec_forget_call(ngx_str_t *call)
{
    ngx_str_t                 args[2];
    ngx_cms_rec_meeting_t    *m;
    ngx_cms_rec_main_conf_t  *rmcf;

    rmcf = ngx_cms_rec_conf();

    ngx_shmtx_lock(&rmcf->shpool->mutex);

    ngx_cms_rec_ended_locked(rmcf->sh, call);

    m = ngx_cms_rec_find_locked(rmcf->sh, call);

    if (m) {
        m->used = 0;
        rmcf->sh->tracked--;
    }

    ngx_shmtx_unlock(&rmcf->shpool->mutex);

    ngx_str_set(&args[0], "uncall");
    args[1] = *call;

    ngx_cms_rec_redis_op(2, args);
}


void
ngx_cms_rec_forget_space(ngx_str_t *space)
{
    ngx_str_t                 args[2], s;
    ngx_uint_t                i;
    ngx_cms_rec_sh_t         *sh;
    ngx_cms_rec_main_conf_t  *rmcf;

    rmcf = ngx_cms_rec_conf();
    sh = rmcf->sh;

    ngx_shmtx_lock(&rmcf->shpool->mutex);

    for (i = 0; i < sh->max; i++) {
        if (sh->m[i].used && ngx_cms_rec_id_is(&sh->m[i].space, space)) {
            sh->m[i].used = 0;
            sh->tracked--;
            s.data = sh->m[i].call.data;
            s.len = sh->m[i].call.len;
            ngx_cms_rec_ended_locked(sh, &s);
        }
    }

    ngx_shmtx_unlock(&rmcf->shpool->mutex);

    ngx_str_set(&args[0], "unspace");
    args[1] = *space;

    ngx_cms_rec_redis_op(2, args);
}


/*
 * Is the call (and, with leg, that dial-out of it) still to be
 * recovered?  Asked before every step of a recovery, so a meeting ended
 * or a dial-out hung up meanwhile through this instance is skipped.  A
 * call this instance never saw (it came from Redis) is taken as it is,
 * unless its end passed here.
 */

ngx_uint_t
ngx_cms_rec_is_tracked(ngx_str_t *call, ngx_str_t *leg)
{
    ngx_uint_t                i, rc;
    ngx_cms_rec_sh_t         *sh;
    ngx_cms_rec_meeting_t    *m;
    ngx_cms_rec_main_conf_t  *rmcf;

    rmcf = ngx_cms_rec_conf();
    if (rmcf == NULL) {
        return 0;
    }

    sh = rmcf->sh;

    ngx_shmtx_lock(&rmcf->shpool->mutex);

    if (ngx_cms_rec_has_ended_locked(sh, call)
        || (leg && ngx_cms_rec_has_ended_locked(sh, leg)))
    {
        rc = 0;

    } else {
        rc = 1;
        m = ngx_cms_rec_find_locked(sh, call);

        if (m && leg) {
            rc = 0;

            for (i = 0; i < m->nlegs; i++) {
                if (ngx_cms_rec_id_is(&m->legs[i].id, leg)) {
                    rc = 1;
                    break;
                }
            }
        }
    }

    ngx_shmtx_unlock(&rmcf->shpool->mutex);

    return rc;
}


/* a recovered call: its new id and bridge, its dial-outs to come */

void
ngx_cms_rec_moved(ngx_str_t *old, ngx_str_t *new_id, ngx_str_t *space,
    ngx_str_t *bridge, ngx_str_t *params)
{
    u_char                   *p;
    ngx_str_t                 args[5], rec;
    ngx_cms_rec_sh_t         *sh;
    ngx_cms_rec_meeting_t    *m;
    ngx_cms_rec_main_conf_t  *rmcf;

    rmcf = ngx_cms_rec_conf();
    if (rmcf == NULL) {
        return;
    }

    sh = rmcf->sh;

    ngx_shmtx_lock(&rmcf->shpool->mutex);

    m = ngx_cms_rec_find_locked(sh, old);

    if (m) {
        ngx_cms_rec_set_id(&m->call, new_id);
        ngx_cms_rec_set_id(&m->bridge, bridge);
        m->nlegs = 0;
        m->recoveries++;
    }

    ngx_shmtx_unlock(&rmcf->shpool->mutex);

    if (m == NULL) {
        /* a meeting of another instance: this one keeps it from now */
        ngx_cms_rec_track_call(new_id, space, bridge, params,
                               ngx_cycle->log);
    }

    if (rmcf->script == NULL) {
        return;
    }

    rec.len = space->len + bridge->len + params->len + 2;
    rec.data = ngx_alloc(rec.len, ngx_cycle->log);
    if (rec.data == NULL) {
        return;
    }

    p = ngx_cpymem(rec.data, space->data, space->len);
    *p++ = '\t';
    p = ngx_cpymem(p, bridge->data, bridge->len);
    *p++ = '\t';
    ngx_memcpy(p, params->data, params->len);

    ngx_str_set(&args[0], "moved");
    args[1] = *old;
    args[2] = *new_id;
    args[3] = *space;
    args[4] = rec;

    ngx_cms_rec_redis_op(5, args);

    ngx_free(rec.data);
}


void
ngx_cms_rec_count(ngx_uint_t *counter, ngx_uint_t n)
{
    ngx_cms_rec_main_conf_t  *rmcf;

    rmcf = ngx_cms_rec_conf();
    if (rmcf == NULL) {
        return;
    }

    ngx_shmtx_lock(&rmcf->shpool->mutex);
    *counter += n;
    ngx_shmtx_unlock(&rmcf->shpool->mutex);
}


/* the meetings of one bridge, copied out of the zone */

ngx_int_t
ngx_cms_rec_snapshot(ngx_pool_t *pool, ngx_str_t *bridge, ngx_array_t *out)
{
    u_char                     *p;
    ngx_uint_t                  i, j;
    ngx_cms_rec_sh_t           *sh;
    ngx_cms_rec_leg_t          *l;
    ngx_cms_rec_meeting_t      *m;
    ngx_cms_rec_run_leg_t      *rl;
    ngx_cms_rec_main_conf_t    *rmcf;
    ngx_cms_rec_run_meeting_t  *rm;

    rmcf = ngx_cms_rec_conf();
    sh = rmcf->sh;

    ngx_shmtx_lock(&rmcf->shpool->mutex);

    for (i = 0; i < sh->max; i++) {
        m = &sh->m[i];

        if (!m->used || !ngx_cms_rec_id_is(&m->bridge, bridge)) {
            continue;
        }

        rm = ngx_array_push(out);
        if (rm == NULL) {
            goto failed;
        }

        ngx_memzero(rm, sizeof(ngx_cms_rec_run_meeting_t));

        p = ngx_pnalloc(pool, m->call.len + m->space.len + m->bridge.len
                              + m->len);
        if (p == NULL
            || ngx_array_init(&rm->legs, pool, m->nlegs + 1,
                              sizeof(ngx_cms_rec_run_leg_t))
               != NGX_OK)
        {
            goto failed;
        }

        rm->call.data = p;
        rm->call.len = m->call.len;
        p = ngx_cpymem(p, m->call.data, m->call.len);
        rm->space.data = p;
        rm->space.len = m->space.len;
        p = ngx_cpymem(p, m->space.data, m->space.len);
        rm->bridge.data = p;
        rm->bridge.len = m->bridge.len;
        p = ngx_cpymem(p, m->bridge.data, m->bridge.len);
        rm->params.data = p;
        rm->params.len = m->len;
        ngx_memcpy(p, m->params, m->len);

        for (j = 0; j < m->nlegs; j++) {
            l = &m->legs[j];

            rl = ngx_array_push(&rm->legs);
            p = ngx_pnalloc(pool, l->id.len + l->len);
            if (rl == NULL || p == NULL) {
                goto failed;
            }

            ngx_memzero(rl, sizeof(ngx_cms_rec_run_leg_t));
            rl->kind = l->kind;
            rl->id.data = p;
            rl->id.len = l->id.len;
            p = ngx_cpymem(p, l->id.data, l->id.len);
            rl->params.data = p;
            rl->params.len = l->len;
            ngx_memcpy(p, l->params, l->len);
        }
    }

    ngx_shmtx_unlock(&rmcf->shpool->mutex);

    return NGX_OK;

failed:

    ngx_shmtx_unlock(&rmcf->shpool->mutex);

    return NGX_ERROR;
}


/* the meetings of one bridge, from the "load" op's answer */

ngx_int_t
ngx_cms_rec_parse_load(ngx_pool_t *pool, ngx_cms_redis_reply_t *reply,
    ngx_str_t *bridge, ngx_array_t *out)
{
    u_char                     *p;
    size_t                      i, j;
    ngx_str_t                   call, field, value;
    ngx_cms_redis_reply_t      *h;
    ngx_cms_rec_run_leg_t      *rl;
    ngx_cms_rec_run_meeting_t  *rm;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return NGX_ERROR;
    }

    for (i = 0; i + 1 < reply->elements; i += 2) {
        if (reply->element[i]->type != REDIS_REPLY_STRING
            || reply->element[i + 1]->type != REDIS_REPLY_ARRAY)
        {
            return NGX_ERROR;
        }

        call.data = (u_char *) reply->element[i]->str;
        call.len = reply->element[i]->len;
        h = reply->element[i + 1];
        rm = NULL;

        /* the call first: its bridge says whether it is of interest */

        for (j = 0; j + 1 < h->elements; j += 2) {
            field.data = (u_char *) h->element[j]->str;
            field.len = h->element[j]->len;

            if (field.len == 4 && ngx_strncmp(field.data, "call", 4) == 0) {
                value.data = (u_char *) h->element[j + 1]->str;
                value.len = h->element[j + 1]->len;

                if (ngx_cms_rec_meeting_add(pool, out, &call, &value)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                rm = (ngx_cms_rec_run_meeting_t *) out->elts + out->nelts - 1;
                break;
            }
        }

        if (rm == NULL) {
            continue;
        }

        if (rm->bridge.len != bridge->len
            || ngx_strncmp(rm->bridge.data, bridge->data, bridge->len) != 0)
        {
            out->nelts--;
            continue;
        }

        for (j = 0; j + 1 < h->elements; j += 2) {
            field.data = (u_char *) h->element[j]->str;
            field.len = h->element[j]->len;
            value.data = (u_char *) h->element[j + 1]->str;
            value.len = h->element[j + 1]->len;

            if (field.len <= 4 || ngx_strncmp(field.data, "leg:", 4) != 0
                || value.len < 2 || value.data[1] != '\t')
            {
                continue;
            }

            rl = ngx_array_push(&rm->legs);
            p = ngx_pnalloc(pool, field.len + value.len);
            if (rl == NULL || p == NULL) {
                return NGX_ERROR;
            }

            ngx_memzero(rl, sizeof(ngx_cms_rec_run_leg_t));
            rl->kind = value.data[0];
            rl->id.data = p;
            rl->id.len = field.len - 4;
            p = ngx_cpymem(p, field.data + 4, field.len - 4);
            rl->params.data = p;
            rl->params.len = value.len - 2;
            ngx_memcpy(p, value.data + 2, value.len - 2);
        }
    }

    return NGX_OK;
}


/* "<coSpace>\t<bridge>\t<body>" */

static ngx_int_t
ngx_cms_rec_meeting_add(ngx_pool_t *pool, ngx_array_t *out, ngx_str_t *call,
    ngx_str_t *record)
{
    u_char                     *p, *t1, *t2, *last;
    ngx_cms_rec_run_meeting_t  *rm;

    last = record->data + record->len;
    t1 = ngx_strlchr(record->data, last, '\t');
    t2 = t1 ? ngx_strlchr(t1 + 1, last, '\t') : NULL;

    if (t2 == NULL) {
        return NGX_OK;
    }

    rm = ngx_array_push(out);
    p = ngx_pnalloc(pool, call->len + record->len);
    if (rm == NULL || p == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(rm, sizeof(ngx_cms_rec_run_meeting_t));

    if (ngx_array_init(&rm->legs, pool, 4, sizeof(ngx_cms_rec_run_leg_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rm->call.data = p;
    rm->call.len = call->len;
    p = ngx_cpymem(p, call->data, call->len);
    rm->space.data = p;
    rm->space.len = t1 - record->data;
    p = ngx_cpymem(p, record->data, rm->space.len);
    rm->bridge.data = p;
    rm->bridge.len = t2 - t1 - 1;
    p = ngx_cpymem(p, t1 + 1, rm->bridge.len);
    rm->params.data = p;
    rm->params.len = last - t2 - 1;
    ngx_memcpy(p, t2 + 1, rm->params.len);

    return NGX_OK;
}


/* one op of the script: <prefix>recovery: as the key, then op, ttl, args */

ngx_int_t
ngx_cms_rec_redis_call(ngx_cms_redis_handler_pt handler, void *data,
    ngx_uint_t argc, ngx_str_t *args)
{
    u_char                    ttl[NGX_INT_T_LEN];
    ngx_str_t                 argv[8], name;
    ngx_uint_t                i;
    ngx_pool_t               *pool;
    ngx_int_t                 rc;
    ngx_cms_rec_main_conf_t  *rmcf;

    rmcf = ngx_cms_rec_conf();

    if (rmcf == NULL || rmcf->script == NULL || argc > 6
        || ngx_process != NGX_PROCESS_WORKER)
    {
        return NGX_DECLINED;
    }

    pool = ngx_create_pool(512, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&name, "recovery:");

    if (ngx_cms_redis_key(pool, &name, &argv[0]) != NGX_OK) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    argv[1] = args[0];
    argv[2].data = ttl;
    argv[2].len = ngx_sprintf(ttl, "%d", NGX_CMS_REC_TTL) - ttl;

    for (i = 1; i < argc; i++) {
        argv[2 + i] = args[i];
    }

    /* the script copies its arguments: the pool can go now */

    rc = ngx_cms_redis_script_call(rmcf->script, NULL, handler, data, 1,
                                   argc + 2, argv);

    ngx_destroy_pool(pool);

    return rc;
}


static void
ngx_cms_rec_redis_op(ngx_uint_t argc, ngx_str_t *args)
{
    (void) ngx_cms_rec_redis_call(NULL, NULL, argc, args);
}
