
/*
 * ngx_cms plugin API.
 *
 * The only header a plugin includes besides nginx's own.  A plugin is a
 * table of hooks with a name and a priority; it registers from its nginx
 * module's preconfiguration, and operators enable it per location with
 * "cms_plugins <name> ...;".  Built-in plugins (plugins/<name>/) and
 * third-party ones (an ordinary nginx dynamic module loaded after
 * ngx_http_cms_module.so) use exactly this header.
 *
 * Order: request hooks by priority, highest first; response and log hooks
 * in the reverse order (the onion model).  Log hooks run for every
 * request of a location where the plugin is enabled, including requests
 * a hook denied, requests that failed upstream and requests the client
 * aborted; they must cope with whatever is not known (status 0, no
 * bridge, no parameters).  They run once, as the last byte of the answer
 * is handed to nginx's output (before it is sent: a worker killed right
 * after a client got its answer has run them), or in the log phase when
 * the answer never got that far.
 */


#ifndef _NGX_CMS_PLUGIN_H_INCLUDED_
#define _NGX_CMS_PLUGIN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

/* JSON texts (event details) are written with the one writer */
#include "ngx_cms_json.h"

/* the parsed answer is a libxml2 tree; plugins that read it include
 * <libxml/tree.h> themselves (struct _xmlDoc is its xmlDoc) */
struct _xmlDoc;


/*
 * The ABI a plugin is built for (its abi_version).  The core loads
 * plugins built for NGX_CMS_PLUGIN_ABI_OLDEST up to this one: a version
 * that only adds (functions, names appended to the enums) keeps the
 * oldest; one that changes or removes raises it.  A plugin built for a
 * newer ABI than the core's is refused at nginx -t, naming both.
 *
 *   2  the opaque call object and its accessors
 *   3  ngx_cms_call_set_id(), ngx_cms_response_set_location(),
 *      NGX_CMS_CALL_CLIENT_PATH, ngx_cms_bridge_hosts() in
 *      ngx_cms_bridge.h (added: plugins of 2 still load)
 */
#define NGX_CMS_PLUGIN_ABI_VERSION  3
#define NGX_CMS_PLUGIN_ABI_OLDEST   2
#define NGX_CMS_MAX_PLUGINS         16


/* request hook results besides NGX_OK, NGX_DECLINED and NGX_ERROR */

#define NGX_CMS_DENY                -600   /* ngx_cms_deny() was called */
#define NGX_CMS_SUSPEND             -601   /* ngx_cms_resume() will follow */


typedef enum {
    NGX_CMS_VERDICT_PASS = 0,       /* no hook objected */
    NGX_CMS_VERDICT_ALLOW,          /* a rule allowed it explicitly */
    NGX_CMS_VERDICT_DENY            /* a hook denied it */
} ngx_cms_verdict_e;


typedef struct {
    ngx_str_t                   name;       /* decoded */
    ngx_str_t                   value;      /* decoded */
} ngx_cms_param_t;


typedef struct {
    ngx_str_t                   key;
    ngx_str_t                   value;
} ngx_cms_note_t;


/*
 * What a hook sees of one API call: an opaque object, read through the
 * accessors below, so the core may add to it without breaking a compiled
 * plugin (NGX_CMS_PLUGIN_ABI_VERSION says when a plugin must be rebuilt;
 * one built for another version is refused at nginx -t, naming both).
 *
 * Strings are never NULL-data when len > 0 and are not NUL-terminated,
 * except operation (a static C string) and the decoded parameter names
 * and values (NUL-terminated as the core parsed them; values set with
 * ngx_cms_param_set() too).  Parameter names are matched without case,
 * as CMS matches them (a body naming one parameter twice never reaches
 * the hooks).  Strings and parameters are changed only through the
 * functions for it (ngx_cms_param_set(), ngx_cms_deny(), ...).
 */

typedef struct ngx_cms_call_s  ngx_cms_call_t;
typedef struct ngx_cms_plugin_s  ngx_cms_plugin_t;

