
/*
 * ngx_cms: a growing text buffer for JSON answers (status, admin,
 * discovery), strings through the one escaper.  Util layer: nginx, no
 * CMS state.
 */


#ifndef _NGX_CMS_JSON_H_INCLUDED_
#define _NGX_CMS_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* a growing text buffer for JSON */

typedef struct {
    ngx_pool_t                *pool;
    u_char                    *start;
    u_char                    *pos;
    u_char                    *end;
    ngx_uint_t                 failed;
} ngx_cms_json_t;


/* ngx_cms_json.c */
ngx_int_t ngx_cms_json_init(ngx_cms_json_t *j, ngx_pool_t *pool,
    size_t size);
void ngx_cms_json_printf(ngx_cms_json_t *j, const char *fmt, ...);
void ngx_cms_json_string(ngx_cms_json_t *j, u_char *s, size_t len);
void ngx_cms_json_raw(ngx_cms_json_t *j, u_char *s, size_t len);
void ngx_cms_json_time(ngx_cms_json_t *j, time_t t);
u_char *ngx_cms_json_escape(u_char *p, u_char *last, u_char *s, size_t len);


#endif /* _NGX_CMS_JSON_H_INCLUDED_ */
