
/*
 * ngx_cms: who is calling, as nginx verified it.
 *
 * nginx keeps no flag saying that auth_basic checked a password:
 * r->headers_in.user is whatever ngx_http_auth_basic_user() decoded from
 * the Authorization header, and anything may decode it (a $remote_user
 * in a rewrite-phase "if", a log variable).  Roles and operator names
 * must rest on a checked name, so:
 *
 *  - at the start of the access phase any name decoded so far is
 *    forgotten, so the name after it is one auth_basic decoded there.
 *    Handlers of a phase run in the reverse order of registration, and
 *    this module registers after nginx's own, so this one runs before
 *    auth_basic (t/security.t fails if it ever ran after it: the roles
 *    of verified users would be lost);
 *  - auth_basic that rejected the password leaves its WWW-Authenticate
 *    challenge behind even when "satisfy any" then lets the client in by
 *    address; a name that comes with a challenge is not verified.
 *
 * cms_auth_basic (ngx_cms_auth.c) checks the password in this same
 * handler, right after the name is forgotten, and its challenge marks a
 * failure as nginx's does.
 *
 * A location without auth_basic or cms_auth_basic has no verified user:
 * nothing was checked there.
 */


#include "ngx_cms.h"


static ngx_int_t
ngx_cms_user_access_handler(ngx_http_request_t *r)
{
    ngx_cms_loc_conf_t  *lcf;

    if (r->headers_in.user.data != NULL) {
        r->headers_in.user.len = 0;
        r->headers_in.user.data = NULL;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_cms_module);

    if (lcf->auth) {
        return ngx_cms_auth_check(r, lcf->auth);
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_cms_user_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_cms_user_access_handler;

    return NGX_OK;
}


void
ngx_cms_verified_user(ngx_http_request_t *r, ngx_str_t *user)
{
    ngx_http_request_t  *m;

    /* subrequests inherit the main request's client */

    m = r->main;

    if (m->headers_in.user.len == 0
        || m->headers_out.www_authenticate != NULL)
    {
        ngx_str_null(user);
        return;
    }

    *user = m->headers_in.user;
}
