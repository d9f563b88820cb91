
/*
 * ngx_cms recovery plugin: meetings in progress survive a bridge failure
 * (issue 19).  Shared declarations of its three files:
 *
 *   ngx_cms_recovery_module.c  directives, the zone, the plugin's hooks:
 *                              what is worth recovering (log hook) and
 *                              when (event hook, a failover);
 *   ngx_cms_recovery_store.c   the meetings, in the shared zone and in
 *                              Redis (one Lua script for every change);
 *   ngx_cms_recovery_run.c     one recovery: the calls re-created on the
 *                              new active bridge, then their dial-outs,
 *                              paced, bounded, reported;
 *   ngx_cms_recovery_map.c     the old ids the clients know, mapped to
 *                              the new ones (zone, Redis, pub/sub), and
 *                              translated in requests and answers;
 *   ngx_cms_recovery_metrics.c its Prometheus families;
 *   ngx_cms_recovery_status.c  the JSON status.
 */


#ifndef _NGX_CMS_RECOVERY_H_INCLUDED_
#define _NGX_CMS_RECOVERY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <ngx_cms_plugin.h>
#include <ngx_cms_bridge.h>
#include <ngx_cms_client.h>
#include <ngx_cms_redis.h>


#define NGX_CMS_REC_ID_LEN        64     /* a GUID is 36 */
#define NGX_CMS_REC_NAME_LEN      64     /* a cms_bridge name */
#define NGX_CMS_REC_PARAMS_LEN    1024   /* a call's creation body */
#define NGX_CMS_REC_LEG_PARAMS    512    /* a dial-out's body */
#define NGX_CMS_REC_MAX_LEGS      16     /* dial-outs kept per call */

/* ids of calls and dial-outs ended lately, remembered */
#define NGX_CMS_REC_ENDED         256

/* how long Redis keeps a meeting nobody ended (a day) */
#define NGX_CMS_REC_TTL           86400


typedef struct {
    size_t                      len;
    u_char                      data[NGX_CMS_REC_ID_LEN];
} ngx_cms_rec_id_t;


typedef struct {
    ngx_cms_rec_id_t            id;
    u_char                      kind;   /* 'l': callLegs, 'p': participants */
    size_t                      len;
    u_char                      params[NGX_CMS_REC_LEG_PARAMS];
} ngx_cms_rec_leg_t;


/* one meeting: a call created on a coSpace through the proxy */

typedef struct {
    ngx_uint_t                  used;
    time_t                      since;
    ngx_cms_rec_id_t            call;       /* its id now */
    ngx_cms_rec_id_t            first;      /* the id the client got */
    ngx_cms_rec_id_t            space;
    ngx_cms_rec_id_t            bridge;     /* where it runs */
    size_t                      len;
    u_char                      params[NGX_CMS_REC_PARAMS_LEN];
    ngx_uint_t                  nlegs;
    ngx_cms_rec_leg_t           legs[NGX_CMS_REC_MAX_LEGS];
    ngx_uint_t                  recoveries;
} ngx_cms_rec_meeting_t;


/* an id a client knows, and the one the object has now */

typedef struct {
    ngx_cms_rec_id_t            old;
    ngx_cms_rec_id_t            now;
    time_t                      since;
} ngx_cms_rec_map_t;


typedef struct {
    ngx_uint_t                  max;
    ngx_uint_t                  tracked;
    ngx_uint_t                  full;       /* not tracked: no room */
    ngx_uint_t                  skipped_role; /* not tracked: its role */
    ngx_uint_t                  runs;
    ngx_uint_t                  recovered;
    ngx_uint_t                  failed;
    ngx_uint_t                  legs;
    ngx_uint_t                  legs_failed;
    ngx_uint_t                  skipped;
    /* calls and dial-outs ended lately: a recovery under way skips them */
    ngx_uint_t                  ended_next;
    ngx_cms_rec_id_t            ended[NGX_CMS_REC_ENDED];
    /* old ids -> new: a ring of maps_max, the oldest overwritten */
    ngx_uint_t                  maps_max;
    ngx_uint_t                  maps_used;
    ngx_uint_t                  maps_next;
    ngx_uint_t                  translated; /* requests and answers */
    ngx_cms_rec_map_t          *maps;
    ngx_cms_rec_meeting_t       m[1];
} ngx_cms_rec_sh_t;


typedef struct {
    ngx_flag_t                  enable;
    ngx_flag_t                  redis;
    ngx_uint_t                  max_calls;
    ngx_uint_t                  rate;
    ngx_uint_t                  concurrency;
    ngx_uint_t                  retries;
    ngx_msec_t                  deadline;
    ngx_msec_t                  timeout;
    ngx_array_t                *skip_roles; /* of ngx_str_t */

    ngx_shm_zone_t             *zone;
    ngx_slab_pool_t            *shpool;
    ngx_cms_rec_sh_t           *sh;
    ngx_cms_redis_script_t     *script;
    ngx_log_t                  *log;
} ngx_cms_rec_main_conf_t;


