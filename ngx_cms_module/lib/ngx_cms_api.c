/*
 * ngx_cms: classification of a CMS REST API request path.
 *
 * Everything a plugin or a policy rule sees is in terms of the operation
 * names made here ("coSpace.modify", "callLeg.create", ...), so the names
 * are part of the configuration language: they come from one static table
 * and ngx_cms_api_operation_valid() accepts exactly the names
 * ngx_cms_api_classify() can return.
 *
 * Naming:
 *
 *   a collection of objects, "<one>" being its singular:
 *     GET    /<coll>          <one>.list
 *     POST   /<coll>          <one>.create
 *     PUT    /<coll>          <one>.modifyAll     (also with the id "*")
 *     DELETE /<coll>          <one>.deleteAll     (also with the id "*")
 *     GET    /<coll>/<id>     <one>.get
 *     PUT    /<coll>/<id>     <one>.modify
 *     DELETE /<coll>/<id>     <one>.delete
 *   the same below an object (/calls/<id>/participants): named after the
 *   sub-collection, "participant.create";
 *   a node without ids: "<name>.get", "<name>.modify", where <name> is
 *   the path with dots for system nodes ("system.status.get") and
 *   "<owner>.<node>" below an object ("callLeg.callLegProfileTrace.get");
 *   an action node: "<owner>.<action>" ("callLeg.generateKeyframe",
 *   "callLeg.cameraControl"), or the bare node name at the top
 *   ("accessQuery").
 *
 * Any other combination of method and shape is "unknown": unknown
 * requests are still proxied, and policy can name them.
 */


#include <string.h>

#include "ngx_cms_api.h"


#define NGX_CMS_API_PREFIX       "/api/v1"
#define NGX_CMS_API_PREFIX_LEN   (sizeof(NGX_CMS_API_PREFIX) - 1)

#define NGX_CMS_API_UNKNOWN      "unknown"
#define NGX_CMS_API_MOVE         "participant.move"
#define NGX_CMS_API_PCREATE      "participant.create"

/* node flags */
#define NGX_CMS_API_OBJECTS      0x01    /* has /<id> below it */
#define NGX_CMS_API_CALL_SCOPED  0x02    /* lives on one call bridge */
#define NGX_CMS_API_CALLS        0x04    /* its <id> is a call id */

/*
 * Operation slots: [method] without an id, [4 + method] with one, for
 * GET, POST, PUT and DELETE.  NULL means "unknown".
 */
#define NGX_CMS_API_NMETHODS     4
#define NGX_CMS_API_NOPS         (2 * NGX_CMS_API_NMETHODS)


typedef struct ngx_cms_api_node_s  ngx_cms_api_node_t;

struct ngx_cms_api_node_s {
    const char                *name;
    size_t                     len;
    unsigned                   flags;
    const char                *ops[NGX_CMS_API_NOPS];
    const ngx_cms_api_node_t  *subs;
};


/* a collection of objects */
#define ngx_cms_api_coll(name, one, flags, subs)                              \
    { name, sizeof(name) - 1, NGX_CMS_API_OBJECTS | (flags),                  \
      { one ".list", one ".create", one ".modifyAll", one ".deleteAll",       \
        one ".get", NULL, one ".modify", one ".delete" },                     \
      subs }

/* a node without ids; the operation of each method is given */
#define ngx_cms_api_node(name, get, post, put, del)                           \
    { name, sizeof(name) - 1, 0,                                              \
      { get, post, put, del, NULL, NULL, NULL, NULL }, NULL }

/* a read-only node */
#define ngx_cms_api_ro(name, one)                                             \
    ngx_cms_api_node(name, one ".get", NULL, NULL, NULL)

/*
 * A settable node.  CMS documents POST for some of them
 * (/system/profiles, /system/configuration/xmpp) and PUT for others
 * (/system/configuration/cluster); both set the node.
 */
#define ngx_cms_api_rw(name, one)                                             \
    ngx_cms_api_node(name, one ".get", one ".modify", one ".modify", NULL)

#define ngx_cms_api_null                                                      \
    { NULL, 0, 0, { NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL }, NULL }