typedef enum {
    NGX_CMS_CALL_METHOD = 0,        /* "GET", "PUT", ... */
    NGX_CMS_CALL_PATH,              /* raw, without the query */
    NGX_CMS_CALL_OPERATION,         /* "coSpace.modify", ... */
    NGX_CMS_CALL_COLLECTION,        /* canonical, e.g. "coSpaces" */
    NGX_CMS_CALL_OBJECT_ID,
    NGX_CMS_CALL_SUB_COLLECTION,
    NGX_CMS_CALL_SUB_ID,
    NGX_CMS_CALL_CALL_ID,           /* calls/<id>/... */
    NGX_CMS_CALL_USER,              /* as nginx verified it */
    NGX_CMS_CALL_ROLE,              /* from cms_role */
    NGX_CMS_CALL_BRIDGE,            /* last bridge sent to */
    NGX_CMS_CALL_LOCATION,          /* Location header, if any */
    NGX_CMS_CALL_LOCATION_ID,       /* its last path segment */
    NGX_CMS_CALL_RULE,              /* the rule that decided */
    NGX_CMS_CALL_REASON,            /* human readable */
    NGX_CMS_CALL_PLUGIN,            /* the plugin that decided */
    NGX_CMS_CALL_CLIENT_PATH        /* PATH as the client sent it, before
                                       ngx_cms_call_set_id() (ABI 3) */
} ngx_cms_call_str_e;

typedef enum {
    NGX_CMS_CALL_KNOWN = 0,         /* operation is not "unknown" */
    NGX_CMS_CALL_WRITE,             /* POST, PUT, DELETE */
    NGX_CMS_CALL_CALL_SCOPED,
    NGX_CMS_CALL_PARAMS_CHANGED,
    NGX_CMS_CALL_STATUS,            /* 0 until known */
    NGX_CMS_CALL_BRIDGE_STATUS,     /* the bridge's own, 0: no answer */
    NGX_CMS_CALL_UPSTREAM_MS,       /* time spent on bridges */
    NGX_CMS_CALL_UPSTREAM_FAILED,   /* no bridge answer */
    NGX_CMS_CALL_CLIENT_ABORTED,
    NGX_CMS_CALL_RESPONSE_TOO_BIG,
    NGX_CMS_CALL_RESPONSE_MALFORMED,
    NGX_CMS_CALL_RESPONSE_CHANGED,
    NGX_CMS_CALL_VERDICT            /* ngx_cms_verdict_e */
} ngx_cms_call_num_e;

/* the client request */
ngx_http_request_t *ngx_cms_call_request(ngx_cms_call_t *call);

/* a string of the call (read it; change it only through the API) */
ngx_str_t *ngx_cms_call_str(ngx_cms_call_t *call, ngx_cms_call_str_e which);

/* a number or a flag of the call */
ngx_uint_t ngx_cms_call_num(ngx_cms_call_t *call, ngx_cms_call_num_e which);

/* the parameters, of ngx_cms_param_t, in order; NULL: no body */
ngx_array_t *ngx_cms_call_params(ngx_cms_call_t *call);

/* the plugin's own per-request state: a slot to read and to set */
void **ngx_cms_call_ctx(ngx_cms_call_t *call, ngx_cms_plugin_t *plugin);


/* events outside any request: failover, slots, Redis */

typedef struct {
    ngx_str_t                   type;       /* "failover", "slot", ... */
    ngx_str_t                   subject;    /* bridge, slot, ... */
    ngx_str_t                   detail;     /* JSON object text */
    ngx_log_t                  *log;
} ngx_cms_event_t;


struct ngx_cms_plugin_s {
    ngx_uint_t                  abi_version; /* NGX_CMS_PLUGIN_ABI_VERSION */
    ngx_str_t                   name;
    ngx_int_t                   priority;    /* higher runs first */

    /* NGX_OK/NGX_DECLINED: go on; NGX_CMS_DENY; NGX_CMS_SUSPEND; NGX_ERROR */
    ngx_int_t                 (*request)(ngx_cms_call_t *call);

    /* NGX_OK/NGX_DECLINED, or NGX_ERROR (the answer passes unchanged) */
    ngx_int_t                 (*response)(ngx_cms_call_t *call);

    void                      (*log)(ngx_cms_call_t *call);
    void                      (*event)(ngx_cms_event_t *ev);

    ngx_uint_t                  index;       /* set by registration */
    void                       *data;        /* the plugin's own */
};


/* registration: from the plugin module's preconfiguration */
ngx_int_t ngx_cms_plugin_register(ngx_conf_t *cf, ngx_cms_plugin_t *plugin);

/* is the plugin enabled in this request's location? */
ngx_uint_t ngx_cms_plugin_enabled(ngx_http_request_t *r,
    ngx_cms_plugin_t *plugin);

