
/*
 * ngx_cms slots plugin: the nginx module, its directives and the hooks.
 *
 *   cms_slot_pool <name mapping> <start> <end>;      pools that exist
 *   cms_slots_zone <size>;                           default 1m
 *   cms_slot_max_meetings <n>;                       0: no limit
 *   cms_slot_warn_utilization <percent>;             default 80
 *   cms_slot_stuck_after <time>;                     default 15m, 0: off
 *   cms_slot_check_interval <time>;                  default 10s
 *   cms_slot_redis on|off;                           default on with
 *                                                    cms_redis
 *   cms_slot_redis_down open|closed;                 default open
 *   cms_slot_upstream <upstream name>;               for reconciliation
 *   cms_slot_reconcile_at_start on|off;              default on
 *   cms_slot_bridge_timeout <time>;                  default 5s
 *   cms_slots_status;                                (location)
 *
 * The request hook decides a PUT to a slot space before it is proxied:
 * a check-out reserves the slot (under the zone's mutex, or with one
 * Redis script call when Redis shares the table), a double booking is
 * refused.  The response hook commits on the bridge's 200 and rolls back
 * otherwise; the log hook resolves whatever the response hook never saw
 * (no answer at all, the client gone).
 */


#include "ngx_cms_slots.h"


static ngx_int_t ngx_cms_slots_request(ngx_cms_call_t *call);
static ngx_int_t ngx_cms_slots_response(ngx_cms_call_t *call);
static void ngx_cms_slots_log(ngx_cms_call_t *call);

static ngx_int_t ngx_cms_slots_put(ngx_cms_call_t *call,
    ngx_cms_slots_main_conf_t *smcf, ngx_cms_slots_req_t *sr);
static ngx_int_t ngx_cms_slots_deny(ngx_cms_call_t *call,
    ngx_cms_slots_main_conf_t *smcf, ngx_cms_slots_req_t *sr,
    ngx_uint_t limit);
static void ngx_cms_slots_put_done(ngx_cms_call_t *call,
    ngx_cms_slots_main_conf_t *smcf, ngx_cms_slots_req_t *sr);
static void ngx_cms_slots_call_done(ngx_cms_call_t *call,
    ngx_cms_slots_main_conf_t *smcf, ngx_cms_slots_req_t *sr);
static ngx_str_t *ngx_cms_slots_param(ngx_cms_call_t *call,
    const char *name);

static void ngx_cms_slots_tick(ngx_event_t *ev);

static char *ngx_cms_slots_pool_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_cms_slots_zone_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void *ngx_cms_slots_create_main_conf(ngx_conf_t *cf);
static char *ngx_cms_slots_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_cms_slots_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_cms_slots_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_cms_slots_init_process(ngx_cycle_t *cycle);
static void ngx_cms_slots_exit_process(ngx_cycle_t *cycle);


