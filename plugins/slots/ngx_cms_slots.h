
/*
 * ngx_cms slots plugin: declarations shared by its files.
 *
 *   ngx_cms_slot_model.c      pool names and the life cycle (pure)
 *   ngx_cms_slots_module.c    the nginx module, directives, the hooks
 *   ngx_cms_slots_table.c     the slot table in the shared zone
 *   ngx_cms_slots_learn.c     what the answers teach (sets, syncs, lists)
 *   ngx_cms_slots_status.c    the JSON status and the admin actions
 *   ngx_cms_slots_redis.c     the table shared through Redis (scripts)
 *   ngx_cms_slots_bridge.c    the proxy's own requests to the bridge:
 *                             reconciliation and force release
 *
 * The shared zone holds the slot table of this nginx instance; with
 * Redis it is a cache of the table in Redis, which atomic scripts
 * change, and every change is published so the other instances' zones
 * follow.  CMS itself stays the ground truth: reconciliation reads the
 * pool's spaces from the active bridge and corrects both.
 */


#ifndef _NGX_CMS_SLOTS_H_INCLUDED_
#define _NGX_CMS_SLOTS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <ngx_cms_plugin.h>

#include <libxml/tree.h>

#include "ngx_cms_slot_model.h"


#define NGX_CMS_SLOTS_PRIORITY       500

#define NGX_CMS_SLOTS_MAX_POOLS      16
#define NGX_CMS_SLOTS_MAX_SYNCS      16
#define NGX_CMS_SLOTS_ID_LEN         64
#define NGX_CMS_SLOTS_TEXT_LEN       128
#define NGX_CMS_SLOTS_USER_LEN       64

/* a reservation outlives its request by no more than this */
#define NGX_CMS_SLOTS_RESERVE_MS     (120 * 1000)


/* why a slot is stuck */

#define NGX_CMS_SLOTS_STUCK_NONE     0
#define NGX_CMS_SLOTS_STUCK_NO_CALL  1   /* checked out, no call came */
#define NGX_CMS_SLOTS_STUCK_CHECKIN  2   /* its check-in PUT failed */


typedef struct {
    size_t                      len;
    u_char                      data[NGX_CMS_SLOTS_ID_LEN];
} ngx_cms_slots_id_t;


typedef struct {
    size_t                      len;
    u_char                      data[NGX_CMS_SLOTS_TEXT_LEN];
} ngx_cms_slots_text_t;


typedef struct {
    size_t                      len;
    u_char                      data[NGX_CMS_SLOTS_USER_LEN];
} ngx_cms_slots_user_t;


/* what one slot holds; the part that Redis shares too */

typedef struct {
    ngx_uint_t                  state;      /* ngx_cms_slot_state_e */
    ngx_uint_t                  stuck;      /* NGX_CMS_SLOTS_STUCK_* */
    uint64_t                    key;        /* 0: none, or unknown */
    uint64_t                    name_key;
    time_t                      since;      /* checked out */
    time_t                      extended;   /* last extension */
    ngx_cms_slots_text_t        meeting;
    ngx_cms_slots_user_t        user;
    ngx_cms_slots_id_t          call;
} ngx_cms_slots_hold_t;


typedef struct {
    ngx_str_node_t              sn;         /* by space id, in the tree
                                               while space.len */
    ngx_cms_slots_id_t          space;
    ngx_cms_slots_hold_t        hold;
    uint64_t                    changed_ms; /* wall clock of the last
                                               change: older answers do
                                               not overwrite it */

    /* a check-out on its way to the bridge */
    uint64_t                    res_token;
    uint64_t                    res_until_ms;
    uint64_t                    res_key;
    uint64_t                    res_name_key;

    ngx_cms_slots_id_t          last_call;  /* of the last meeting */
    ngx_cms_slots_id_t          lookalike;  /* last one reported */
    uint64_t                    version;    /* of its record in Redis */
} ngx_cms_slots_slot_t;


typedef struct {
    ngx_uint_t                  used;
    ngx_cms_slots_id_t          id;         /* the bulk parameter set's, or
                                               "config:<n>" */
    ngx_uint_t                  configured;

    /* the definition, as the last create or modify left it */
    ngx_cms_slot_pool_t         def;
    ngx_uint_t                  defined;

    /* the spaces that exist: as of the last complete sync */
    ngx_cms_slot_pool_t         model;
    ngx_uint_t                  active;
    ngx_uint_t                  generation;
    time_t                      synced;
    ngx_uint_t                  nslots;
    ngx_cms_slots_slot_t       *slots;
} ngx_cms_slots_pool_t;