static const ngx_cms_api_node_t  ngx_cms_api_cospace_subs[] = {
    ngx_cms_api_coll("accessMethods", "accessMethod", 0, NULL),
    ngx_cms_api_coll("coSpaceUsers", "coSpaceUser", 0, NULL),
    ngx_cms_api_node("diagnostics", NULL, "coSpace.diagnostics", NULL, NULL),
    ngx_cms_api_ro("meetingEntryDetail", "coSpace.meetingEntryDetail"),
    ngx_cms_api_node("messages", NULL, "coSpace.messages.create", NULL,
                     "coSpace.messages.delete"),
    ngx_cms_api_null
};


static const ngx_cms_api_node_t  ngx_cms_api_call_subs[] = {
    ngx_cms_api_coll("callLegs", "callLeg", 0, NULL),
    ngx_cms_api_coll("participants", "participant", 0, NULL),
    ngx_cms_api_node("diagnostics", NULL, "call.diagnostics", NULL, NULL),
    ngx_cms_api_null
};


static const ngx_cms_api_node_t  ngx_cms_api_call_leg_subs[] = {
    ngx_cms_api_ro("callLegProfileTrace", "callLeg.callLegProfileTrace"),
    ngx_cms_api_node("cameraControl", NULL, NULL, "callLeg.cameraControl",
                     NULL),
    ngx_cms_api_node("generateKeyframe", NULL, "callLeg.generateKeyframe",
                     NULL, NULL),
    ngx_cms_api_null
};


static const ngx_cms_api_node_t  ngx_cms_api_participant_subs[] = {
    ngx_cms_api_coll("callLegs", "callLeg", 0, NULL),
    ngx_cms_api_null
};


static const ngx_cms_api_node_t  ngx_cms_api_call_leg_profile_subs[] = {
    ngx_cms_api_ro("usage", "callLegProfile.usage"),
    ngx_cms_api_null
};


static const ngx_cms_api_node_t  ngx_cms_api_cospace_template_subs[] = {
    ngx_cms_api_coll("accessMethodTemplates", "accessMethodTemplate", 0,
                     NULL),
    ngx_cms_api_null
};


static const ngx_cms_api_node_t  ngx_cms_api_user_subs[] = {
    /* CMS's own spelling; the case does not matter on the wire */
    ngx_cms_api_coll("usercoSpaces", "userCoSpace", 0, NULL),
    ngx_cms_api_coll("userCoSpaceTemplates", "userCoSpaceTemplate", 0,
                     NULL),
    ngx_cms_api_null
};


static const ngx_cms_api_node_t  ngx_cms_api_tenant_subs[] = {
    ngx_cms_api_ro("effectiveWebBridgeProfile",
                   "tenant.effectiveWebBridgeProfile"),
    ngx_cms_api_null
};


static const ngx_cms_api_node_t  ngx_cms_api_turn_server_subs[] = {
    ngx_cms_api_ro("status", "turnServer.status"),
    ngx_cms_api_null
};


static const ngx_cms_api_node_t  ngx_cms_api_web_bridge_subs[] = {
    ngx_cms_api_ro("status", "webBridge.status"),
    ngx_cms_api_node("updateCustomization", NULL,
                     "webBridge.updateCustomization", NULL, NULL),
    ngx_cms_api_ro("effectiveWebBridgeProfile",
                   "webBridge.effectiveWebBridgeProfile"),
    ngx_cms_api_null
};


static const ngx_cms_api_node_t  ngx_cms_api_recorder_subs[] = {
    ngx_cms_api_ro("status", "recorder.status"),
    ngx_cms_api_null
};


static const ngx_cms_api_node_t  ngx_cms_api_streamer_subs[] = {
    ngx_cms_api_ro("status", "streamer.status"),
    ngx_cms_api_null
};


static const ngx_cms_api_node_t  ngx_cms_api_layout_template_subs[] = {
    ngx_cms_api_node("template", "layoutTemplate.template.get", NULL,
                     "layoutTemplate.template.modify", NULL),
    ngx_cms_api_null
};