static ngx_conf_enum_t  ngx_cms_slots_redis_down[] = {
    { ngx_string("open"), 1 },
    { ngx_string("closed"), 0 },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_cms_slots_commands[] = {

    { ngx_string("cms_slot_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE3,
      ngx_cms_slots_pool_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_slots_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_cms_slots_zone_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_slot_max_meetings"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_cms_slots_main_conf_t, max_meetings),
      NULL },

    { ngx_string("cms_slot_warn_utilization"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_cms_slots_main_conf_t, warn_percent),
      NULL },

    { ngx_string("cms_slot_stuck_after"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_cms_slots_main_conf_t, stuck_after),
      NULL },

    { ngx_string("cms_slot_check_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_cms_slots_main_conf_t, check_interval),
      NULL },

    { ngx_string("cms_slot_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_cms_slots_main_conf_t, redis),
      NULL },

    { ngx_string("cms_slot_redis_down"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_cms_slots_main_conf_t, fail_open),
      &ngx_cms_slots_redis_down },

    { ngx_string("cms_slot_upstream"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_cms_slots_main_conf_t, cluster),
      NULL },

    { ngx_string("cms_slot_reconcile_at_start"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_cms_slots_main_conf_t, reconcile_at_start),
      NULL },

    { ngx_string("cms_slot_bridge_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_cms_slots_main_conf_t, bridge_timeout),
      NULL },

    { ngx_string("cms_slots_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_cms_slots_status_directive,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_cms_slots_module_ctx = {
    ngx_cms_slots_preconfiguration,        /* preconfiguration */
    ngx_cms_slots_postconfiguration,       /* postconfiguration */

    ngx_cms_slots_create_main_conf,        /* create main configuration */
    ngx_cms_slots_init_main_conf,          /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_cms_slots_module = {
    NGX_MODULE_V1,
    &ngx_cms_slots_module_ctx,             /* module context */
    ngx_cms_slots_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_cms_slots_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_cms_slots_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


ngx_cms_plugin_t  ngx_cms_slots_plugin = {
    NGX_CMS_PLUGIN_ABI_VERSION,
    ngx_string("slots"),
    NGX_CMS_SLOTS_PRIORITY,
    ngx_cms_slots_request,
    ngx_cms_slots_response,
    ngx_cms_slots_log,
    NULL,
    0,
    NULL
};


static size_t  ngx_cms_slots_zone_size = 1024 * 1024;


ngx_cms_slots_main_conf_t *
ngx_cms_slots_conf(void)
{
    return ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_cms_slots_module);
}


static ngx_uint_t
ngx_cms_slots_op(ngx_cms_call_t *call, const char *op)
{
    size_t      len;
    ngx_str_t  *operation;

    len = ngx_strlen(op);
    operation = ngx_cms_call_str(call, NGX_CMS_CALL_OPERATION);

    return operation->len == len
           && ngx_strncmp(operation->data, op, len) == 0;
}


/* the id a create's Location names (the core parses the Location) */

ngx_int_t
ngx_cms_slots_location_id(ngx_cms_call_t *call, ngx_str_t *id)
{
    ngx_str_t  *location_id;

    location_id = ngx_cms_call_str(call, NGX_CMS_CALL_LOCATION_ID);

    if (location_id->len == 0) {
        return NGX_DECLINED;
    }

    *id = *location_id;

    return NGX_OK;
}


/* the request hook */

static ngx_int_t
ngx_cms_slots_request(ngx_cms_call_t *call)
{
    void                      **ctx;
    ngx_str_t                  *space;
    ngx_http_request_t         *r;
    ngx_cms_slots_req_t        *sr;
    ngx_cms_slots_main_conf_t  *smcf;

    r = ngx_cms_call_request(call);
    ctx = ngx_cms_call_ctx(call, &ngx_cms_slots_plugin);

    smcf = ngx_http_get_module_main_conf(r, ngx_cms_slots_module);

    if (smcf->sh == NULL) {
        return NGX_DECLINED;
    }

    if (!smcf->started && ngx_cms_slots_start(smcf) != NGX_OK) {
        return NGX_ERROR;
    }

    sr = ngx_pcalloc(r->pool, sizeof(ngx_cms_slots_req_t));
    if (sr == NULL) {
        return NGX_ERROR;
    }

    sr->call = call;

    if (ngx_cms_slots_op(call, "coSpace.modify")
        && ngx_cms_call_str(call, NGX_CMS_CALL_OBJECT_ID)->len)
    {
        *ctx = sr;
        return ngx_cms_slots_put(call, smcf, sr);
    }

    if (ngx_cms_slots_op(call, "call.create")) {
        space = ngx_cms_slots_param(call, "coSpace");
        if (space == NULL) {
            return NGX_DECLINED;
        }

        sr->kind = NGX_CMS_SLOTS_REQ_CALL_CREATE;
        sr->space = *space;

    } else if (ngx_cms_slots_op(call, "call.delete")
               || ngx_cms_slots_op(call, "coSpace.delete"))
    {
        sr->kind = NGX_CMS_SLOTS_REQ_CALL_DELETE;

    } else if (ngx_cms_slots_op(call, "bulkParameterSet.create")
               || ngx_cms_slots_op(call, "bulkParameterSet.modify")
               || ngx_cms_slots_op(call, "bulkParameterSet.delete"))
    {
        sr->kind = NGX_CMS_SLOTS_REQ_SET;

    } else if (ngx_cms_slots_op(call, "bulkSync.create")) {
        sr->kind = NGX_CMS_SLOTS_REQ_SYNC_CREATE;

    } else if (ngx_cms_slots_op(call, "bulkSync.get")
               || ngx_cms_slots_op(call, "coSpace.list")
               || ngx_cms_slots_op(call, "coSpace.get"))
    {
        sr->kind = NGX_CMS_SLOTS_REQ_LEARN;
        ngx_cms_want_response_body(call);

    } else {
        return NGX_DECLINED;
    }

    *ctx = sr;

    return NGX_DECLINED;
}


static ngx_str_t *
ngx_cms_slots_param(ngx_cms_call_t *call, const char *name)
{
    ngx_cms_param_t  *p;

    p = ngx_cms_param_get(call, name);

    return p ? &p->value : NULL;
}


/* a PUT to a coSpace: is it a slot, and what does it do to it? */

static ngx_int_t
ngx_cms_slots_put(ngx_cms_call_t *call, ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_slots_req_t *sr)
{
    ngx_int_t               rc;
    ngx_str_t              *name, *nma, *secret, *object_id;
    ngx_uint_t              n;
    ngx_http_request_t     *r;
    ngx_cms_slots_pool_t   *pool;
    ngx_cms_slots_slot_t   *slot;
    ngx_cms_slots_hold_t    seed;
    ngx_cms_slot_put_t      put;

    r = ngx_cms_call_request(call);
    object_id = ngx_cms_call_str(call, NGX_CMS_CALL_OBJECT_ID);

    name = ngx_cms_slots_param(call, "name");
    nma = ngx_cms_slots_param(call, "nonMemberAccess");
    secret = ngx_cms_slots_param(call, "secret");

    ngx_memzero(&put, sizeof(ngx_cms_slot_put_t));

    if (name) {
        put.name = name->data;
        put.name_len = name->len;
        sr->meeting = *name;
    }

    if (nma) {
        put.non_member_access = nma->data;
        put.non_member_access_len = nma->len;
    }

    if (secret) {
        put.secret = secret->data;
        put.secret_len = secret->len;
        sr->has_secret = 1;
    }

    sr->space = *object_id;
    sr->kind = NGX_CMS_SLOTS_REQ_PUT_UNKNOWN;

    ngx_shmtx_lock(&smcf->shpool->mutex);

    slot = ngx_cms_slots_by_space_locked(smcf, object_id->data,
                                         object_id->len, &n, &sr->index);
    if (slot == NULL) {
        ngx_shmtx_unlock(&smcf->shpool->mutex);
        return NGX_DECLINED;
    }

    pool = &smcf->sh->pools[n];

    sr->kind = NGX_CMS_SLOTS_REQ_PUT;
    sr->pool = n;
    sr->pool_id = pool->id;
    sr->generation = pool->generation;
    sr->shape = ngx_cms_slot_shape(&pool->model, sr->index, &put);
    seed = slot->hold;

    ngx_shmtx_unlock(&smcf->shpool->mutex);

    /*
     * name, nonMemberAccess and secret given twice never get here: the
     * core refuses any repeated name (in any case) as ambiguous
     */

    if (sr->shape == NGX_CMS_SLOT_PUT_OTHER) {
        sr->action = NGX_CMS_SLOT_ACT_NONE;
        return NGX_DECLINED;
    }

    if (sr->shape == NGX_CMS_SLOT_PUT_OPEN) {
        sr->key = ngx_cms_slot_meeting_key(put.name, put.name_len,
                                           put.secret, put.secret_len);
        sr->name_key = ngx_cms_slot_name_key(put.name, put.name_len);
    }

    if (!smcf->redis) {
        return ngx_cms_slots_decide_local(call, smcf, sr, 0);
    }

    if (ngx_cms_slots_redis_active(smcf)) {
        /* Redis decides; the zone's view seeds a table Redis lost */
        rc = ngx_cms_slots_redis_decide(smcf, sr, &seed, r);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "cms slots: redis is not available for the PUT to space "
                  "\"%V\": %s", &sr->space,
                  smcf->fail_open ? "the zone decides"
                                  : "refused (cms_slot_redis_down closed)");

    return ngx_cms_slots_decide_local(call, smcf, sr, !smcf->fail_open);
}


/* the zone decides, under its mutex: every worker of this instance */

ngx_int_t
ngx_cms_slots_decide_local(ngx_cms_call_t *call,
    ngx_cms_slots_main_conf_t *smcf, ngx_cms_slots_req_t *sr,
    ngx_uint_t refuse)
{
    uint64_t               now;
    ngx_str_t              rule, reason;
    ngx_uint_t             in_use, total;
    ngx_cms_slots_pool_t  *pool;
    ngx_cms_slots_slot_t  *slot;
    ngx_cms_slot_view_t    view;

    /*
     * 400, not 503: nothing reached the bridge, and a scheduler that
     * reads a 5xx as "may have been applied" rolls the opening back with
     * a closing PUT, which names no meeting and so would end whichever
     * meeting holds the slot (found by the chaos soak: TMS-like clients
     * sharing one API user closed each other's meetings).  A 4xx is
     * what CMS answers for a request it did not carry out.
     */

    if (refuse && sr->shape == NGX_CMS_SLOT_PUT_OPEN) {
        ngx_str_set(&rule, "redis-down");
        ngx_str_set(&reason, "the shared slot table (redis) is not "
                             "available and cms_slot_redis_down is closed");
        sr->resolved = 1;
        ngx_cms_deny(call, NGX_HTTP_BAD_REQUEST,
                     "slotTableUnavailable", &rule, &reason);
        return NGX_CMS_DENY;
    }

    now = ngx_cms_slots_now_ms();

    ngx_shmtx_lock(&smcf->shpool->mutex);

    pool = &smcf->sh->pools[sr->pool];

    if (!pool->used || !pool->active || pool->generation != sr->generation) {
        ngx_shmtx_unlock(&smcf->shpool->mutex);
        sr->action = NGX_CMS_SLOT_ACT_NONE;
        return NGX_DECLINED;
    }

    slot = &pool->slots[sr->index - pool->model.start];

    ngx_cms_slots_view_locked(slot, &view, now);

    /* a holder whose secret is unknown (learned from a listing) extends
     * by name */
    if (view.key == 0 && view.state != NGX_CMS_SLOT_FREE
        && view.name_key == sr->name_key)
    {
        view.key = sr->key;
    }

    sr->action = ngx_cms_slot_decide_shape(sr->shape, &view, sr->key,
                                           sr->name_key, sr->has_secret);

    if (sr->action == NGX_CMS_SLOT_ACT_CHECKOUT && smcf->max_meetings) {
        in_use = ngx_cms_slots_in_use_locked(smcf, &total);

        if (in_use >= smcf->max_meetings) {
            sr->limit = 1;
            sr->action = NGX_CMS_SLOT_ACT_CONFLICT;
        }
    }

    ngx_shmtx_unlock(&smcf->shpool->mutex);

    return ngx_cms_slots_decided(call, smcf, sr);
}


/* the decision is made (by the zone or by Redis): reserve or refuse */

ngx_int_t
ngx_cms_slots_decided(ngx_cms_call_t *call, ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_slots_req_t *sr)
{
    u_char                 name[NGX_CMS_SLOTS_TEXT_LEN];
    ngx_str_t              note;
    ngx_cms_slots_text_t   held;
    ngx_cms_slots_pool_t  *pool;
    ngx_cms_slots_slot_t  *slot;

    ngx_shmtx_lock(&smcf->shpool->mutex);

    pool = &smcf->sh->pools[sr->pool];

    if (!pool->used || !pool->active || pool->generation != sr->generation) {
        ngx_shmtx_unlock(&smcf->shpool->mutex);
        return NGX_DECLINED;
    }

    slot = &pool->slots[sr->index - pool->model.start];

    /* for the notes below: the slot's own name, the meeting it holds */

    note.len = ngx_cms_slot_name(&pool->model, sr->index, name,
                                 NGX_CMS_SLOTS_TEXT_LEN);
    held = slot->hold.meeting;

    switch (sr->action) {

    case NGX_CMS_SLOT_ACT_CHECKOUT:
        if (sr->token == 0) {
            sr->token = smcf->sh->next_token++;
        }

        slot->res_token = sr->token;
        slot->res_until_ms = ngx_cms_slots_now_ms()
                             + NGX_CMS_SLOTS_RESERVE_MS;
        slot->res_key = sr->key;
        slot->res_name_key = sr->name_key;
        break;

    case NGX_CMS_SLOT_ACT_CONFLICT:
        sr->holder = slot->hold;

        if (sr->limit) {
            smcf->sh->refused_limit++;
        } else {
            smcf->sh->conflicts++;
        }

        break;

    default:
        break;
    }

    ngx_shmtx_unlock(&smcf->shpool->mutex);

    /*
     * Notes for the other plugins (the audit writes them): the slot, the
     * meeting the PUT is about (for a check-in, the one leaving), and
     * what the PUT does to the slot.
     */

    note.data = name;
    (void) ngx_cms_note_set(call, "slot", &note);

    note.data = (u_char *) ngx_cms_slot_action_name(sr->action);
    note.len = ngx_strlen(note.data);
    (void) ngx_cms_note_set(call, "slot_action", &note);

    if (sr->action == NGX_CMS_SLOT_ACT_CHECKIN) {
        note.data = held.data;
        note.len = held.len;

    } else {
        note = sr->meeting;
    }

    if (sr->action != NGX_CMS_SLOT_ACT_NONE && note.len) {
        (void) ngx_cms_note_set(call, "meeting", &note);
    }

    if (sr->action == NGX_CMS_SLOT_ACT_CONFLICT) {
        return ngx_cms_slots_deny(call, smcf, sr, sr->limit);
    }

    return NGX_DECLINED;
}


/*
 * The double booking answer.  CMS has no failure reason for it, so the
 * element is ours, named the way CMS names its own (…DoesNotExist,
 * …LimitReached): <slotInUse rule="double-booking" /> when another
 * meeting holds the slot, <slotLimitReached rule="max-meetings" /> when
 * cms_slot_max_meetings are running.  400, as CMS answers a request
 * that cannot be carried out as asked.
 */

static ngx_int_t
ngx_cms_slots_deny(ngx_cms_call_t *call, ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_slots_req_t *sr, ngx_uint_t limit)
{
    u_char                  *p;
    ngx_str_t                rule, reason;
    ngx_http_request_t      *r;
    ngx_cms_slots_pool_t    *pool;
    ngx_cms_slots_change_t   ch;

    static ngx_str_t  double_booking = ngx_string("double-booking");
    static ngx_str_t  max_meetings = ngx_string("max-meetings");

    r = ngx_cms_call_request(call);
    pool = &smcf->sh->pools[sr->pool];

    ngx_memzero(&ch, sizeof(ngx_cms_slots_change_t));

    ch.action = limit ? "refused_limit" : "conflict";
    ch.npool = sr->pool;
    ch.pool = sr->pool_id;
    ch.index = sr->index;
    ch.slot.len = ngx_cms_slot_name(&pool->model, sr->index, ch.slot.data,
                                    NGX_CMS_SLOTS_TEXT_LEN);
    ch.space.len = ngx_min(sr->space.len, NGX_CMS_SLOTS_ID_LEN);
    ngx_memcpy(ch.space.data, sr->space.data, ch.space.len);
    ch.hold = sr->holder;
    ngx_cms_slots_set_text(&ch.note, sr->meeting.data, sr->meeting.len);

    p = ngx_pnalloc(r->pool, 512);
    if (p == NULL) {
        return NGX_ERROR;
    }

    reason.data = p;

    if (limit) {
        rule = max_meetings;
        reason.len = ngx_snprintf(p, 512,
                                  "%ui scheduled meetings are running, the "
                                  "most cms_slot_max_meetings allows",
                                  smcf->max_meetings) - p;

    } else {
        rule = double_booking;

        if (sr->holder.meeting.len) {
            reason.len = ngx_snprintf(p, 512,
                                      "slot %*s holds meeting \"%*s\" of "
                                      "\"%*s\"", ch.slot.len, ch.slot.data,
                                      sr->holder.meeting.len,
                                      sr->holder.meeting.data,
                                      sr->holder.user.len,
                                      sr->holder.user.data) - p;
        } else {
            reason.len = ngx_snprintf(p, 512,
                                      "slot %*s is being checked out by "
                                      "another meeting", ch.slot.len,
                                      ch.slot.data) - p;
        }
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "cms slots: refused \"%V\" for meeting \"%V\": %V",
                  ngx_cms_call_str(call, NGX_CMS_CALL_USER), &sr->meeting,
                  &reason);

    ngx_cms_slots_emit(&ch, r->connection->log);

    sr->resolved = 1;

    ngx_cms_deny(call, NGX_HTTP_BAD_REQUEST,
                 limit ? "slotLimitReached" : "slotInUse", &rule, &reason);

    return NGX_CMS_DENY;
}


/* the response hook: the bridge answered (or nginx did for it) */

static ngx_int_t
ngx_cms_slots_response(ngx_cms_call_t *call)
{
    ngx_cms_slots_req_t        *sr;
    ngx_cms_slots_main_conf_t  *smcf;

    sr = *ngx_cms_call_ctx(call, &ngx_cms_slots_plugin);

    if (sr == NULL || sr->resolved || sr->redis_wait) {
        return NGX_DECLINED;
    }

    smcf = ngx_http_get_module_main_conf(ngx_cms_call_request(call),
                                         ngx_cms_slots_module);

    switch (sr->kind) {

    case NGX_CMS_SLOTS_REQ_PUT:
        ngx_cms_slots_put_done(call, smcf, sr);
        break;

    case NGX_CMS_SLOTS_REQ_CALL_CREATE:
    case NGX_CMS_SLOTS_REQ_CALL_DELETE:
        ngx_cms_slots_call_done(call, smcf, sr);
        break;

    default:
        sr->resolved = 1;
        if (ngx_cms_call_num(call, NGX_CMS_CALL_STATUS) == NGX_HTTP_OK) {
            ngx_cms_slots_learn_response(call, sr);
        }
        break;
    }

    return NGX_OK;
}


/* what the response hook did not see is settled here */

static void
ngx_cms_slots_log(ngx_cms_call_t *call)
{
    ngx_cms_slots_req_t        *sr;
    ngx_cms_slots_main_conf_t  *smcf;

    sr = *ngx_cms_call_ctx(call, &ngx_cms_slots_plugin);

    if (sr == NULL || sr->resolved || sr->redis_wait) {
        return;
    }

    smcf = ngx_http_get_module_main_conf(ngx_cms_call_request(call),
                                         ngx_cms_slots_module);

    if (sr->kind == NGX_CMS_SLOTS_REQ_PUT) {
        ngx_cms_slots_put_done(call, smcf, sr);
    }

    sr->resolved = 1;
}


/*
 * The answer to a slot PUT: commit on 200, roll back otherwise.  A
 * check-in that did not happen because the bridge was not there (no
 * answer, 5xx) leaves the slot with the meeting's name and open: stuck.
 */

/*
 * The outcome of a decision, in the zone.  Decided by Redis: the commit
 * that follows brings Redis's version back, and the zone must not claim
 * a newer one meanwhile (the decide script would re-seed Redis from it,
 * under a check-out another request is reserving).  Decided alone: the
 * zone's version rises, so the table pushed later outranks what Redis
 * had.
 */

static void
ngx_cms_slots_outcome_locked(ngx_cms_slots_req_t *sr,
    ngx_cms_slots_slot_t *slot)
{
    if (sr->redis) {
        slot->changed_ms = ngx_cms_slots_now_ms();
        return;
    }

    ngx_cms_slots_touch_locked(slot, 0);
}


static void
ngx_cms_slots_put_done(ngx_cms_call_t *call, ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_slots_req_t *sr)
{
    time_t                   now;
    ngx_str_t               *user;
    ngx_uint_t               ok, emit, failed, status, upstream_failed;
    ngx_log_t               *log;
    const char              *what;
    ngx_cms_slots_pool_t    *pool;
    ngx_cms_slots_slot_t    *slot;
    ngx_cms_slots_change_t   ch;

    sr->resolved = 1;

    log = ngx_cms_call_request(call)->connection->log;
    user = ngx_cms_call_str(call, NGX_CMS_CALL_USER);
    status = ngx_cms_call_num(call, NGX_CMS_CALL_STATUS);
    upstream_failed = ngx_cms_call_num(call, NGX_CMS_CALL_UPSTREAM_FAILED);

    ok = (status == NGX_HTTP_OK && !upstream_failed);
    failed = (upstream_failed || status == 0
              || status >= NGX_HTTP_INTERNAL_SERVER_ERROR);

    now = ngx_time();
    emit = 0;
    what = NULL;

    ngx_shmtx_lock(&smcf->shpool->mutex);

    pool = &smcf->sh->pools[sr->pool];

    if (!pool->used || !pool->active || pool->generation != sr->generation) {
        /* a bulk sync recreated the spaces meanwhile */
        ngx_shmtx_unlock(&smcf->shpool->mutex);
        return;
    }

    slot = &pool->slots[sr->index - pool->model.start];

    if (slot->res_token && slot->res_token == sr->token) {
        slot->res_token = 0;
    }

    /*
     * The bridge took the placeholder name: the slot is free, whatever
     * was decided on a view (Redis's, during a failover) that thought
     * it free already.
     */

    if (ok && sr->action == NGX_CMS_SLOT_ACT_NONE
        && sr->shape == NGX_CMS_SLOT_PUT_CLOSE
        && slot->hold.state != NGX_CMS_SLOT_FREE)
    {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "cms slots: space \"%V\" closed at the bridge while "
                      "the zone had it held: checked in", &sr->space);
        sr->action = NGX_CMS_SLOT_ACT_CHECKIN;
    }

    switch (sr->action) {

    case NGX_CMS_SLOT_ACT_CHECKOUT:
        if (!ok) {
            break;
        }

        slot->hold.state = NGX_CMS_SLOT_IN_USE;
        slot->hold.stuck = NGX_CMS_SLOTS_STUCK_NONE;
        slot->hold.key = sr->key;
        slot->hold.name_key = sr->name_key;
        slot->hold.since = now;
        slot->hold.extended = now;
        slot->hold.call.len = 0;
        ngx_cms_slots_set_text(&slot->hold.meeting, sr->meeting.data,
                               sr->meeting.len);
        ngx_cms_slots_set_user(&slot->hold.user, user->data, user->len);
        slot->last_call.len = 0;
        ngx_cms_slots_outcome_locked(sr, slot);
        smcf->sh->checkouts++;
        what = "checkout";
        emit = 1;
        break;

    case NGX_CMS_SLOT_ACT_EXTEND:
        if (!ok) {
            break;
        }

        if (slot->hold.state == NGX_CMS_SLOT_FREE) {
            break;
        }

        /*
         * The meeting is still wanted: a failed check-in is forgotten,
         * and the no-call clock starts again.
         */

        slot->hold.extended = now;
        if (sr->has_secret || slot->hold.key == 0) {
            slot->hold.key = sr->key;
        }
        slot->hold.stuck = NGX_CMS_SLOTS_STUCK_NONE;
        slot->hold.state = NGX_CMS_SLOT_IN_USE;

        ngx_cms_slots_outcome_locked(sr, slot);
        what = "extend";
        emit = 1;
        break;

    case NGX_CMS_SLOT_ACT_CHECKIN:
        if (ok) {
            ngx_cms_slots_change_fill_locked(&ch, "checkin", pool,
                                             sr->index, slot);
            if (slot->hold.call.len) {
                slot->last_call = slot->hold.call;
            }

            ngx_memzero(&slot->hold, sizeof(ngx_cms_slots_hold_t));
            ngx_cms_slots_outcome_locked(sr, slot);
            smcf->sh->checkins++;
            emit = 2;
            break;
        }

        if (failed && slot->hold.state != NGX_CMS_SLOT_FREE) {
            slot->hold.state = NGX_CMS_SLOT_STUCK;
            slot->hold.stuck = NGX_CMS_SLOTS_STUCK_CHECKIN;
            ngx_cms_slots_outcome_locked(sr, slot);
            what = "stuck";
            emit = 1;
        }

        break;

    default:
        break;
    }

    if (emit == 1) {
        ngx_cms_slots_change_fill_locked(&ch, what, pool, sr->index, slot);
    }

    ngx_shmtx_unlock(&smcf->shpool->mutex);

    /* Redis: commit or roll back the reservation, share the change */
    ngx_cms_slots_redis_resolve(smcf, sr, ok, emit != 0);

    if (emit == 0) {
        if (sr->action == NGX_CMS_SLOT_ACT_CHECKOUT) {
            ngx_log_error(NGX_LOG_INFO, log, 0,
                          "cms slots: check-out of space \"%V\" not done "
                          "(status %ui): reservation released",
                          &sr->space, status);
        }

        return;
    }

    if (ch.action[0] == 's') {
        ngx_cms_slots_set_text(&ch.note, (u_char *) "check-in failed", 15);
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "cms slots: slot \"%*s\" is stuck: its check-in got "
                      "status %ui", ch.slot.len, ch.slot.data, status);
    }

    ngx_cms_slots_emit(&ch, log);

    if (sr->action == NGX_CMS_SLOT_ACT_CHECKOUT) {
        ngx_cms_slots_utilization(smcf, log);
    }
}


/*
 * POST /calls coSpace=<slot space> links the call; DELETE unlinks it.
 * With Redis the change goes there as a change of one field, whatever
 * this instance's zone knows yet of the slot's holder.
 */

static void
ngx_cms_slots_call_done(ngx_cms_call_t *call, ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_slots_req_t *sr)
{
    long                     index;
    ngx_str_t                location, note, *object_id;
    const char              *op;
    ngx_uint_t               n, emit;
    ngx_cms_slots_pool_t    *pool;
    ngx_cms_slots_slot_t    *slot;
    ngx_cms_slots_change_t   ch;

    sr->resolved = 1;

    object_id = ngx_cms_call_str(call, NGX_CMS_CALL_OBJECT_ID);

    if (ngx_cms_call_num(call, NGX_CMS_CALL_STATUS) != NGX_HTTP_OK) {
        return;
    }

    ngx_str_null(&location);
    (void) ngx_cms_slots_location_id(call, &location);

    emit = 0;
    op = NULL;
    n = 0;
    index = 0;

    ngx_shmtx_lock(&smcf->shpool->mutex);

    if (sr->kind == NGX_CMS_SLOTS_REQ_CALL_CREATE) {
        slot = ngx_cms_slots_by_space_locked(smcf, sr->space.data,
                                             sr->space.len, &n, &index);

        if (slot && location.len) {
            op = "call";

            if (slot->hold.state != NGX_CMS_SLOT_FREE) {
                pool = &smcf->sh->pools[n];

                ngx_cms_slots_set_id(&slot->hold.call, location.data,
                                     location.len);

                if (slot->hold.stuck == NGX_CMS_SLOTS_STUCK_NO_CALL) {
                    slot->hold.stuck = NGX_CMS_SLOTS_STUCK_NONE;
                    slot->hold.state = NGX_CMS_SLOT_IN_USE;
                }

                ngx_cms_slots_field_changed_locked(smcf, slot);
                ngx_cms_slots_change_fill_locked(&ch, "call", pool, index,
                                                 slot);
                emit = 1;
            }
        }

    } else if (ngx_cms_slots_op(call, "coSpace.delete")) {
        slot = ngx_cms_slots_by_space_locked(smcf, object_id->data,
                                             object_id->len, &n, &index);
        if (slot) {
            pool = &smcf->sh->pools[n];
            ngx_cms_slots_change_fill_locked(&ch, "space_deleted", pool,
                                             index, slot);
            ngx_memzero(&slot->hold, sizeof(ngx_cms_slots_hold_t));
            ngx_cms_slots_touch_locked(slot, 0);
            op = "put";
            emit = 1;
        }

    } else {
        slot = ngx_cms_slots_by_call_locked(smcf, object_id->data,
                                            object_id->len, &n, &index);
        if (slot) {
            pool = &smcf->sh->pools[n];
            ngx_cms_slots_change_fill_locked(&ch, "call_end", pool, index,
                                             slot);
            ngx_cms_slots_set_id(&ch.hold.call, object_id->data,
                                 object_id->len);

            /* the slot's current call only: a meeting's old call ending
             * late must not unlink the next meeting's */

            if (slot->hold.call.len == object_id->len
                && ngx_strncmp(slot->hold.call.data, object_id->data,
                               object_id->len) == 0)
            {
                slot->last_call = slot->hold.call;
                slot->hold.call.len = 0;
                ngx_cms_slots_field_changed_locked(smcf, slot);
            }

            op = "uncall";
            emit = 1;
        }
    }

    ngx_shmtx_unlock(&smcf->shpool->mutex);

    if (op && op[0] == 'p') {
        ngx_cms_slots_redis_publish(smcf, n, index);

    } else if (op && op[0] == 'c') {
        ngx_cms_slots_redis_field(smcf, op, n, index, 0, &location);

    } else if (op) {
        ngx_cms_slots_redis_field(smcf, op, n, index, 0, object_id);
    }

    if (op && op[0] == 'p') {
        /* the space is gone: so is its mapping */
        ngx_shmtx_lock(&smcf->shpool->mutex);
        slot = ngx_cms_slots_by_space_locked(smcf, object_id->data,
                                             object_id->len, &n, &index);
        if (slot) {
            ngx_cms_slots_unmap_locked(smcf, slot);
        }
        ngx_shmtx_unlock(&smcf->shpool->mutex);
    }

    if (emit) {
        /* notes for the other plugins: the slot and its meeting */

        note.data = ch.slot.data;
        note.len = ch.slot.len;
        (void) ngx_cms_note_set(call, "slot", &note);

        if (ch.hold.meeting.len) {
            note.data = ch.hold.meeting.data;
            note.len = ch.hold.meeting.len;
            (void) ngx_cms_note_set(call, "meeting", &note);
        }

        ngx_cms_slots_emit(&ch, ngx_cms_call_request(call)->connection->log);
    }
}


/* every worker: stuck slots, and reconciliation when it is asked for */

static void
ngx_cms_slots_tick(ngx_event_t *ev)
{
    ngx_uint_t                  want;
    ngx_str_t                   why;
    ngx_cms_slots_main_conf_t  *smcf;

    smcf = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    (void) ngx_cms_slots_stuck_scan(smcf, ev->log);

    ngx_shmtx_lock(&smcf->shpool->mutex);
    want = smcf->sh->reconcile_wanted;
    ngx_shmtx_unlock(&smcf->shpool->mutex);

    if (want) {
        ngx_str_set(&why, "asked for");
        (void) ngx_cms_slots_reconcile(smcf, ev->log, &why, NULL, NULL);
    }

    ngx_add_timer(ev, smcf->check_interval);
}


static ngx_int_t
ngx_cms_slots_init_process(ngx_cycle_t *cycle)
{
    ngx_cms_slots_main_conf_t  *smcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_cms_slots_module);

    if (smcf == NULL || smcf->sh == NULL) {
        return NGX_OK;
    }

    smcf->log = cycle->log;
    smcf->cycle = cycle;
    smcf->started = 0;

    /*
     * A configuration that says nothing of slots (no cms_slot* directive,
     * no cms_slots_status) starts the worker's part with the first
     * request the plugin sees: an nginx that loads the module and never
     * uses slots has no timer, no subscription, no reconciliation.
     */

    if (smcf->eager) {
        return ngx_cms_slots_start(smcf);
    }

    return NGX_OK;
}


/* the listing memo goes with the worker (ngx_cms_slots_learn.c) */

static void
ngx_cms_slots_exit_process(ngx_cycle_t *cycle)
{
    ngx_cms_slots_memo_free();
}


ngx_int_t
ngx_cms_slots_start(ngx_cms_slots_main_conf_t *smcf)
{
    ngx_str_t  why;

    if (smcf->started) {
        return NGX_OK;
    }

    smcf->started = 1;

    smcf->tick.handler = ngx_cms_slots_tick;
    smcf->tick.data = smcf;
    smcf->tick.log = smcf->log;
    smcf->tick.cancelable = 1;

    ngx_add_timer(&smcf->tick, smcf->check_interval);

    if (ngx_cms_slots_redis_init_process(smcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (smcf->reconcile_at_start && ngx_cms_slots_bridge_available(smcf)) {
        /* one worker of the instance does it; the others see it done */
        ngx_str_set(&why, "start");
        (void) ngx_cms_slots_reconcile(smcf, smcf->log, &why, NULL, NULL);
    }

    return NGX_OK;
}


/* configuration */

static char *
ngx_cms_slots_pool_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_slots_main_conf_t  *smcf = conf;

    long                        start, end;
    ngx_str_t                  *value;
    ngx_uint_t                  i;
    ngx_cms_slots_conf_pool_t  *cp;

    value = cf->args->elts;

    start = ngx_cms_slot_parse_index(value[2].data, value[2].len);
    end = ngx_cms_slot_parse_index(value[3].data, value[3].len);

    if (start < 0 || end < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid index range \"%V %V\" in "
                           "\"cms_slot_pool\"", &value[2], &value[3]);
        return NGX_CONF_ERROR;
    }

    cp = ngx_array_push(&smcf->pools);
    if (cp == NULL) {
        return NGX_CONF_ERROR;
    }

    cp->mapping = value[1];

    if (ngx_cms_slot_pool_parse(value[1].data, value[1].len, start, end,
                                &cp->model)
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid pool \"%V\" %V..%V in \"cms_slot_pool\": "
                           "the name mapping needs one \"$index$\" and "
                           "affixes up to %d bytes, the range at most %d "
                           "slots", &value[1], &value[2], &value[3],
                           NGX_CMS_SLOT_AFFIX_MAX, NGX_CMS_SLOT_RANGE_MAX);
        return NGX_CONF_ERROR;
    }

    cp = smcf->pools.elts;
    for (i = 0; i + 1 < smcf->pools.nelts; i++) {
        if (ngx_cms_slot_pool_same(&cp[i].model,
                                   &cp[smcf->pools.nelts - 1].model))
        {
            return "declares the same pool twice";
        }
    }

    if (smcf->pools.nelts > NGX_CMS_SLOTS_MAX_POOLS) {
        return "declares too many pools";
    }

    return NGX_CONF_OK;
}


static char *
ngx_cms_slots_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ssize_t     size;
    ngx_str_t  *value;

    value = cf->args->elts;

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid size \"%V\" in \"cms_slots_zone\" "
                           "(at least %uz)", &value[1], 8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    ngx_cms_slots_zone_size = size;

    return NGX_CONF_OK;
}


static void *
ngx_cms_slots_create_main_conf(ngx_conf_t *cf)
{
    ngx_cms_slots_main_conf_t  *smcf;

    smcf = ngx_pcalloc(cf->pool, sizeof(ngx_cms_slots_main_conf_t));
    if (smcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&smcf->pools, cf->pool, 2,
                       sizeof(ngx_cms_slots_conf_pool_t))
        != NGX_OK)
    {
        return NULL;
    }

    smcf->max_meetings = NGX_CONF_UNSET_UINT;
    smcf->warn_percent = NGX_CONF_UNSET_UINT;
    smcf->stuck_after = NGX_CONF_UNSET;
    smcf->check_interval = NGX_CONF_UNSET_MSEC;
    smcf->fail_open = NGX_CONF_UNSET_UINT;
    smcf->redis = NGX_CONF_UNSET;
    smcf->reconcile_at_start = NGX_CONF_UNSET;
    smcf->bridge_timeout = NGX_CONF_UNSET_MSEC;

    ngx_cms_slots_zone_size = 1024 * 1024;

    return smcf;
}


static char *
ngx_cms_slots_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_cms_slots_main_conf_t  *smcf = conf;

    if (smcf->pools.nelts
        || smcf->max_meetings != NGX_CONF_UNSET_UINT
        || smcf->warn_percent != NGX_CONF_UNSET_UINT
        || smcf->stuck_after != NGX_CONF_UNSET
        || smcf->check_interval != NGX_CONF_UNSET_MSEC
        || smcf->redis != NGX_CONF_UNSET
        || smcf->reconcile_at_start != NGX_CONF_UNSET
        || smcf->cluster.data != NULL)
    {
        smcf->eager = 1;
    }

    ngx_conf_init_uint_value(smcf->max_meetings, 0);
    ngx_conf_init_uint_value(smcf->warn_percent, 80);
    ngx_conf_init_value(smcf->stuck_after, 15 * 60);
    ngx_conf_init_msec_value(smcf->check_interval, 10000);
    ngx_conf_init_uint_value(smcf->fail_open, 1);
    ngx_conf_init_value(smcf->reconcile_at_start, 1);
    ngx_conf_init_msec_value(smcf->bridge_timeout, 5000);

    if (smcf->warn_percent > 100) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cms_slot_warn_utilization\" must be a "
                           "percentage, not %ui", smcf->warn_percent);
        return NGX_CONF_ERROR;
    }

    if (smcf->check_interval < 100) {
        smcf->check_interval = 100;
    }

    smcf->page_limit = 20;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_cms_slots_preconfiguration(ngx_conf_t *cf)
{
    return ngx_cms_plugin_register(cf, &ngx_cms_slots_plugin);
}


static ngx_int_t
ngx_cms_slots_postconfiguration(ngx_conf_t *cf)
{
    ngx_str_t                   name;
    ngx_shm_zone_t             *zone;
    ngx_cms_slots_main_conf_t  *smcf;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_cms_slots_module);

    ngx_str_set(&name, "cms_slots");

    zone = ngx_shared_memory_add(cf, &name, ngx_cms_slots_zone_size,
                                 &ngx_cms_slots_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_cms_slots_init_zone;
    zone->data = smcf;
    smcf->zone = zone;
    smcf->log = &cf->cycle->new_log;

    if (ngx_cms_slots_redis_conf(cf, smcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_cms_slots_metrics_init(cf, smcf);
}
