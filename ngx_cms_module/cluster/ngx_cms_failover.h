
/*
 * ngx_cms: health checks, failover state, call affinity, discovery,
 * status and admin endpoints -- declarations shared by their files.
 *
 * The pieces:
 *
 *   ngx_cms_failover.c    the module, its directives, the active-bridge
 *                         state machine (decide, apply, announce)
 *   ngx_cms_shm.c         the shared zone and its records
 *   ngx_cms_health.c      who checks, active checks, passive signals
 *   ngx_cms_client.c      the internal HTTP(S) client
 *   ngx_cms_upstream.c    cms_bridge and the balancer that routes by state
 *   ngx_cms_affinity.c    which bridge hosts a call, learned from answers
 *   ngx_cms_unavailable.c CMS-shaped answers when no bridge could take it
 *   ngx_cms_discovery.c   the cluster as /callBridges describes it
 *   ngx_cms_status.c      GET: the state as JSON
 *   ngx_cms_admin.c       POST: manual failover and failback
 *   ngx_cms_json.c        a small JSON writer
 *   ngx_cms_fo_redis.c    the state agreed through Redis, when built in
 */


#ifndef _NGX_CMS_FAILOVER_H_INCLUDED_
#define _NGX_CMS_FAILOVER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_cms_plugin.h"
#include "ngx_cms_shm.h"
#include "ngx_cms_client.h"
#include "ngx_cms_json_pool.h"


#define NGX_CMS_ROLE_PRIMARY       0
#define NGX_CMS_ROLE_BACKUP        1


/* the balancer's part of one upstream{} block with cms_bridge */

typedef struct {
    ngx_http_upstream_init_pt    original_init_upstream;
    ngx_http_upstream_init_peer_pt  original_init_peer;
} ngx_cms_cluster_conf_t;




#define NGX_CMS_FAILBACK_AUTO          0
#define NGX_CMS_FAILBACK_MANUAL        1

/* why a request was not answered by a bridge */
#define NGX_CMS_UNAVAILABLE_NONE       0
#define NGX_CMS_UNAVAILABLE_NO_BRIDGE  1    /* no healthy bridge at all */
#define NGX_CMS_UNAVAILABLE_CALL_DOWN  2    /* the call's bridge is down */
#define NGX_CMS_UNAVAILABLE_NO_ANSWER  3    /* tried, no answer */

#define NGX_CMS_HEALTH_PATH            "/api/v1/system/status"
#define NGX_CMS_CHECK_MAX_RESPONSE     (64 * 1024)
#define NGX_CMS_DISCOVERY_MAX_RESPONSE (256 * 1024)


typedef struct ngx_cms_fo_cluster_s  ngx_cms_fo_cluster_t;
typedef struct ngx_cms_discovery_s   ngx_cms_discovery_t;
typedef struct ngx_cms_fo_redis_s    ngx_cms_fo_redis_t;


/*
 * One call bridge of the cluster, declared with cms_bridge in upstream{}:
 * the one struct for it (configuration and state), in the cluster's
 * bridges array.
 */

typedef struct {
    ngx_str_t                  name;
    ngx_str_t                  address;     /* host:port as configured */
    ngx_addr_t                *addrs;
    ngx_uint_t                 naddrs;
    ngx_str_t                  user;
    ngx_str_t                  authorization; /* "Basic <base64>" */
    ngx_uint_t                 role;
    ngx_uint_t                 priority;    /* 0 primary, 1.. backups */

    ngx_cms_fo_cluster_t      *cluster;
    ngx_uint_t                 index;       /* in the cluster */
    ngx_uint_t                 slot;        /* in the shm cluster */

    ngx_uint_t                 ssl;         /* an https:// address */
    ngx_str_t                  host;        /* of the address */
    ngx_str_t                  ssl_name;    /* ssl_name=, else host */
    ngx_cms_client_target_t    target;      /* for our own requests */

    /* the checker's, in the owning worker */
    ngx_cms_client_t          *check;
    ngx_msec_t                 next_check;

    /* this worker's requests waiting on the bridge, oldest first */
    ngx_queue_t                inflight;
    ngx_uint_t                 seen_health;

    /*
     * round robin's peer for the bridge and the list it is on, found by
     * the balancer on first use in the worker: the peers, in shared
     * memory with "zone" or not, do not change in a cycle (cms_bridge
     * adds its servers without "resolve", the only way a newer nginx
     * replaces peers at run time)
     */
    ngx_http_upstream_rr_peers_t  *rr_peers;
    ngx_http_upstream_rr_peer_t   *rr_peer;
} ngx_cms_bridge_t;


