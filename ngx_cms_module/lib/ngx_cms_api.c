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


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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


/*
 * The lookup tables, built once from the node table above (by
 * ngx_cms_api_init(), which the module calls at configuration time, in
 * the master, or on the first classification) and only read after that:
 *
 * - ngx_cms_api_class: what the path check must look at, 0 for the
 *   bytes of a clean segment (the SSE2 check finds the others by
 *   compares, and asks the table why one is refused, or, for '?',
 *   where the path ends);
 * - ngx_cms_api_keys in an open-addressing hash (ngx_cms_api_slots) of
 *   every top-level name and of every shorter name
 *   made of its leading segments ("system", "system/configuration"):
 *   the top-level node of a path is found by hashing its first segment,
 *   then the first two, then three, for as long as a longer name can
 *   still match, instead of comparing every name of the table.
 */

#define NGX_CMS_API_NKEYS        128
#define NGX_CMS_API_NSLOTS       256     /* a power of two, > 2 * NKEYS */

#define NGX_CMS_API_C_SLASH      1
#define NGX_CMS_API_C_CONTROL    2
#define NGX_CMS_API_C_PERCENT    3
#define NGX_CMS_API_C_BACKSLASH  4
#define NGX_CMS_API_C_SEMICOLON  5
#define NGX_CMS_API_C_HASH       6
#define NGX_CMS_API_C_QUERY      7    /* not refused: the path ends there */


/* above the longest top-level name (49 bytes; the build checks) */
#define NGX_CMS_API_NAME_MAX     64


typedef struct {
    const ngx_cms_api_node_t  *node;    /* NULL: only leads to longer ones */
    const char                *name;    /* a node's name, len bytes of it */
    size_t                     len;
    uint32_t                   hash;
    unsigned                   longer:1; /* a longer name goes on with '/' */
    unsigned char              lower[NGX_CMS_API_NAME_MAX]; /* of name */
} ngx_cms_api_key_t;


static const ngx_cms_span_t  ngx_cms_api_no_span;

static unsigned char       ngx_cms_api_class[256];
static ngx_cms_api_key_t   ngx_cms_api_keys[NGX_CMS_API_NKEYS];
static size_t              ngx_cms_api_nkeys;
static unsigned char       ngx_cms_api_slots[NGX_CMS_API_NSLOTS];
static int                 ngx_cms_api_ready;


static const char  *ngx_cms_api_class_reason[] = {
    NULL,
    NULL,
    "control character or space in path",
    "percent-encoding in path",
    "backslash in path",
    "semicolon in path",
    "fragment in path",
    "query in path"     /* ngx_cms_api_check() checks up to it */
};


/*
 * The hash of a name (len > 0) from its length and its first, middle and
 * last bytes, each with 0x20 set as ngx_cms_api_key_eq() compares them
 * (so spellings it finds equal hash alike): four loads, not a step per
 * byte.  Names that share all four ("system/alarms", "system/status")
 * are told apart by the compare, as any two in one slot are.
 */

static inline uint32_t
ngx_cms_api_hash(const unsigned char *p, size_t len)
{
    uint32_t  h;

    h = ((uint32_t) (p[0] | 0x20) << 24)
        | ((uint32_t) (p[len / 2] | 0x20) << 16)
        | ((uint32_t) (p[len - 1] | 0x20) << 8)
        | (uint32_t) (len & 0xff);

    h *= 2654435761u;

    return h ^ (h >> 15);
}


/* operation names that no table entry holds */

static const char  *ngx_cms_api_extra_ops[] = {
    NGX_CMS_API_UNKNOWN,
    NGX_CMS_API_MOVE,
    NULL
};


static void ngx_cms_api_build(void);
static void ngx_cms_api_add_key(const ngx_cms_api_node_t *node, size_t len);
static const ngx_cms_api_key_t *ngx_cms_api_find_key(uint32_t hash,
    const unsigned char *p, size_t len);
static int ngx_cms_api_key_eq(const unsigned char *p,
    const unsigned char *lower, size_t len);
static const char *ngx_cms_api_check(const unsigned char *path, size_t *len,
    ngx_cms_span_t *segs, size_t *nsegs);
static const char *ngx_cms_api_check_upto(const unsigned char *path,
    size_t *len, ngx_cms_span_t *segs, size_t *nsegs);