typedef struct {
    ngx_uint_t                  used;
    ngx_cms_slots_id_t          id;
    ngx_cms_slots_id_t          set;
    ngx_uint_t                  remove_all;
} ngx_cms_slots_sync_t;


typedef struct {
    ngx_rbtree_t                tree;       /* spaces */
    ngx_rbtree_node_t           sentinel;

    ngx_cms_slots_pool_t        pools[NGX_CMS_SLOTS_MAX_POOLS];
    ngx_cms_slots_sync_t        syncs[NGX_CMS_SLOTS_MAX_SYNCS];
    ngx_uint_t                  next_sync;

    uint64_t                    next_token;
    ngx_uint_t                  warned;     /* over the warn threshold */

    /* reconciliation */
    time_t                      reconciled;
    ngx_uint_t                  reconciling;
    ngx_pid_t                   reconciler;
    time_t                      reconcile_started;
    ngx_uint_t                  corrections;
    ngx_cms_slots_text_t        reconcile_error;
    ngx_uint_t                  reconcile_wanted;

    /* counters, all time */
    ngx_uint_t                  checkouts;
    ngx_uint_t                  checkins;
    ngx_uint_t                  conflicts;
    ngx_uint_t                  refused_limit;
    ngx_uint_t                  released;
    ngx_uint_t                  lookalikes; /* spaces named like a slot
                                               that is another space */

    /* any space mapped to or unmapped from a slot (the listing memo) */
    ngx_uint_t                  spaces_version;
} ngx_cms_slots_sh_t;


/* a pool declared with cms_slot_pool */

typedef struct {
    ngx_cms_slot_pool_t         model;
    ngx_str_t                   mapping;
} ngx_cms_slots_conf_pool_t;


typedef struct {
    ngx_shm_zone_t             *zone;
    ngx_slab_pool_t            *shpool;
    ngx_cms_slots_sh_t         *sh;

    ngx_array_t                 pools;      /* of ngx_cms_slots_conf_pool_t */
    ngx_uint_t                  max_meetings;
    ngx_uint_t                  warn_percent;
    time_t                      stuck_after;
    ngx_msec_t                  check_interval;
    ngx_uint_t                  fail_open;  /* Redis down: shm decides */

    ngx_str_t                   cluster;    /* upstream for our requests */
    ngx_msec_t                  bridge_timeout;
    ngx_flag_t                  reconcile_at_start;
    ngx_uint_t                  page_limit;

    ngx_flag_t                  redis;      /* share through Redis */
    void                       *redis_scripts;

    ngx_uint_t                  eager;      /* slots are configured */
    ngx_uint_t                  started;    /* this worker's part runs */

    ngx_event_t                 tick;
    ngx_log_t                  *log;
    ngx_cycle_t                *cycle;
} ngx_cms_slots_main_conf_t;


/* what a request hook decided, for the response and log hooks */

typedef enum {
    NGX_CMS_SLOTS_REQ_NONE = 0,
    NGX_CMS_SLOTS_REQ_PUT,          /* coSpace.modify of a slot space */
    NGX_CMS_SLOTS_REQ_PUT_UNKNOWN,  /* coSpace.modify, space not known */
    NGX_CMS_SLOTS_REQ_CALL_CREATE,
    NGX_CMS_SLOTS_REQ_CALL_DELETE,
    NGX_CMS_SLOTS_REQ_SET,          /* bulk parameter set create/modify */
    NGX_CMS_SLOTS_REQ_SYNC_CREATE,
    NGX_CMS_SLOTS_REQ_LEARN         /* an answer to learn from */
} ngx_cms_slots_req_e;


typedef struct {
    ngx_cms_call_t             *call;       /* NULL once the request is
                                               gone */
    ngx_cms_slots_req_e         kind;
    ngx_uint_t                  pool;
    long                        index;
    ngx_cms_slots_id_t          pool_id;
    ngx_uint_t                  generation;
    ngx_cms_slot_action_e       action;
    ngx_cms_slot_shape_e        shape;
    uint64_t                    token;
    uint64_t                    key;
    uint64_t                    name_key;
    ngx_str_t                   meeting;
    ngx_str_t                   space;

    /* the holder a conflict was with, for the denial */
    ngx_cms_slots_hold_t        holder;

    u_char                      redis_token[64];
    size_t                      redis_token_len;

    unsigned                    resolved:1; /* committed or rolled back */
    unsigned                    redis:1;    /* decided by Redis */
    unsigned                    redis_wait:1;
    unsigned                    has_secret:1;
    unsigned                    limit:1;    /* refused: max meetings */
} ngx_cms_slots_req_t;