/* the failover part of one upstream{} block with cms_bridge */

struct ngx_cms_fo_cluster_s {
    ngx_str_t                  name;
    ngx_http_upstream_srv_conf_t  *uscf;
    ngx_cms_cluster_conf_t    *ccf;
    ngx_array_t                bridges;     /* of ngx_cms_bridge_t */
    ngx_uint_t                 primary;     /* index of the primary */
    ngx_cms_bridge_t      **order;       /* by priority */

    /* cms_health_check */
    ngx_flag_t                 health;
    ngx_msec_t                 interval;
    ngx_msec_t                 timeout;
    ngx_msec_t                 jitter;
    ngx_uint_t                 fall;
    ngx_uint_t                 rise;

    /* cms_failback */
    ngx_uint_t                 failback;
    ngx_msec_t                 hold;

    /* cms_discovery */
    ngx_flag_t                 discovery;
    ngx_msec_t                 discovery_interval;

    /* cms_call_affinity */
    ngx_flag_t                 affinity;

    /* cms_failover_redis */
    ngx_flag_t                 redis_agree;

    /* cms_health_ssl_* */
    ngx_flag_t                 ssl_verify;
    ngx_str_t                  ssl_trusted_certificate;
#if (NGX_SSL)
    ngx_ssl_t                 *ssl;
#endif

    unsigned                   balancer:1;  /* our init_upstream ran */

    /* run time */
    ngx_slab_pool_t           *shpool;
    ngx_cms_shm_cluster_t     *sh;
    ngx_uint_t                 generation;
    ngx_log_t                 *log;
    ngx_event_t                tick;
    ngx_uint_t                 owner;       /* this worker checks */
    ngx_cms_discovery_t       *discovery_state;
    ngx_cms_fo_redis_t        *redis;
    ngx_cms_bridge_t          *found;       /* by slot, last (per worker) */
};


typedef struct {
    ngx_shm_zone_t            *zone;
    ngx_array_t                clusters;    /* of ngx_cms_fo_cluster_t * */
    ngx_str_t                  redis_prefix;
} ngx_cms_fo_main_conf_t;




/* a change of the active bridge somebody wants */

typedef struct {
    ngx_uint_t                 to;          /* slot */
    uint64_t                   epoch;       /* the one it was decided on */
    ngx_uint_t                 manual;
    ngx_cms_shm_name_t         by;
    ngx_cms_shm_text_t         why;
} ngx_cms_fo_proposal_t;


/*
 * The outcome of a proposal: NGX_OK (changed), NGX_DONE (nothing to
 * change), NGX_DECLINED (decided on a stale epoch: the current state is
 * in "result"), NGX_ERROR.
 */

typedef void (*ngx_cms_fo_done_pt)(void *data, ngx_int_t rc,
    ngx_cms_shm_change_t *result);






/*
 * What the cluster tells the layer above, through what that layer
 * registered at configuration time: events (failover, failback, health,
 * discovery) for the plugins' event hooks; each worker's start and each
 * health tick, for the balancer's requests in flight.
 */

typedef struct {
    void                     (*event)(ngx_cycle_t *cycle,
                                      ngx_cms_event_t *ev);
    void                     (*init_process)(ngx_cms_fo_cluster_t *cl);
    void                     (*tick)(ngx_cms_fo_cluster_t *cl);
} ngx_cms_cluster_hooks_t;


extern ngx_module_t             ngx_cms_failover_module;
extern ngx_cms_cluster_hooks_t  ngx_cms_cluster_hooks;


/* ngx_cms_failover.c */
ngx_cms_fo_cluster_t *ngx_cms_failover_cluster(ngx_cycle_t *cycle,
    ngx_str_t *name);
ngx_uint_t ngx_cms_failover_decide_locked(ngx_cms_fo_cluster_t *cl,
    ngx_cms_fo_proposal_t *p);