static const ngx_cms_api_node_t  ngx_cms_api_diagnostics_subs[] = {
    ngx_cms_api_ro("contents", "system.diagnostics.contents"),
    ngx_cms_api_null
};


/*
 * The top of the hierarchy (APIARY "Object Hierarchy", CMS 2.x-3.x).  A
 * name may span several segments; the longest match wins, so
 * "system/MPLicenseUsage/knownHosts" is not read as an id below
 * "system/MPLicenseUsage".
 */

static const ngx_cms_api_node_t  ngx_cms_api_nodes[] = {

    /* the objects that live on one call bridge */

    ngx_cms_api_coll("calls", "call",
                     NGX_CMS_API_CALL_SCOPED | NGX_CMS_API_CALLS,
                     ngx_cms_api_call_subs),
    ngx_cms_api_coll("callLegs", "callLeg", NGX_CMS_API_CALL_SCOPED,
                     ngx_cms_api_call_leg_subs),
    ngx_cms_api_coll("participants", "participant", NGX_CMS_API_CALL_SCOPED,
                     ngx_cms_api_participant_subs),

    /* database objects, shared by the cluster */

    ngx_cms_api_coll("coSpaces", "coSpace", 0, ngx_cms_api_cospace_subs),
    ngx_cms_api_coll("callProfiles", "callProfile", 0, NULL),
    ngx_cms_api_coll("callLegProfiles", "callLegProfile", 0,
                     ngx_cms_api_call_leg_profile_subs),
    ngx_cms_api_coll("callBridges", "callBridge", 0, NULL),
    ngx_cms_api_coll("callBridgeGroups", "callBridgeGroup", 0, NULL),
    ngx_cms_api_coll("cospaceBulkParameterSets", "bulkParameterSet", 0,
                     NULL),
    ngx_cms_api_coll("cospaceBulkSyncs", "bulkSync", 0, NULL),
    ngx_cms_api_coll("coSpaceTemplates", "coSpaceTemplate", 0,
                     ngx_cms_api_cospace_template_subs),
    ngx_cms_api_coll("tenants", "tenant", 0, ngx_cms_api_tenant_subs),
    ngx_cms_api_coll("tenantGroups", "tenantGroup", 0, NULL),
    ngx_cms_api_coll("users", "user", 0, ngx_cms_api_user_subs),
    ngx_cms_api_coll("userProfiles", "userProfile", 0, NULL),
    ngx_cms_api_coll("dialTransforms", "dialTransform", 0, NULL),
    ngx_cms_api_coll("inboundDialPlanRules", "inboundDialPlanRule", 0,
                     NULL),
    ngx_cms_api_coll("outboundDialPlanRules", "outboundDialPlanRule", 0,
                     NULL),
    ngx_cms_api_coll("forwardingDialPlanRules", "forwardingDialPlanRule", 0,
                     NULL),
    ngx_cms_api_coll("callBrandingProfiles", "callBrandingProfile", 0,
                     NULL),
    ngx_cms_api_coll("ivrBrandingProfiles", "ivrBrandingProfile", 0, NULL),
    ngx_cms_api_coll("ivrs", "ivr", 0, NULL),
    ngx_cms_api_coll("ldapServers", "ldapServer", 0, NULL),
    ngx_cms_api_coll("ldapMappings", "ldapMapping", 0, NULL),
    ngx_cms_api_coll("ldapSources", "ldapSource", 0, NULL),
    ngx_cms_api_coll("ldapSyncs", "ldapSync", 0, NULL),
    ngx_cms_api_coll("ldapUserCoSpaceTemplateSources",
                     "ldapUserCoSpaceTemplateSource", 0, NULL),
    ngx_cms_api_coll("webBridges", "webBridge", 0,
                     ngx_cms_api_web_bridge_subs),
    ngx_cms_api_coll("webBridgeProfiles", "webBridgeProfile", 0, NULL),
    ngx_cms_api_coll("turnServers", "turnServer", 0,
                     ngx_cms_api_turn_server_subs),
    ngx_cms_api_coll("recorders", "recorder", 0, ngx_cms_api_recorder_subs),
    ngx_cms_api_coll("streamers", "streamer", 0, ngx_cms_api_streamer_subs),
    ngx_cms_api_coll("layoutTemplates", "layoutTemplate", 0,
                     ngx_cms_api_layout_template_subs),
    ngx_cms_api_coll("dtmfProfiles", "dtmfProfile", 0, NULL),
    ngx_cms_api_coll("dialInSecurityProfiles", "dialInSecurityProfile", 0,
                     NULL),
    ngx_cms_api_coll("compatibilityProfiles", "compatibilityProfile", 0,
                     NULL),
    ngx_cms_api_coll("directorySearchLocations", "directorySearchLocation",
                     0, NULL),

    /* lookups that CMS models as actions */

    ngx_cms_api_node("accessQuery", NULL, "accessQuery", NULL, NULL),
    ngx_cms_api_node("uriUsageQuery", NULL, "uriUsageQuery", NULL, NULL),
    ngx_cms_api_node("conversationIdQuery", "conversationIdQuery", NULL,
                     NULL, NULL),

    ngx_cms_api_ro("clusterLicensing", "clusterLicensing"),
    ngx_cms_api_ro("clusterLicensing/raw", "clusterLicensing.raw"),

    /* /system: one node per path, named after it */

    ngx_cms_api_ro("system/status", "system.status"),
    ngx_cms_api_ro("system/load", "system.load"),
    ngx_cms_api_ro("system/database", "system.database"),
    ngx_cms_api_ro("system/licensing", "system.licensing"),
    ngx_cms_api_ro("system/multipartyLicensing",
                   "system.multipartyLicensing"),
    ngx_cms_api_ro("system/multipartyLicensing/activePersonalLicenses",
                   "system.multipartyLicensing.activePersonalLicenses"),
    ngx_cms_api_ro("system/MPLicenseUsage", "system.MPLicenseUsage"),
    ngx_cms_api_ro("system/MPLicenseUsage/knownHosts",
                   "system.MPLicenseUsage.knownHosts"),
    ngx_cms_api_rw("system/configuration/cluster",
                   "system.configuration.cluster"),
    ngx_cms_api_rw("system/configuration/xmpp",
                   "system.configuration.xmpp"),
    ngx_cms_api_rw("system/profiles", "system.profiles"),
    ngx_cms_api_ro("system/profiles/effectiveWebBridgeProfile",
                   "system.profiles.effectiveWebBridgeProfile"),
    ngx_cms_api_rw("system/cdrReceiver", "system.cdrReceiver"),
    ngx_cms_api_coll("system/cdrReceivers", "system.cdrReceivers", 0, NULL),
    ngx_cms_api_coll("system/alarms", "system.alarms", 0, NULL),
    ngx_cms_api_coll("system/diagnostics", "system.diagnostics", 0,
                     ngx_cms_api_diagnostics_subs),

    ngx_cms_api_null
};