/* a meeting as a recovery sees it (copied out of the zone or Redis) */

typedef struct {
    ngx_str_t                   id;
    ngx_str_t                   new_id;
    u_char                      kind;
    ngx_str_t                   params;
    ngx_uint_t                  attempts;
} ngx_cms_rec_run_leg_t;


typedef struct {
    ngx_str_t                   call;
    ngx_str_t                   space;
    ngx_str_t                   bridge;
    ngx_str_t                   params;
    ngx_str_t                   new_call;
    ngx_array_t                 legs;       /* of ngx_cms_rec_run_leg_t */
    ngx_uint_t                  next_leg;
    ngx_uint_t                  state;
    ngx_uint_t                  attempts;
    ngx_uint_t                  verify;     /* look before trying again */
    ngx_msec_t                  next_at;
    ngx_cms_client_t           *cc;
    ngx_str_t                   error;
} ngx_cms_rec_run_meeting_t;


extern ngx_module_t      ngx_cms_recovery_module;
extern ngx_cms_plugin_t  ngx_cms_recovery_plugin;


ngx_cms_rec_main_conf_t *ngx_cms_rec_conf(void);

/* the old ids (ngx_cms_recovery_map.c) */
#define ngx_cms_rec_maps_size(rmcf)                                          \
    ((rmcf)->max_calls * (1 + NGX_CMS_REC_MAX_LEGS)                          \
     * sizeof(ngx_cms_rec_map_t))
void ngx_cms_rec_map_add(ngx_str_t *old, ngx_str_t *now, ngx_uint_t share);
ngx_int_t ngx_cms_rec_map_request(ngx_cms_call_t *call);
ngx_int_t ngx_cms_rec_map_response(ngx_cms_call_t *call);
ngx_int_t ngx_cms_rec_map_init_process(ngx_cms_rec_main_conf_t *rmcf);

/* the store: the zone now, Redis (when there) fire and forget */
ngx_int_t ngx_cms_rec_init_zone(ngx_shm_zone_t *zone, void *data);
ngx_int_t ngx_cms_rec_redis_conf(ngx_conf_t *cf,
    ngx_cms_rec_main_conf_t *rmcf);
void ngx_cms_rec_track_call(ngx_str_t *call, ngx_str_t *space,
    ngx_str_t *bridge, ngx_str_t *params, ngx_log_t *log);
void ngx_cms_rec_track_leg(ngx_str_t *call, ngx_str_t *leg, u_char kind,
    ngx_str_t *params, ngx_log_t *log);
void ngx_cms_rec_forget_leg(ngx_str_t *leg);
void ngx_cms_rec_forget_call(ngx_str_t *call);
void ngx_cms_rec_forget_space(ngx_str_t *space);
ngx_uint_t ngx_cms_rec_is_tracked(ngx_str_t *call, ngx_str_t *leg);
void ngx_cms_rec_moved(ngx_str_t *old, ngx_str_t *new_id, ngx_str_t *space,
    ngx_str_t *bridge, ngx_str_t *params);
ngx_int_t ngx_cms_rec_snapshot(ngx_pool_t *pool, ngx_str_t *bridge,
    ngx_array_t *out);
ngx_int_t ngx_cms_rec_parse_load(ngx_pool_t *pool,
    ngx_cms_redis_reply_t *reply, ngx_str_t *bridge, ngx_array_t *out);
ngx_int_t ngx_cms_rec_redis_call(ngx_cms_redis_handler_pt handler,
    void *data, ngx_uint_t argc, ngx_str_t *args);
void ngx_cms_rec_count(ngx_uint_t *counter, ngx_uint_t n);

/* the Prometheus families (ngx_cms_recovery_metrics.c) */
ngx_int_t ngx_cms_rec_metrics_init(ngx_conf_t *cf,
    ngx_cms_rec_main_conf_t *rmcf);

/* the status endpoint */
char *ngx_cms_rec_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* a recovery */
void ngx_cms_rec_failover(ngx_str_t *upstream, ngx_str_t *from,
    ngx_str_t *to, uint64_t epoch, ngx_log_t *log);
void ngx_cms_rec_run_abort(void);

/* a "recovery" event for the audit and the other plugins */
void ngx_cms_rec_event(const char *step, ngx_str_t *subject,
    const char *fmt, ...);


#endif /* _NGX_CMS_RECOVERY_H_INCLUDED_ */
