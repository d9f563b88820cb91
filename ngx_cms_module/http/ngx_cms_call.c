
/*
 * ngx_cms: the accessors of the call object (include/ngx_cms_plugin.h).
 * Plugins read a call only through these, so the struct (ngx_cms.h) may
 * change without breaking a compiled plugin.
 */


#include "ngx_cms.h"


ngx_http_request_t *
ngx_cms_call_request(ngx_cms_call_t *call)
{
    return call->request;
}


/*
 * Where each string is in the call, by ngx_cms_call_str_e: plugins ask
 * for some forty of them per audited call, so the answer is one load
 * and an add.
 */

static const uint16_t  ngx_cms_call_str_offset[] = {
    offsetof(ngx_cms_call_t, method),          /* NGX_CMS_CALL_METHOD */
    offsetof(ngx_cms_call_t, path),            /* NGX_CMS_CALL_PATH */
    offsetof(ngx_cms_call_t, operation),       /* NGX_CMS_CALL_OPERATION */
    offsetof(ngx_cms_call_t, collection),      /* NGX_CMS_CALL_COLLECTION */
    offsetof(ngx_cms_call_t, object_id),       /* NGX_CMS_CALL_OBJECT_ID */
    offsetof(ngx_cms_call_t, sub_collection),  /* ..._SUB_COLLECTION */
    offsetof(ngx_cms_call_t, sub_id),          /* NGX_CMS_CALL_SUB_ID */
    offsetof(ngx_cms_call_t, call_id),         /* NGX_CMS_CALL_CALL_ID */
    offsetof(ngx_cms_call_t, user),            /* NGX_CMS_CALL_USER */
    offsetof(ngx_cms_call_t, role),            /* NGX_CMS_CALL_ROLE */
    offsetof(ngx_cms_call_t, bridge),          /* NGX_CMS_CALL_BRIDGE */
    offsetof(ngx_cms_call_t, location),        /* NGX_CMS_CALL_LOCATION */
    offsetof(ngx_cms_call_t, location_id),     /* NGX_CMS_CALL_LOCATION_ID */
    offsetof(ngx_cms_call_t, rule),            /* NGX_CMS_CALL_RULE */
    offsetof(ngx_cms_call_t, reason),          /* NGX_CMS_CALL_REASON */
    offsetof(ngx_cms_call_t, plugin),          /* NGX_CMS_CALL_PLUGIN */
    offsetof(ngx_cms_call_t, client_path)      /* ..._CLIENT_PATH */
};

/* one offset for every name of ngx_cms_call_str_e, or no build */
typedef char  ngx_cms_call_str_offset_complete[
    sizeof(ngx_cms_call_str_offset) / sizeof(ngx_cms_call_str_offset[0])
    == NGX_CMS_CALL_CLIENT_PATH + 1 ? 1 : -1];


ngx_str_t *
ngx_cms_call_str(ngx_cms_call_t *call, ngx_cms_call_str_e which)
{
    static ngx_str_t  none = ngx_null_string;

    if ((ngx_uint_t) which < sizeof(ngx_cms_call_str_offset)
                             / sizeof(ngx_cms_call_str_offset[0]))
    {
        return (ngx_str_t *) ((u_char *) call
                              + ngx_cms_call_str_offset[which]);
    }

    /* a plugin built against a newer header asked for more: nothing */

    none.len = 0;

    return &none;
}


ngx_uint_t
ngx_cms_call_num(ngx_cms_call_t *call, ngx_cms_call_num_e which)
{
    switch (which) {
    case NGX_CMS_CALL_KNOWN:               return call->known;
    case NGX_CMS_CALL_WRITE:               return call->write;
    case NGX_CMS_CALL_CALL_SCOPED:         return call->call_scoped;
    case NGX_CMS_CALL_PARAMS_CHANGED:      return call->params_changed;
    case NGX_CMS_CALL_STATUS:              return call->status;
    case NGX_CMS_CALL_BRIDGE_STATUS:       return call->bridge_status;
    case NGX_CMS_CALL_UPSTREAM_MS:         return call->upstream_ms;
    case NGX_CMS_CALL_UPSTREAM_FAILED:     return call->upstream_failed;
    case NGX_CMS_CALL_CLIENT_ABORTED:      return call->client_aborted;
    case NGX_CMS_CALL_RESPONSE_TOO_BIG:    return call->response_too_big;
    case NGX_CMS_CALL_RESPONSE_MALFORMED:
        /* known once parsed: asking parses it (ngx_cms_response_xml) */
        ngx_cms_response_parse(call->core);
        return call->response_malformed;

    case NGX_CMS_CALL_RESPONSE_CHANGED:    return call->response_changed;
    case NGX_CMS_CALL_VERDICT:             return call->verdict;
    }

    return 0;
}


ngx_array_t *
ngx_cms_call_params(ngx_cms_call_t *call)
{
    return call->params;
}


void **
ngx_cms_call_ctx(ngx_cms_call_t *call, ngx_cms_plugin_t *plugin)
{
    return &call->plugin_ctx[plugin->index];
}