/* operation names that no table entry holds */

static const char  *ngx_cms_api_extra_ops[] = {
    NGX_CMS_API_UNKNOWN,
    NGX_CMS_API_MOVE,
    NULL
};


static const char *ngx_cms_api_check(const unsigned char *path, size_t *len);
static const ngx_cms_api_node_t *ngx_cms_api_find_top(
    const unsigned char *p, size_t len);
static const ngx_cms_api_node_t *ngx_cms_api_find_sub(
    const ngx_cms_api_node_t *subs, const ngx_cms_span_t *seg);
static const char *ngx_cms_api_operation(const ngx_cms_api_node_t *node,
    const ngx_cms_span_t *id, ngx_cms_method_e method);
static int ngx_cms_api_caseeq(const unsigned char *s, const char *name,
    size_t len);
static int ngx_cms_api_ops_have(const unsigned char *name, size_t len,
    int prefix);
static int ngx_cms_api_op_is(const char *op, const unsigned char *name,
    size_t len, int prefix);


ngx_cms_api_rc_e
ngx_cms_api_classify(const unsigned char *path, size_t len,
    ngx_cms_method_e method, ngx_cms_api_req_t *req)
{
    size_t                     i, n, k;
    const char                *reason;
    const unsigned char       *p, *end, *q;
    ngx_cms_span_t             seg[NGX_CMS_API_MAX_SEGMENTS];
    ngx_cms_span_t            *id;
    const ngx_cms_api_node_t  *node, *sub;

    memset(req, 0, sizeof(ngx_cms_api_req_t));

    req->operation = NGX_CMS_API_UNKNOWN;
    req->write = (method == NGX_CMS_METHOD_POST
                  || method == NGX_CMS_METHOD_PUT
                  || method == NGX_CMS_METHOD_DELETE);

    /*
     * The whole path is checked before the prefix is: a path that only
     * looks foreign ("/x/../api/v1/calls", "/%61pi/v1/calls") may still
     * be normalised into an API path by the bridge, and must not slip
     * through as NOT_API.
     */

    reason = ngx_cms_api_check(path, &len);
    if (reason) {
        req->bad_reason = reason;
        return NGX_CMS_API_BAD_PATH;
    }

    if (len < NGX_CMS_API_PREFIX_LEN
        || !ngx_cms_api_caseeq(path, NGX_CMS_API_PREFIX,
                               NGX_CMS_API_PREFIX_LEN)
        || (len > NGX_CMS_API_PREFIX_LEN
            && path[NGX_CMS_API_PREFIX_LEN] != '/'))
    {
        return NGX_CMS_API_NOT_API;
    }

    /* split what follows /api/v1 into segments; none are empty by now */

    n = 0;
    p = path + NGX_CMS_API_PREFIX_LEN;
    end = path + len;

    while (p < end) {
        p++;    /* '/' */

        q = memchr(p, '/', end - p);
        if (q == NULL) {
            q = end;
        }

        if (n == NGX_CMS_API_MAX_SEGMENTS) {
            req->bad_reason = "path too deep";
            return NGX_CMS_API_BAD_PATH;
        }

        if ((size_t) (q - p) > NGX_CMS_API_MAX_SEGMENT_LEN) {
            req->bad_reason = "path segment too long";
            return NGX_CMS_API_BAD_PATH;
        }

        seg[n].data = p;
        seg[n].len = q - p;
        n++;

        p = q;
    }

    if (n == 0) {
        /* "/api/v1" itself: under the API, but names nothing */
        return NGX_CMS_API_OK;
    }

    node = ngx_cms_api_find_top(seg[0].data, end - seg[0].data);

    k = 1;

    if (node) {
        req->collection = node->name;

        for (i = 0; i < node->len; i++) {
            if (node->name[i] == '/') {
                k++;
            }
        }

        req->call_scoped = (node->flags & NGX_CMS_API_CALL_SCOPED) ? 1 : 0;
    }

    req->collection_raw.data = seg[0].data;
    req->collection_raw.len = seg[k - 1].data + seg[k - 1].len - seg[0].data;

    /* the rest is read by position: <id>, <sub>, <sub id> */

    i = k;

    if (i < n) {
        req->object_id = seg[i++];
    }

    if (i < n) {
        req->sub_raw = seg[i++];
    }

    if (i < n) {
        req->sub_id = seg[i++];
    }

    if (node == NULL) {
        return NGX_CMS_API_OK;
    }

    if ((node->flags & NGX_CMS_API_CALLS)
        && req->object_id.len
        && !(req->object_id.len == 1 && req->object_id.data[0] == '*'))
    {
        req->call_id = req->object_id;
    }

    sub = NULL;

    if (req->sub_raw.len) {
        sub = ngx_cms_api_find_sub(node->subs, &req->sub_raw);
        if (sub == NULL) {
            return NGX_CMS_API_OK;
        }

        req->sub_collection = sub->name;
    }

    if (i < n) {
        /* deeper than anything CMS has */
        return NGX_CMS_API_OK;
    }

    if (sub) {
        if (req->object_id.len == 1 && req->object_id.data[0] == '*') {
            /* "all objects" is only meaningful at the last level */
            return NGX_CMS_API_OK;
        }

        node = sub;
        id = &req->sub_id;

    } else {
        id = &req->object_id;
    }

    req->operation = ngx_cms_api_operation(node, id, method);
    req->known = (req->operation != NULL);

    if (req->operation == NULL) {
        req->operation = NGX_CMS_API_UNKNOWN;
    }

    return NGX_CMS_API_OK;
}


