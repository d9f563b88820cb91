
/*
 * ngx_cms: the JSON writer (include/ngx_cms_json.h) on a buffer that
 * grows from an nginx pool, for answers whose size is not known ahead
 * (status, admin, discovery, events), and the writes that need nginx's
 * formatting: numbers through a format, times.  Util layer: nginx, no
 * CMS state.
 */


#ifndef _NGX_CMS_JSON_POOL_H_INCLUDED_
#define _NGX_CMS_JSON_POOL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_cms_json.h"


/* ngx_cms_json_pool.c */
ngx_int_t ngx_cms_json_init_pool(ngx_cms_json_t *j, ngx_pool_t *pool,
    size_t size);
void ngx_cms_json_printf(ngx_cms_json_t *j, const char *fmt, ...);
void ngx_cms_json_time(ngx_cms_json_t *j, time_t t);


#endif /* _NGX_CMS_JSON_POOL_H_INCLUDED_ */
