
/*
 * ngx_cms: the shared memory zone of one nginx instance ("cms_zone").
 *
 * Every worker routes by what is here, without I/O: each bridge's health
 * and the cluster's active bridge are words a worker reads without the
 * lock; everything else is changed and read under the slab pool's mutex.
 * Records are found by name (the upstream's, the bridges'), never by
 * position, so a reload that reorders or adds bridges keeps the state of
 * the others, and old workers still running keep writing where they
 * wrote before.
 */


#ifndef _NGX_CMS_SHM_H_INCLUDED_
#define _NGX_CMS_SHM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_CMS_SHM_MAX_CLUSTERS      8
#define NGX_CMS_SHM_MAX_BRIDGES       32
#define NGX_CMS_SHM_HISTORY           16
#define NGX_CMS_SHM_DISCOVERED        32

#define NGX_CMS_SHM_NAME_LEN          64
#define NGX_CMS_SHM_TEXT_LEN          192
#define NGX_CMS_SHM_CALL_ID_LEN       64

#define NGX_CMS_SHM_NO_SLOT           ((ngx_uint_t) -1)


#define NGX_CMS_HEALTH_UNKNOWN        0    /* not checked yet: usable */
#define NGX_CMS_HEALTH_UP             1
#define NGX_CMS_HEALTH_DOWN           2

#define NGX_CMS_CRED_UNKNOWN          0
#define NGX_CMS_CRED_OK               1
#define NGX_CMS_CRED_REJECTED         2


typedef struct {
    size_t                     len;
    u_char                     data[NGX_CMS_SHM_NAME_LEN];
} ngx_cms_shm_name_t;


typedef struct {
    size_t                     len;
    u_char                     data[NGX_CMS_SHM_TEXT_LEN];
} ngx_cms_shm_text_t;


typedef struct {
    ngx_cms_shm_name_t         name;

    ngx_atomic_t               health;        /* read without the lock */
    ngx_atomic_t               recheck;       /* asked by a passive signal */

    ngx_uint_t                 credentials;
    ngx_uint_t                 ok_run;        /* consecutive good checks */
    ngx_uint_t                 fail_run;      /* consecutive failures */
    ngx_uint_t                 passive_counted;

    ngx_msec_t                 up_since;      /* monotonic */
    time_t                     changed;       /* health, wall clock */
    time_t                     checked;       /* last check, wall clock */
    ngx_msec_t                 latency;
    ngx_uint_t                 status;        /* of the last check, 0: none */

    ngx_uint_t                 checks;
    ngx_uint_t                 failures;
    ngx_uint_t                 passive;

    ngx_cms_shm_text_t         error;         /* of the last failure */
} ngx_cms_shm_bridge_t;


/* one change of the active bridge */

typedef struct {
    uint64_t                   epoch;
    time_t                     at;
    ngx_cms_shm_name_t         from;
    ngx_cms_shm_name_t         to;
    ngx_cms_shm_name_t         by;
    ngx_cms_shm_text_t         why;
    ngx_uint_t                 manual;
} ngx_cms_shm_change_t;


typedef struct {
    ngx_cms_shm_name_t         id;
    ngx_cms_shm_name_t         name;
    ngx_cms_shm_text_t         address;
    ngx_uint_t                 slot;          /* NGX_CMS_SHM_NO_SLOT: not
                                                 configured here */
} ngx_cms_shm_discovered_t;


/* where a call, call leg or participant lives */

typedef struct {
    ngx_rbtree_node_t          node;          /* key: crc32 of the id */
    ngx_queue_t                lru;
    ngx_uint_t                 slot;
    u_char                     len;
    u_char                     id[1];
} ngx_cms_shm_call_t;


typedef struct {
    ngx_cms_shm_name_t         name;          /* of the upstream{} block */

    ngx_uint_t                 nslots;
    ngx_cms_shm_bridge_t       bridges[NGX_CMS_SHM_MAX_BRIDGES];

    /* the failover state */
    ngx_atomic_t               active;        /* slot; read without lock */
    uint64_t                   epoch;
    ngx_uint_t                 manual;        /* an operator chose it */
    ngx_msec_t                 changed_msec;  /* monotonic */
    ngx_uint_t                 nchanges;      /* all time, this instance */
    ngx_cms_shm_change_t       history[NGX_CMS_SHM_HISTORY];

    /* the worker that runs the checks */
    ngx_pid_t                  owner;
    ngx_uint_t                 owner_generation;
    ngx_msec_t                 heartbeat;

    /* the cluster as the active bridge describes it */
    time_t                     discovered_at;
    ngx_cms_shm_name_t         discovered_from;
    ngx_cms_shm_text_t         discovery_error;
    ngx_uint_t                 ndiscovered;
    ngx_cms_shm_discovered_t   discovered[NGX_CMS_SHM_DISCOVERED];
    ngx_uint_t                 discovered_ok; /* a list was read */
    ngx_uint_t                 discovered_via; /* slot that answered it */

    /* call affinity */
    ngx_rbtree_t               calls;
    ngx_rbtree_node_t          calls_sentinel;
    ngx_queue_t                calls_lru;
    ngx_uint_t                 ncalls;
    ngx_uint_t                 calls_evicted;
} ngx_cms_shm_cluster_t;


typedef struct {
    ngx_uint_t                 generation;    /* bumped by every cycle */
    ngx_uint_t                 nclusters;
    ngx_cms_shm_cluster_t     *clusters[NGX_CMS_SHM_MAX_CLUSTERS];
} ngx_cms_shm_t;


void ngx_cms_shm_set_name(ngx_cms_shm_name_t *dst, u_char *src, size_t len);
void ngx_cms_shm_set_text(ngx_cms_shm_text_t *dst, u_char *src, size_t len);

/* under the lock: room for a call id, evicting the least recently used */
ngx_cms_shm_call_t *ngx_cms_shm_alloc_call(ngx_slab_pool_t *shpool,
    ngx_cms_shm_cluster_t *sh, size_t len);
void ngx_cms_shm_free_call(ngx_slab_pool_t *shpool,
    ngx_cms_shm_cluster_t *sh, ngx_cms_shm_call_t *call);
void ngx_cms_shm_calls_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);


#endif /* _NGX_CMS_SHM_H_INCLUDED_ */