/*
 * Lexical checks over the whole path.  The proxy classifies these bytes
 * and the bridge acts on the same bytes, so anything the bridge might
 * decode or normalise differently from us is refused rather than
 * guessed: CMS paths are node names and GUIDs, and none of them need
 * escapes, dot segments, empty segments, spaces or controls.  A
 * backslash (a separator to some servers) and a ';' (path parameters to
 * some) are refused for the same reason.
 *
 * The path ends at the first '?': the caller strips the query, but
 * nginx leaves a bare '?' in front of an empty one.  One trailing slash
 * is dropped, as CMS tolerates it.
 */

static const char *
ngx_cms_api_check(const unsigned char *path, size_t *len)
{
    size_t                i, n, start;
    unsigned char         c;
    const unsigned char  *q;

    n = *len;

    q = memchr(path, '?', n);
    if (q) {
        n = q - path;
    }

    if (n == 0 || path[0] != '/') {
        return "path is not absolute";
    }

    if (n > 1 && path[n - 1] == '/') {
        n--;
    }

    *len = n;

    if (n == 1) {
        return NULL;
    }

    start = 1;

    for (i = 1; i <= n; i++) {

        if (i == n || path[i] == '/') {

            switch (i - start) {

            case 0:
                return "empty path segment";

            case 1:
                if (path[start] == '.') {
                    return "dot segment in path";
                }
                break;

            case 2:
                if (path[start] == '.' && path[start + 1] == '.') {
                    return "dot segment in path";
                }
                break;
            }

            start = i + 1;
            continue;
        }

        c = path[i];

        if (c < 0x21 || c == 0x7f) {
            return "control character or space in path";
        }

        switch (c) {

        case '%':
            return "percent-encoding in path";

        case '\\':
            return "backslash in path";

        case ';':
            return "semicolon in path";

        case '#':
            return "fragment in path";
        }
    }

    return NULL;
}