static const char *ngx_cms_api_check_bytes(const unsigned char *path,
    size_t i, size_t start, size_t n, ngx_cms_span_t *segs, size_t *nsegs);
#if defined(__SSE2__)
static const char *ngx_cms_api_check_sse2(const unsigned char *path,
    size_t n, ngx_cms_span_t *segs, size_t *nsegs);
#endif
static int ngx_cms_api_prefix(const unsigned char *p);
static const ngx_cms_api_node_t *ngx_cms_api_find_top(
    const ngx_cms_span_t *seg, size_t n, size_t *depth);
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
    size_t                     i, n, k, all;
    const char                *reason;
    ngx_cms_span_t             segs[NGX_CMS_API_MAX_SEGMENTS + 2], *seg;
    ngx_cms_span_t            *id;
    const ngx_cms_api_node_t  *node, *sub;

    if (!ngx_cms_api_ready) {
        ngx_cms_api_init();
    }

    /* field by field: a few stores, where memset() is a "rep stos" */

    req->collection = NULL;
    req->collection_raw = ngx_cms_api_no_span;
    req->object_id = ngx_cms_api_no_span;
    req->sub_collection = NULL;
    req->sub_raw = ngx_cms_api_no_span;
    req->sub_id = ngx_cms_api_no_span;
    req->operation = NGX_CMS_API_UNKNOWN;
    req->call_id = ngx_cms_api_no_span;
    req->known = 0;
    req->call_scoped = 0;
    req->write = (method == NGX_CMS_METHOD_POST
                  || method == NGX_CMS_METHOD_PUT
                  || method == NGX_CMS_METHOD_DELETE);
    req->bad_reason = NULL;

    /*
     * The whole path is checked before the prefix is: a path that only
     * looks foreign ("/x/../api/v1/calls", "/%61pi/v1/calls") may still
     * be normalised into an API path by the bridge, and must not slip
     * through as NOT_API.
     */

    reason = ngx_cms_api_check(path, &len, segs, &all);
    if (reason) {
        req->bad_reason = reason;
        return NGX_CMS_API_BAD_PATH;
    }

    /* "/api/v1" (any case) as the first two segments */

    if (all < 2
        || segs[0].len != 3
        || segs[1].len != 2
        || !ngx_cms_api_prefix(path))
    {
        return NGX_CMS_API_NOT_API;
    }

    /* what follows /api/v1, as the check split it; none are empty */

    seg = segs + 2;
    n = all - 2;

    /* the segments in turn: a long one before the ninth says so first */

    k = (n < NGX_CMS_API_MAX_SEGMENTS) ? n : NGX_CMS_API_MAX_SEGMENTS;

    for (i = 0; i < k; i++) {
        if (seg[i].len > NGX_CMS_API_MAX_SEGMENT_LEN) {
            req->bad_reason = "path segment too long";
            return NGX_CMS_API_BAD_PATH;
        }
    }

    if (n > NGX_CMS_API_MAX_SEGMENTS) {
        req->bad_reason = "path too deep";
        return NGX_CMS_API_BAD_PATH;
    }

    if (n == 0) {
        /* "/api/v1" itself: under the API, but names nothing */
        return NGX_CMS_API_OK;
    }

    node = ngx_cms_api_find_top(seg, n, &k);

    if (node) {
        req->collection = node->name;
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
 * nginx leaves a bare '?' in front of an empty one.  The check stops at
 * a '?' as at the bytes it refuses, and only a path it stopped on is
 * searched for one and checked again up to it: not every path is
 * searched.  (It may also have stopped before the '?': "//?" has an
 * empty segment, "//" is the root with its trailing slash.)  One
 * trailing slash is dropped, as CMS tolerates it.
 */

static const char *
ngx_cms_api_check(const unsigned char *path, size_t *len,
    ngx_cms_span_t *segs, size_t *nsegs)
{
    const char           *reason;
    const unsigned char  *q;

    reason = ngx_cms_api_check_upto(path, len, segs, nsegs);

    if (reason == NULL) {
        return NULL;
    }

    /* within *len: dropping a trailing slash leaves any '?' in it */

    q = memchr(path, '?', *len);
    if (q == NULL) {
        return reason;
    }

    *len = q - path;

    return ngx_cms_api_check_upto(path, len, segs, nsegs);
}


static const char *
ngx_cms_api_check_upto(const unsigned char *path, size_t *len,
    ngx_cms_span_t *segs, size_t *nsegs)
{
    size_t  n;

    n = *len;

    if (n == 0 || path[0] != '/') {
        return "path is not absolute";
    }

    if (n > 1 && path[n - 1] == '/') {
        n--;
    }

    *len = n;
    *nsegs = 0;

    if (n == 1) {
        return NULL;
    }

#if defined(__SSE2__)
    return ngx_cms_api_check_sse2(path, n, segs, nsegs);
#else
    return ngx_cms_api_check_bytes(path, 1, 1, n, segs, nsegs);
#endif
}


/*
 * The segment from start to end, which the check found clean: empty and
 * dot segments are refused, the first ones are kept, all are counted.
 */

static inline const char *
ngx_cms_api_segment(const unsigned char *path, size_t start, size_t end,
    ngx_cms_span_t *segs, size_t *nsegs)
{
    switch (end - start) {

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

    if (*nsegs < NGX_CMS_API_MAX_SEGMENTS + 2) {
        segs[*nsegs].data = path + start;
        segs[*nsegs].len = end - start;
    }

    (*nsegs)++;

    return NULL;
}


/*
 * The bytes of path[i .. n) one by one, the segment in progress starting
 * at start: the whole path in a build without SSE2, a path shorter than
 * sixteen bytes in one with it.  t/unit/test_api_diff.c compares
 * the whole path this way with the check in use on every path it makes.
 */

static const char *
ngx_cms_api_check_bytes(const unsigned char *path, size_t i, size_t start,
    size_t n, ngx_cms_span_t *segs, size_t *nsegs)
{
    const char    *reason;
    unsigned char  cls;

    for ( /* void */ ; i < n; i++) {
        cls = ngx_cms_api_class[path[i]];

        if (cls == 0) {
            continue;
        }

        if (cls != NGX_CMS_API_C_SLASH) {
            return ngx_cms_api_class_reason[cls];
        }

        reason = ngx_cms_api_segment(path, start, i, segs, nsegs);
        if (reason) {
            return reason;
        }

        start = i + 1;
    }

    return ngx_cms_api_segment(path, start, n, segs, nsegs);
}


#if defined(__SSE2__)

/*
 * The same check sixteen bytes at a time, for the paths it passes: the
 * bytes after the leading '/' in blocks of sixteen, the last ones as part
 * of the path's last sixteen.  A block with a byte the class table
 * refuses (controls and space, DEL, '%', '\\', ';', '#', '?'), or a
 * segment that may be empty or a dot segment (two bytes or fewer, the
 * first a '.', or none), sends the whole path to the byte-by-byte check,
 * which says what is wrong, and where first.  Otherwise only the slashes
 * are visited: a GUID path has four.
 */

/*
 * The segment from start to end, kept and counted by the vector check,
 * unless it may be empty or a dot segment (two bytes or fewer, the first
 * a '.'): then -1, and the byte check decides.
 */

static inline int
ngx_cms_api_keep(const unsigned char *path, size_t start, size_t end,
    ngx_cms_span_t *segs, size_t *count)
{
    size_t  len;

    len = end - start;

    if (len <= 2 && (len == 0 || path[start] == '.')) {
        return -1;
    }

    if (*count < NGX_CMS_API_MAX_SEGMENTS + 2) {
        segs[*count].data = path + start;
        segs[*count].len = len;
    }

    (*count)++;

    return 0;
}


static const char *
ngx_cms_api_check_sse2(const unsigned char *path, size_t n,
    ngx_cms_span_t *segs, size_t *nsegs)
{
    size_t    base, i, start, shift, count;
    unsigned  slash;
    __m128i   v, m;

    if (n < 16) {
        return ngx_cms_api_check_bytes(path, 1, 1, n, segs, nsegs);
    }

    /* counted here, where a store into segs cannot change it */
    count = 0;
    start = 1;

    for (base = 1; base < n; base += 16) {

        if (n - base >= 16) {
            v = _mm_loadu_si128((const __m128i *) (path + base));
            shift = 0;

        } else {
            /* the last sixteen bytes, and only the new ones counted */
            v = _mm_loadu_si128((const __m128i *) (path + n - 16));
            shift = 16 - (n - base);
        }

        /* bytes up to 0x20 (unsigned), then the six others */

        m = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x20)), v);
        m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)));
        m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('%')));
        m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
        m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8(';')));
        m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('#')));
        m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('?')));

        if ((unsigned) _mm_movemask_epi8(m) >> shift) {
            goto exact;
        }

        slash = (unsigned) _mm_movemask_epi8(
                               _mm_cmpeq_epi8(v, _mm_set1_epi8('/')))
                >> shift;

        while (slash) {
            i = base + __builtin_ctz(slash);

            if (ngx_cms_api_keep(path, start, i, segs, &count) != 0) {
                goto exact;
            }

            start = i + 1;
            slash &= slash - 1;
        }
    }

    /* the last segment */

    if (ngx_cms_api_keep(path, start, n, segs, &count) != 0) {
        goto exact;
    }

    *nsegs = count;

    return NULL;

