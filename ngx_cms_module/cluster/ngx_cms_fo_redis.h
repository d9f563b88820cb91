
/*
 * ngx_cms: the failover state agreed through Redis (ngx_cms_fo_redis.c),
 * always built (the Redis client is part of every build).
 */


#ifndef _NGX_CMS_FO_REDIS_H_INCLUDED_
#define _NGX_CMS_FO_REDIS_H_INCLUDED_


#include "ngx_cms_failover.h"


ngx_int_t ngx_cms_fo_redis_conf(ngx_conf_t *cf, ngx_cms_fo_main_conf_t *fmcf);
ngx_int_t ngx_cms_fo_redis_init_process(ngx_cycle_t *cycle,
    ngx_cms_fo_cluster_t *cl);
ngx_uint_t ngx_cms_fo_redis_propose(ngx_cms_fo_cluster_t *cl,
    ngx_cms_fo_proposal_t *p, ngx_cms_fo_done_pt done, void *data);
void ngx_cms_fo_redis_tick(ngx_cms_fo_cluster_t *cl);
void ngx_cms_fo_redis_call(ngx_cms_fo_cluster_t *cl, u_char *id, size_t len,
    ngx_str_t *bridge);
void ngx_cms_fo_redis_status(ngx_cms_json_t *j, ngx_pool_t *pool);
void ngx_cms_fo_redis_cluster_status(ngx_cms_json_t *j,
    ngx_cms_fo_cluster_t *cl);


#endif /* _NGX_CMS_FO_REDIS_H_INCLUDED_ */