/*
 * The user nginx's auth_basic verified for this request, or an empty
 * string: never a name merely decoded from the Authorization header
 * (under "satisfy any" a wrong password may be let in by address, and
 * a location without auth verifies nothing).
 */
void ngx_cms_verified_user(ngx_http_request_t *r, ngx_str_t *user);

/* parameters */
ngx_cms_param_t *ngx_cms_param_get(ngx_cms_call_t *call, const char *name);
ngx_int_t ngx_cms_param_set(ngx_cms_call_t *call, ngx_str_t *name,
    ngx_str_t *value);
ngx_int_t ngx_cms_param_remove(ngx_cms_call_t *call, ngx_str_t *name);
ngx_uint_t ngx_cms_param_is_secret(ngx_str_t *name);

/*
 * Denial: 403 for roles, 400 for parameter policy, as CMS would answer.
 * The body is <failureDetails><element rule="..." /></failureDetails>
 * and the reason goes into the X-Cms-Proxy-Reason header.
 * The hook then returns NGX_CMS_DENY.
 */
void ngx_cms_deny(ngx_cms_call_t *call, ngx_uint_t status,
    const char *element, ngx_str_t *rule, ngx_str_t *reason);

/*
 * Notes: what one plugin learned about the call, for the others (the
 * slots plugin names the slot and the meeting, the audit plugin writes
 * them).  The key is a string constant; a later set of the same key
 * replaces the value, which is copied.
 */
ngx_int_t ngx_cms_note_set(ngx_cms_call_t *call, const char *key,
    ngx_str_t *value);
ngx_str_t *ngx_cms_note_get(ngx_cms_call_t *call, const char *key);

/* one more attribute on the denial, e.g. parameter="passcode" */
void ngx_cms_deny_detail(ngx_cms_call_t *call, const char *attr,
    ngx_str_t *value);

/* an explicit allow, recorded as the verdict */
void ngx_cms_allow(ngx_cms_call_t *call, ngx_str_t *rule);

/* from a request hook: ask for the response body to be parsed */
void ngx_cms_want_response_body(ngx_cms_call_t *call);

/*
 * From a response hook: the parsed response, or NULL when there is none,
 * it was over the cap (response_too_big) or not well formed
 * (response_malformed).  After changing the tree, call
 * ngx_cms_response_changed() so the body is re-serialized.
 */
struct _xmlDoc *ngx_cms_response_xml(ngx_cms_call_t *call);
void ngx_cms_response_changed(ngx_cms_call_t *call);

/*
 * From a request hook (ABI 3): the bridge is to act on another object
 * than the one the path names: which is NGX_CMS_CALL_OBJECT_ID,
 * NGX_CMS_CALL_SUB_ID or NGX_CMS_CALL_CALL_ID, id the object's id now
 * (letters, digits, '-', '_').  The id is replaced in the URI proxied
 * (the query is kept), the bridge hosting the call is chosen by it, and
 * the call's PATH and ids read the new one from then on; CLIENT_PATH
 * keeps the client's.  NGX_DECLINED: the path has no such id, or the
 * request is past its request hooks; NGX_ERROR: a bad id (one that
 * would change the operation), or no memory.
 */
ngx_int_t ngx_cms_call_set_id(ngx_cms_call_t *call,
    ngx_cms_call_str_e which, ngx_str_t *id);

/*
 * From a response hook (ABI 3): the Location header the client gets
 * (the value is copied; LOCATION and LOCATION_ID follow it).
 * NGX_DECLINED: the answer has none, or its header is gone already.
 */
ngx_int_t ngx_cms_response_set_location(ngx_cms_call_t *call,
    ngx_str_t *location);

/*
 * From a response hook (ABI 3): the buffered response as the bridge sent it,
 * NGX_OK, or NGX_DECLINED when there is none.  The tree is parsed only
 * when a hook first asks for it (or for RESPONSE_MALFORMED), so a hook
 * that can tell from these bytes that there is nothing new in them
 * saves the parse.
 */
ngx_int_t ngx_cms_response_body(ngx_cms_call_t *call, ngx_str_t *body);

/* a suspended request hook is done: rc as a request hook would return */
void ngx_cms_resume(ngx_cms_call_t *call, ngx_int_t rc);


/* tell every registered plugin's event hook */
void ngx_cms_event_emit(ngx_cycle_t *cycle, ngx_cms_event_t *ev);


#endif /* _NGX_CMS_PLUGIN_H_INCLUDED_ */
