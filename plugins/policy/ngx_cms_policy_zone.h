
/*
 * ngx_cms policy plugin: the meetings counters' shared zones
 * (ngx_cms_policy_zone.c), shared with the plugin's hooks
 * (ngx_cms_policy_plugin.c).
 */


#ifndef _NGX_CMS_POLICY_ZONE_H_INCLUDED_
#define _NGX_CMS_POLICY_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_CMS_POLICY_ID_LEN      64


/* one coSpace open to non-members, in shared memory */

typedef struct {
    u_char                        id[NGX_CMS_POLICY_ID_LEN];
    u_char                        len;
    u_char                        open;      /* the bridge said yes */
    uint32_t                      pending;   /* requests under way */
} ngx_cms_policy_meeting_t;


typedef struct {
    ngx_uint_t                    capacity;
    ngx_uint_t                    used;
    ngx_cms_policy_meeting_t      meetings[1];
} ngx_cms_policy_sh_t;


typedef struct {
    ngx_str_t                     name;
    ngx_shm_zone_t               *shm_zone;
    ngx_uint_t                    max;       /* largest max= using it */
    ngx_uint_t                    declared;  /* by cms_policy_zone */
    ngx_slab_pool_t              *shpool;
    ngx_cms_policy_sh_t          *sh;
} ngx_cms_policy_zone_t;



typedef struct {
    ngx_array_t                   zones;     /* of ngx_cms_policy_zone_t * */
} ngx_cms_policy_main_conf_t;


extern ngx_module_t  ngx_cms_policy_module;


char *ngx_cms_policy_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_cms_policy_zone_t *ngx_cms_policy_get_zone(ngx_conf_t *cf,
    ngx_str_t *name);


#endif /* _NGX_CMS_POLICY_ZONE_H_INCLUDED_ */