/* a change to tell the audit, the log and the other instances */

typedef struct {
    const char                 *action;
    ngx_uint_t                  npool;
    ngx_cms_slots_id_t          pool;
    long                        index;
    ngx_cms_slots_text_t        slot;       /* its placeholder name */
    ngx_cms_slots_id_t          space;
    ngx_cms_slots_hold_t        hold;
    ngx_cms_slots_text_t        note;
} ngx_cms_slots_change_t;


extern ngx_module_t  ngx_cms_slots_module;
extern ngx_cms_plugin_t  ngx_cms_slots_plugin;


/* ngx_cms_slots_module.c */
ngx_cms_slots_main_conf_t *ngx_cms_slots_conf(void);
ngx_int_t ngx_cms_slots_start(ngx_cms_slots_main_conf_t *smcf);
ngx_int_t ngx_cms_slots_location_id(ngx_cms_call_t *call, ngx_str_t *id);
ngx_int_t ngx_cms_slots_decide_local(ngx_cms_call_t *call,
    ngx_cms_slots_main_conf_t *smcf, ngx_cms_slots_req_t *sr,
    ngx_uint_t refuse);
ngx_int_t ngx_cms_slots_decided(ngx_cms_call_t *call,
    ngx_cms_slots_main_conf_t *smcf, ngx_cms_slots_req_t *sr);
void ngx_cms_slots_emit(ngx_cms_slots_change_t *ch, ngx_log_t *log);
void ngx_cms_slots_utilization(ngx_cms_slots_main_conf_t *smcf,
    ngx_log_t *log);

/* ngx_cms_slots_table.c: *_locked under the zone's mutex */
ngx_int_t ngx_cms_slots_init_zone(ngx_shm_zone_t *zone, void *data);
ngx_cms_slots_slot_t *ngx_cms_slots_by_space_locked(
    ngx_cms_slots_main_conf_t *smcf, u_char *id, size_t len,
    ngx_uint_t *pool, long *index);
ngx_cms_slots_pool_t *ngx_cms_slots_pool_by_id_locked(
    ngx_cms_slots_main_conf_t *smcf, u_char *id, size_t len,
    ngx_uint_t *n);
ngx_cms_slots_pool_t *ngx_cms_slots_pool_new_locked(
    ngx_cms_slots_main_conf_t *smcf, u_char *id, size_t len,
    ngx_uint_t *n);
ngx_int_t ngx_cms_slots_pool_activate_locked(
    ngx_cms_slots_main_conf_t *smcf, ngx_cms_slots_pool_t *pool,
    ngx_cms_slot_pool_t *model);
void ngx_cms_slots_pool_remove_locked(ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_slots_pool_t *pool);
void ngx_cms_slots_map_locked(ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_slots_pool_t *pool, long index, u_char *id, size_t len);
void ngx_cms_slots_unmap_locked(ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_slots_slot_t *slot);
ngx_cms_slots_slot_t *ngx_cms_slots_by_call_locked(
    ngx_cms_slots_main_conf_t *smcf, u_char *id, size_t len,
    ngx_uint_t *pool, long *index);
ngx_uint_t ngx_cms_slots_in_use_locked(ngx_cms_slots_main_conf_t *smcf,
    ngx_uint_t *total);
void ngx_cms_slots_view_locked(ngx_cms_slots_slot_t *slot,
    ngx_cms_slot_view_t *view, uint64_t now_ms);
void ngx_cms_slots_change_fill_locked(ngx_cms_slots_change_t *ch,
    const char *action, ngx_cms_slots_pool_t *pool, long index,
    ngx_cms_slots_slot_t *slot);
uint64_t ngx_cms_slots_now_ms(void);
void ngx_cms_slots_touch_locked(ngx_cms_slots_slot_t *slot,
    uint64_t seen_ms);
void ngx_cms_slots_field_changed_locked(ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_slots_slot_t *slot);

/* ngx_cms_slots_metrics.c: the slot families of cms_metrics */
ngx_int_t ngx_cms_slots_metrics_init(ngx_conf_t *cf,
    ngx_cms_slots_main_conf_t *smcf);