/* the longest top-level name that matches whole segments of p */

static const ngx_cms_api_node_t *
ngx_cms_api_find_top(const unsigned char *p, size_t len)
{
    const ngx_cms_api_node_t  *node, *best;

    best = NULL;

    for (node = ngx_cms_api_nodes; node->name; node++) {

        if (node->len > len
            || (node->len < len && p[node->len] != '/')
            || (best && best->len >= node->len))
        {
            continue;
        }

        if (ngx_cms_api_caseeq(p, node->name, node->len)) {
            best = node;
        }
    }

    return best;
}


static const ngx_cms_api_node_t *
ngx_cms_api_find_sub(const ngx_cms_api_node_t *subs,
    const ngx_cms_span_t *seg)
{
    const ngx_cms_api_node_t  *sub;

    if (subs == NULL) {
        return NULL;
    }

    for (sub = subs; sub->name; sub++) {
        if (sub->len == seg->len
            && ngx_cms_api_caseeq(seg->data, sub->name, sub->len))
        {
            return sub;
        }
    }

    return NULL;
}


/*
 * The operation on a node, NULL if CMS has none for this shape.  The id
 * "*" is CMS's "every object" form (a PUT to it below
 * /calls/<id>/participants changes every participant), the same as the
 * collection itself; it is only taken for PUT and DELETE, so a rule
 * written for one object never covers all of them.
 */

static const char *
ngx_cms_api_operation(const ngx_cms_api_node_t *node,
    const ngx_cms_span_t *id, ngx_cms_method_e method)
{
    if ((unsigned) method >= NGX_CMS_API_NMETHODS) {
        return NULL;
    }

    if (id->len == 0) {
        return node->ops[method];
    }

    if (id->len == 1 && id->data[0] == '*') {

        if ((node->flags & NGX_CMS_API_OBJECTS)
            && (method == NGX_CMS_METHOD_PUT
                || method == NGX_CMS_METHOD_DELETE))
        {
            return node->ops[method];
        }

        return NULL;
    }

    return node->ops[NGX_CMS_API_NMETHODS + method];
}


