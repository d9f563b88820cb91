
/*
 * ngx_cms: talking to the call bridges from a plugin.
 *
 * The proxy knows every bridge of an upstream with cms_bridge: its
 * address, its API credentials and its TLS settings (those of the health
 * checks: cms_health_ssl_*), and which one is active.  A plugin that must
 * ask a bridge something of its own (the moves plugin checks a
 * participant, the slots plugin reconciles its pools) gets ready targets
 * here and sends with ngx_cms_client_request() (ngx_cms_client.h).
 */


#ifndef _NGX_CMS_BRIDGE_H_INCLUDED_
#define _NGX_CMS_BRIDGE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <ngx_cms_client.h>


#define NGX_CMS_BRIDGE_ACTIVE   0   /* the one requests go to now */
#define NGX_CMS_BRIDGE_ALL      1   /* every bridge, in failover order */


typedef struct {
    ngx_str_t                   name;       /* as in cms_bridge */
    ngx_cms_client_target_t     target;     /* address, credentials, TLS */
} ngx_cms_bridge_target_t;


/*
 * Fills out[0 .. max) with the bridges of the upstream named (an empty
 * name: the first upstream with cms_bridge) and returns how many; 0
 * when there is no such upstream.  Each target gets timeout,
 * max_response and log.  The targets stay valid for the cycle.
 */

ngx_uint_t ngx_cms_bridge_targets(ngx_str_t *upstream, ngx_uint_t which,
    ngx_cms_bridge_target_t *out, ngx_uint_t max, ngx_msec_t timeout,
    size_t max_response, ngx_log_t *log);


/*
 * (Plugin ABI 3.)  The call, call leg or participant "id" lives on the
 * bridge named "bridge" of the upstream (NULL or empty: the first one
 * configured): call-scoped requests naming it go there, whatever the
 * active bridge is, as if the bridge had answered for it (the recovery
 * plugin: a call it re-created stays where it runs after a failback).
 * The other instances learn it through Redis.  NGX_DECLINED: no such
 * upstream or bridge, or call affinity is off there.
 */
ngx_int_t ngx_cms_bridge_hosts(ngx_str_t *upstream, ngx_str_t *bridge,
    ngx_str_t *id);


#endif /* _NGX_CMS_BRIDGE_H_INCLUDED_ */