void ngx_cms_slots_set_id(ngx_cms_slots_id_t *dst, u_char *s, size_t len);
void ngx_cms_slots_set_text(ngx_cms_slots_text_t *dst, u_char *s,
    size_t len);
void ngx_cms_slots_set_user(ngx_cms_slots_user_t *dst, u_char *s,
    size_t len);
ngx_uint_t ngx_cms_slots_stuck_scan(ngx_cms_slots_main_conf_t *smcf,
    ngx_log_t *log);

/* ngx_cms_slots_learn.c */
void ngx_cms_slots_learn_response(ngx_cms_call_t *call,
    ngx_cms_slots_req_t *sr);
ngx_uint_t ngx_cms_slots_learn_listing(ngx_cms_slots_main_conf_t *smcf,
    xmlDocPtr doc, uint64_t asked_ms, ngx_uint_t correct, ngx_log_t *log,
    ngx_uint_t *items, ngx_uint_t *total, ngx_array_t *seen,
    ngx_uint_t *learned);
ngx_uint_t ngx_cms_slots_learn_space(ngx_cms_slots_main_conf_t *smcf,
    u_char *id, size_t id_len, u_char *name, size_t name_len,
    u_char *nma, size_t nma_len, u_char *secret, size_t secret_len,
    uint64_t asked_ms, const char *how, ngx_log_t *log);

void ngx_cms_slots_memo_free(void);

/* what learning one space did (ngx_cms_slots_learn_space) */
#define NGX_CMS_SLOTS_LEARN_NOTHING   0   /* the zone agreed already */
#define NGX_CMS_SLOTS_LEARN_CHANGED   1   /* mapped, corrected, reported */
#define NGX_CMS_SLOTS_LEARN_DEFERRED  2   /* a newer change or a check-out
                                             under way: left alone */

/* ngx_cms_slots_status.c */
char *ngx_cms_slots_status_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_cms_slots_bridge.c: done is called once, unless NGX_OK is not
 * returned */
typedef void (*ngx_cms_slots_done_pt)(void *data, ngx_int_t rc,
    ngx_str_t *msg);

ngx_int_t ngx_cms_slots_reconcile(ngx_cms_slots_main_conf_t *smcf,
    ngx_log_t *log, ngx_str_t *why, ngx_cms_slots_done_pt done, void *data);
ngx_int_t ngx_cms_slots_release(ngx_cms_slots_main_conf_t *smcf,
    ngx_uint_t pool, long index, ngx_str_t *by, ngx_log_t *log,
    ngx_cms_slots_done_pt done, void *data, ngx_str_t *err);
ngx_uint_t ngx_cms_slots_bridge_available(ngx_cms_slots_main_conf_t *smcf);

/* ngx_cms_slots_redis.c (stubs without Redis) */
ngx_int_t ngx_cms_slots_redis_conf(ngx_conf_t *cf,
    ngx_cms_slots_main_conf_t *smcf);
ngx_int_t ngx_cms_slots_redis_init_process(ngx_cms_slots_main_conf_t *smcf);
ngx_uint_t ngx_cms_slots_redis_active(ngx_cms_slots_main_conf_t *smcf);
ngx_int_t ngx_cms_slots_redis_decide(ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_slots_req_t *sr, ngx_cms_slots_hold_t *seed,
    ngx_http_request_t *r);
void ngx_cms_slots_redis_resolve(ngx_cms_slots_main_conf_t *smcf,
    ngx_cms_slots_req_t *sr, ngx_uint_t ok, ngx_uint_t changed);
void ngx_cms_slots_redis_publish(ngx_cms_slots_main_conf_t *smcf,
    ngx_uint_t pool, long index);
void ngx_cms_slots_redis_field(ngx_cms_slots_main_conf_t *smcf,
    const char *op, ngx_uint_t pool, long index, uint64_t nk,
    ngx_str_t *arg);
void ngx_cms_slots_redis_publish_map(ngx_cms_slots_main_conf_t *smcf,
    ngx_uint_t pool, long index);
void ngx_cms_slots_redis_publish_pool(ngx_cms_slots_main_conf_t *smcf,
    ngx_uint_t pool);
void ngx_cms_slots_redis_push_all(ngx_cms_slots_main_conf_t *smcf);
void ngx_cms_slots_redis_status(ngx_cms_slots_main_conf_t *smcf,
    ngx_str_t *out, ngx_pool_t *pool);


#endif /* _NGX_CMS_SLOTS_H_INCLUDED_ */