const char *
ngx_cms_api_refine(const ngx_cms_api_req_t *req, int has_moved_participant)
{
    /*
     * CMM moves a participant by creating one in the target call with
     * movedParticipant=<old id>: the path alone cannot tell a move from
     * a dial-out.
     */

    if (has_moved_participant
        && req->operation
        && strcmp(req->operation, NGX_CMS_API_PCREATE) == 0)
    {
        return NGX_CMS_API_MOVE;
    }

    return req->operation;
}


/*
 * Names as written in policy rules: an operation classify can return,
 * "*", or "<prefix>.*" where some operation starts with "<prefix>.".
 * Case matters: rules are matched against the canonical spellings.
 */

int
ngx_cms_api_operation_valid(const unsigned char *name, size_t len)
{
    if (len == 1 && name[0] == '*') {
        return 1;
    }

    if (len > 2 && name[len - 2] == '.' && name[len - 1] == '*') {

        if (memchr(name, '*', len - 1)) {
            return 0;
        }

        return ngx_cms_api_ops_have(name, len - 1, 1);
    }

    if (memchr(name, '*', len)) {
        return 0;
    }

    return ngx_cms_api_ops_have(name, len, 0);
}


int
ngx_cms_api_operation_match(const unsigned char *pattern, size_t len,
    const char *operation)
{
    if (operation == NULL) {
        return 0;
    }

    if (len == 1 && pattern[0] == '*') {
        return 1;
    }

    if (len > 2 && pattern[len - 2] == '.' && pattern[len - 1] == '*') {
        return ngx_cms_api_op_is(operation, pattern, len - 1, 1);
    }

    return ngx_cms_api_op_is(operation, pattern, len, 0);
}


const char *
ngx_cms_method_name(ngx_cms_method_e m)
{
    switch (m) {

    case NGX_CMS_METHOD_GET:
        return "GET";

    case NGX_CMS_METHOD_POST:
        return "POST";

    case NGX_CMS_METHOD_PUT:
        return "PUT";

    case NGX_CMS_METHOD_DELETE:
        return "DELETE";

    default:
        return "OTHER";
    }
}


/* ASCII only: a locale must not change what a path means */

static int
ngx_cms_api_caseeq(const unsigned char *s, const char *name, size_t len)
{
    size_t         i;
    unsigned char  a, b;

    for (i = 0; i < len; i++) {
        a = s[i];
        b = (unsigned char) name[i];

        if (a >= 'A' && a <= 'Z') {
            a |= 0x20;
        }

        if (b >= 'A' && b <= 'Z') {
            b |= 0x20;
        }

        if (a != b) {
            return 0;
        }
    }

    return 1;
}


static int
ngx_cms_api_ops_have(const unsigned char *name, size_t len, int prefix)
{
    size_t                     i;
    const char               **extra;
    const ngx_cms_api_node_t  *node, *sub;

    for (extra = ngx_cms_api_extra_ops; *extra; extra++) {
        if (ngx_cms_api_op_is(*extra, name, len, prefix)) {
            return 1;
        }
    }

    for (node = ngx_cms_api_nodes; node->name; node++) {

        for (i = 0; i < NGX_CMS_API_NOPS; i++) {
            if (node->ops[i]
                && ngx_cms_api_op_is(node->ops[i], name, len, prefix))
            {
                return 1;
            }
        }

        if (node->subs == NULL) {
            continue;
        }

        for (sub = node->subs; sub->name; sub++) {
            for (i = 0; i < NGX_CMS_API_NOPS; i++) {
                if (sub->ops[i]
                    && ngx_cms_api_op_is(sub->ops[i], name, len, prefix))
                {
                    return 1;
                }
            }
        }
    }

    return 0;
}


/* op equals name, or (prefix) op starts with name and goes on after it */

static int
ngx_cms_api_op_is(const char *op, const unsigned char *name, size_t len,
    int prefix)
{
    size_t  n;

    n = strlen(op);

    if (prefix) {
        return n > len && memcmp(op, name, len) == 0;
    }

    return n == len && memcmp(op, name, len) == 0;
}