exact:

    return ngx_cms_api_check_bytes(path, 1, 1, n, segs, nsegs);
}

#endif


/*
 * "/api/v1" in any letter case at p, on a path the check passed, with
 * at least seven bytes: every byte of the prefix has the 0x20 bit set,
 * and the only bytes that become one of them when it is set are their
 * upper case and two controls ('/' from 0x0f, '1' from 0x11) that the
 * check refused.  So: two overlapping words, one OR and one compare each.
 */

static int
ngx_cms_api_prefix(const unsigned char *p)
{
    uint32_t  a, b, pa, pb;

    memcpy(&a, p, 4);
    memcpy(&b, p + 3, 4);
    memcpy(&pa, "/api", 4);
    memcpy(&pb, "i/v1", 4);

    return (a | 0x20202020) == pa && (b | 0x20202020) == pb;
}


/*
 * The longest top-level name that matches whole leading segments, by
 * hash: the first segment, then the first two, ... while a key says a
 * longer name goes on from there.  *depth is the number of segments
 * the name has (1 if none matched).
 */

static const ngx_cms_api_node_t *
ngx_cms_api_find_top(const ngx_cms_span_t *seg, size_t n, size_t *depth)
{
    size_t                     k, len;
    const ngx_cms_api_key_t   *key;
    const ngx_cms_api_node_t  *best;

    best = NULL;
    *depth = 1;

    for (k = 0; k < n; k++) {

        len = seg[k].data + seg[k].len - seg[0].data;

        key = ngx_cms_api_find_key(ngx_cms_api_hash(seg[0].data, len),
                                   seg[0].data, len);
        if (key == NULL) {
            break;
        }

        if (key->node) {
            best = key->node;
            *depth = k + 1;
        }

        if (!key->longer) {
            break;
        }
    }

    return best;
}


