
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


ngx_str_t *
ngx_cms_call_str(ngx_cms_call_t *call, ngx_cms_call_str_e which)
{
    static ngx_str_t  none = ngx_null_string;

    switch (which) {
    case NGX_CMS_CALL_METHOD:          return &call->method;
    case NGX_CMS_CALL_PATH:            return &call->path;
    case NGX_CMS_CALL_OPERATION:       return &call->operation;
    case NGX_CMS_CALL_COLLECTION:      return &call->collection;
    case NGX_CMS_CALL_OBJECT_ID:       return &call->object_id;
    case NGX_CMS_CALL_SUB_COLLECTION:  return &call->sub_collection;
    case NGX_CMS_CALL_SUB_ID:          return &call->sub_id;
    case NGX_CMS_CALL_CALL_ID:         return &call->call_id;
    case NGX_CMS_CALL_USER:            return &call->user;
    case NGX_CMS_CALL_ROLE:            return &call->role;
    case NGX_CMS_CALL_BRIDGE:          return &call->bridge;
    case NGX_CMS_CALL_LOCATION:        return &call->location;
    case NGX_CMS_CALL_LOCATION_ID:     return &call->location_id;
    case NGX_CMS_CALL_RULE:            return &call->rule;
    case NGX_CMS_CALL_REASON:          return &call->reason;
    case NGX_CMS_CALL_PLUGIN:          return &call->plugin;
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
    case NGX_CMS_CALL_RESPONSE_MALFORMED:  return call->response_malformed;
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