void ngx_cms_failover_propose(ngx_cms_fo_cluster_t *cl,
    ngx_cms_fo_proposal_t *p, ngx_cms_fo_done_pt done, void *data);
void ngx_cms_failover_propose_local(ngx_cms_fo_cluster_t *cl,
    ngx_cms_fo_proposal_t *p, ngx_cms_fo_done_pt done, void *data);
ngx_uint_t ngx_cms_failover_apply_locked(ngx_cms_fo_cluster_t *cl,
    ngx_uint_t to, uint64_t epoch, ngx_uint_t manual, ngx_cms_shm_name_t *by,
    ngx_cms_shm_text_t *why, time_t at, ngx_cms_shm_change_t *change);
void ngx_cms_failover_announce(ngx_cms_fo_cluster_t *cl,
    ngx_cms_shm_change_t *change, ngx_uint_t origin);
void ngx_cms_failover_check_state(ngx_cms_fo_cluster_t *cl);
ngx_cms_bridge_t *ngx_cms_failover_find_slot(ngx_cms_fo_cluster_t *cl,
    ngx_uint_t slot);
ngx_cms_bridge_t *ngx_cms_failover_bridge_by_name(
    ngx_cms_fo_cluster_t *cl, u_char *name, size_t len);
ngx_uint_t ngx_cms_failover_retry_after(ngx_cms_fo_cluster_t *cl);
void ngx_cms_failover_event(ngx_cms_fo_cluster_t *cl, const char *type,
    ngx_str_t *subject, ngx_str_t *detail);

/* ngx_cms_shm.c */
char *ngx_cms_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_cms_shm_add(ngx_conf_t *cf, ngx_cms_fo_main_conf_t *fmcf,
    ngx_str_t *name, size_t size);

/* ngx_cms_health.c */
ngx_int_t ngx_cms_health_init_process(ngx_cycle_t *cycle,
    ngx_cms_fo_cluster_t *cl);
void ngx_cms_health_exit_process(ngx_cms_fo_cluster_t *cl);
void ngx_cms_health_passive(ngx_cms_fo_cluster_t *cl, ngx_cms_bridge_t *b,
    const char *what, ngx_str_t *peer);

/* ngx_cms_affinity.c */
typedef struct {
    u_char                     len;
    u_char                     changed;
    u_char                     id[NGX_CMS_SHM_CALL_ID_LEN];
} ngx_cms_affinity_id_t;

void ngx_cms_affinity_learn_batch(ngx_cms_fo_cluster_t *cl,
    ngx_cms_affinity_id_t *ids, ngx_uint_t n, ngx_uint_t slot);
ngx_uint_t ngx_cms_affinity_lookup(ngx_cms_fo_cluster_t *cl, u_char *id,
    size_t len);
void ngx_cms_affinity_learn(ngx_cms_fo_cluster_t *cl, u_char *id,
    size_t len, ngx_uint_t slot, ngx_uint_t share);
void ngx_cms_affinity_forget(ngx_cms_fo_cluster_t *cl, u_char *id,
    size_t len, ngx_uint_t share);

/* ngx_cms_discovery.c */
void ngx_cms_discovery_tick(ngx_cms_fo_cluster_t *cl);
void ngx_cms_discovery_cancel(ngx_cms_fo_cluster_t *cl);
void ngx_cms_discovery_reset(ngx_cms_fo_cluster_t *cl);
ngx_uint_t ngx_cms_discovery_has(ngx_cms_shm_discovered_t *found,
    ngx_uint_t n, ngx_uint_t via, ngx_uint_t slot);

/*
 * The bridge in a shared-memory slot: the one found last first, as the
 * balancer asks for the active bridge on every request (a bridge's slot
 * does not change in a cycle).
 */

static ngx_inline ngx_cms_bridge_t *
ngx_cms_failover_bridge_by_slot(ngx_cms_fo_cluster_t *cl, ngx_uint_t slot)
{
    if (cl->found && cl->found->slot == slot) {
        return cl->found;
    }

    return ngx_cms_failover_find_slot(cl, slot);
}


#endif /* _NGX_CMS_FAILOVER_H_INCLUDED_ */