static const ngx_cms_api_key_t *
ngx_cms_api_find_key(uint32_t hash, const unsigned char *p, size_t len)
{
    size_t                    slot;
    const ngx_cms_api_key_t  *key;

    for (slot = hash & (NGX_CMS_API_NSLOTS - 1);
         ngx_cms_api_slots[slot];
         slot = (slot + 1) & (NGX_CMS_API_NSLOTS - 1))
    {
        key = &ngx_cms_api_keys[ngx_cms_api_slots[slot] - 1];

        if (key->hash == hash
            && key->len == len
            && ngx_cms_api_key_eq(p, key->lower, len))
        {
            return key;
        }
    }

    return NULL;
}


/*
 * len bytes at p against a key's lower-case name, eight (or four) at a
 * time.  A key name has only letters, digits and '/' (the build checks),
 * and p is a path the check passed: OR-ing 0x20 into its bytes turns
 * upper-case letters into lower case, and the only other bytes it turns
 * into a name's bytes are controls ('/' from 0x0f, digits from 0x10-0x19),
 * which the check refused.  The last word overlaps the one before it.
 */

static int
ngx_cms_api_key_eq(const unsigned char *p, const unsigned char *lower,
    size_t len)
{
    size_t    i;
    uint32_t  a4, b4;
    uint64_t  a8, b8;

    if (len >= 8) {
        for (i = 0; i + 8 < len; i += 8) {
            memcpy(&a8, p + i, 8);
            memcpy(&b8, lower + i, 8);

            if ((a8 | 0x2020202020202020ULL) != b8) {
                return 0;
            }
        }

        memcpy(&a8, p + len - 8, 8);
        memcpy(&b8, lower + len - 8, 8);

        return (a8 | 0x2020202020202020ULL) == b8;
    }

    if (len >= 4) {
        memcpy(&a4, p, 4);
        memcpy(&b4, lower, 4);

        if ((a4 | 0x20202020) != b4) {
            return 0;
        }

        memcpy(&a4, p + len - 4, 4);
        memcpy(&b4, lower + len - 4, 4);

        return (a4 | 0x20202020) == b4;
    }

    for (i = 0; i < len; i++) {
        if ((p[i] | 0x20) != lower[i]) {
            return 0;
        }
    }

    return 1;
}


void
ngx_cms_api_init(void)
{
    if (ngx_cms_api_ready) {
        return;
    }

    ngx_cms_api_build();

    ngx_cms_api_ready = 1;
}


static void
ngx_cms_api_build(void)
{
    size_t                     i, c;
    const ngx_cms_api_node_t  *node;

    for (c = 0; c < 256; c++) {
        if (c < 0x21 || c == 0x7f) {
            ngx_cms_api_class[c] = NGX_CMS_API_C_CONTROL;
        }
    }

    ngx_cms_api_class['/'] = NGX_CMS_API_C_SLASH;
    ngx_cms_api_class['%'] = NGX_CMS_API_C_PERCENT;
    ngx_cms_api_class['\\'] = NGX_CMS_API_C_BACKSLASH;
    ngx_cms_api_class[';'] = NGX_CMS_API_C_SEMICOLON;
    ngx_cms_api_class['#'] = NGX_CMS_API_C_HASH;
    ngx_cms_api_class['?'] = NGX_CMS_API_C_QUERY;

    for (node = ngx_cms_api_nodes; node->name; node++) {

        for (i = 1; i < node->len; i++) {
            if (node->name[i] == '/') {
                ngx_cms_api_add_key(node, i);
            }
        }

        ngx_cms_api_add_key(node, node->len);
    }
}


/*
 * The key for the first len bytes of node's name: the node's own when
 * len is the whole name (the first such node in the table wins, as the
 * walk over the table did), a lead to longer names otherwise.
 */

static void
ngx_cms_api_add_key(const ngx_cms_api_node_t *node, size_t len)
{
    size_t              i, slot;
    uint32_t            h;
    unsigned char       c;
    ngx_cms_api_key_t  *key;

    h = ngx_cms_api_hash((const unsigned char *) node->name, len);

    key = (ngx_cms_api_key_t *) ngx_cms_api_find_key(h,
                                    (const unsigned char *) node->name, len);

    if (key == NULL) {
        if (ngx_cms_api_nkeys == NGX_CMS_API_NKEYS) {
            /* the table outgrew the constant: a build-time mistake */
            abort();
        }

        key = &ngx_cms_api_keys[ngx_cms_api_nkeys++];

        key->name = node->name;
        key->len = len;
        key->hash = h;

        if (len > NGX_CMS_API_NAME_MAX) {
            abort();
        }

        for (i = 0; i < len; i++) {
            c = (unsigned char) node->name[i];

            if (!(c == '/' || (c >= '0' && c <= '9')
                  || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')))
            {
                /* ngx_cms_api_key_eq() compares only such names */
                abort();
            }

            key->lower[i] = c | 0x20;
        }

        for (slot = h & (NGX_CMS_API_NSLOTS - 1);
             ngx_cms_api_slots[slot];
             slot = (slot + 1) & (NGX_CMS_API_NSLOTS - 1))
        {
            /* void */
        }

        ngx_cms_api_slots[slot] = (unsigned char) ngx_cms_api_nkeys;
    }

    if (len == node->len) {
        if (key->node == NULL) {
            key->node = node;
        }

    } else {
        key->longer = 1;
    }
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

    if (has_moved_participant && ngx_cms_api_may_move(req)) {
        return NGX_CMS_API_MOVE;
    }

    return req->operation;
}


int
ngx_cms_api_may_move(const ngx_cms_api_req_t *req)
{
    /* the first byte tells most operations apart without a call */

    return req->operation != NULL
           && req->operation[0] == NGX_CMS_API_PCREATE[0]
           && strcmp(req->operation, NGX_CMS_API_PCREATE) == 0;
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
