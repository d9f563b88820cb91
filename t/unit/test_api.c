/*
 * Unit tests for ngx_cms_api.c: request path classification.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_cms_api.h"


#define GUID1  "ce5ee392-8f2b-4bd5-a0d6-0b4c1b6f3f0e"
#define GUID2  "9f003b66-61c2-4a53-8cdc-6f7f5e3b3c2a"

#define GET    NGX_CMS_METHOD_GET
#define POST   NGX_CMS_METHOD_POST
#define PUT    NGX_CMS_METHOD_PUT
#define DEL    NGX_CMS_METHOD_DELETE
#define OTHER  NGX_CMS_METHOD_OTHER


typedef struct {
    ngx_cms_method_e   method;
    const char        *path;
    const char        *collection;       /* canonical or NULL */
    const char        *collection_raw;
    const char        *object_id;
    const char        *sub;              /* canonical or NULL */
    const char        *sub_raw;
    const char        *sub_id;
    const char        *operation;
    const char        *call_id;
    int                known;
    int                call_scoped;
} api_case_t;


static ngx_cms_api_rc_e
classify(ngx_cms_method_e method, const char *path, ngx_cms_api_req_t *req)
{
    return ngx_cms_api_classify((const unsigned char *) path, strlen(path),
                                method, req);
}


/* the span as a C string, checking it lies inside path */

static const char *
span_str(const char *path, size_t path_len, ngx_cms_span_t span, char *buf,
    size_t size)
{
    if (span.len >= size) {
        fail_msg("span of %zu bytes", span.len);
    }

    if (span.len) {
        if ((const char *) span.data < path
            || (const char *) span.data + span.len > path + path_len)
        {
            fail_msg("span outside the path");
        }

        memcpy(buf, span.data, span.len);
    }

    buf[span.len] = '\0';

    return buf;
}


#define check_str(what, got, expected)                                        \
    if (((got) == NULL) != ((expected) == NULL)                               \
        || ((got) && strcmp((got), (expected)) != 0))                         \
    {                                                                         \
        fail_msg("%s %s: %s is \"%s\", expected \"%s\"",                     \
                 ngx_cms_method_name(c->method), c->path, what,               \
                 (got) ? (got) : "(null)",                                    \
                 (expected) ? (expected) : "(null)");                         \
    }

#define check_span(what, span, expected)                                      \
    check_str(what, span_str(c->path, strlen(c->path), span, buf,            \
                             sizeof(buf)), expected)

#define check_int(what, got, expected)                                        \
    if ((int) (got) != (int) (expected)) {                                    \
        fail_msg("%s %s: %s is %d, expected %d",                              \
                 ngx_cms_method_name(c->method), c->path, what,               \
                 (int) (got), (int) (expected));                              \
    }


static void
check_case(const api_case_t *c)
{
    char               buf[512];
    ngx_cms_api_rc_e   rc;
    ngx_cms_api_req_t  req;

    rc = classify(c->method, c->path, &req);

    check_int("rc", rc, NGX_CMS_API_OK);
    if (req.bad_reason) {
        fail_msg("%s: bad_reason \"%s\"", c->path, req.bad_reason);
    }
    check_str("collection", req.collection, c->collection);
    check_span("collection_raw", req.collection_raw, c->collection_raw);
    check_span("object_id", req.object_id, c->object_id);
    check_str("sub_collection", req.sub_collection, c->sub);
    check_span("sub_raw", req.sub_raw, c->sub_raw);
    check_span("sub_id", req.sub_id, c->sub_id);
    check_str("operation", req.operation, c->operation);
    check_span("call_id", req.call_id, c->call_id);
    check_int("known", req.known, c->known);
    check_int("call_scoped", req.call_scoped, c->call_scoped);
    check_int("write", req.write, c->method == POST || c->method == PUT
                                  || c->method == DEL);

    /* whatever classify names, a policy rule may name too */
    check_int("operation_valid",
              ngx_cms_api_operation_valid(
                  (const unsigned char *) req.operation,
                  strlen(req.operation)), 1);
}


static void
check_cases(const api_case_t *cases, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        check_case(&cases[i]);
    }
}


/* the paths TMS, CMM and scripts were seen to send (cms-api-notes.md) */

static void
test_seed_paths(void **state)
{
    static const api_case_t  cases[] = {
        { GET, "/api/v1/system/status", "system/status", "system/status",
          "", NULL, "", "", "system.status.get", "", 1, 0 },
        { GET, "/api/v1/callBridges", "callBridges", "callBridges",
          "", NULL, "", "", "callBridge.list", "", 1, 0 },
        { GET, "/api/v1/callBridges/" GUID1, "callBridges", "callBridges",
          GUID1, NULL, "", "", "callBridge.get", "", 1, 0 },
        { POST, "/api/v1/callProfiles", "callProfiles", "callProfiles",
          "", NULL, "", "", "callProfile.create", "", 1, 0 },
        { POST, "/api/v1/callLegProfiles", "callLegProfiles",
          "callLegProfiles", "", NULL, "", "", "callLegProfile.create", "",
          1, 0 },
        { POST, "/api/v1/cospaceBulkParameterSets",
          "cospaceBulkParameterSets", "cospaceBulkParameterSets", "", NULL,
          "", "", "bulkParameterSet.create", "", 1, 0 },
        { POST, "/api/v1/cospaceBulkSyncs", "cospaceBulkSyncs",
          "cospaceBulkSyncs", "", NULL, "", "", "bulkSync.create", "", 1, 0 },
        { GET, "/api/v1/cospaceBulkSyncs/" GUID1, "cospaceBulkSyncs",
          "cospaceBulkSyncs", GUID1, NULL, "", "", "bulkSync.get", "", 1, 0 },
        { GET, "/api/v1/coSpaces", "coSpaces", "coSpaces", "", NULL, "", "",
          "coSpace.list", "", 1, 0 },
        { PUT, "/api/v1/cospaces/" GUID1, "coSpaces", "cospaces", GUID1,
          NULL, "", "", "coSpace.modify", "", 1, 0 },
        { GET, "/api/v1/calls", "calls", "calls", "", NULL, "", "",
          "call.list", "", 1, 1 },
        { POST, "/api/v1/calls", "calls", "calls", "", NULL, "", "",
          "call.create", "", 1, 1 },
        { DEL, "/api/v1/calls/" GUID1, "calls", "calls", GUID1, NULL, "",
          "", "call.delete", GUID1, 1, 1 },
        { POST, "/api/v1/calls/" GUID1 "/calllegs", "calls", "calls", GUID1,
          "callLegs", "calllegs", "", "callLeg.create", GUID1, 1, 1 },
        { GET, "/api/v1/calls/" GUID1 "/calllegs", "calls", "calls", GUID1,
          "callLegs", "calllegs", "", "callLeg.list", GUID1, 1, 1 },
        { GET, "/api/v1/calllegs", "callLegs", "calllegs", "", NULL, "", "",
          "callLeg.list", "", 1, 1 },
        { GET, "/api/v1/participants", "participants", "participants", "",
          NULL, "", "", "participant.list", "", 1, 1 },
        { POST, "/api/v1/calls/" GUID1 "/participants/", "calls", "calls",
          GUID1, "participants", "participants", "", "participant.create",
          GUID1, 1, 1 },
        { GET, "/api/v1/calls/" GUID1 "/participants/", "calls", "calls",
          GUID1, "participants", "participants", "", "participant.list",
          GUID1, 1, 1 },
        { GET, "/api/v1/coSpaces/" GUID1 "/accessMethods/" GUID2,
          "coSpaces", "coSpaces", GUID1, "accessMethods", "accessMethods",
          GUID2, "accessMethod.get", "", 1, 0 },
        { PUT, "/api/v1/coSpaces/" GUID1 "/accessMethods/" GUID2,
          "coSpaces", "coSpaces", GUID1, "accessMethods", "accessMethods",
          GUID2, "accessMethod.modify", "", 1, 0 },
        { DEL, "/api/v1/coSpaces/" GUID1 "/accessMethods/" GUID2,
          "coSpaces", "coSpaces", GUID1, "accessMethods", "accessMethods",
          GUID2, "accessMethod.delete", "", 1, 0 },
        { POST, "/api/v1/coSpaces/" GUID1 "/accessMethods", "coSpaces",
          "coSpaces", GUID1, "accessMethods", "accessMethods", "",
          "accessMethod.create", "", 1, 0 },
        { GET, "/api/v1/system/configuration/cluster",
          "system/configuration/cluster", "system/configuration/cluster",
          "", NULL, "", "", "system.configuration.cluster.get", "", 1, 0 },
        { PUT, "/api/v1/system/configuration/cluster",
          "system/configuration/cluster", "system/configuration/cluster",
          "", NULL, "", "", "system.configuration.cluster.modify", "", 1,
          0 },
        { POST, "/api/v1/system/configuration/cluster",
          "system/configuration/cluster", "system/configuration/cluster",
          "", NULL, "", "", "system.configuration.cluster.modify", "", 1,
          0 },
        { PUT, "/api/v1/callLegs/" GUID1 "/cameraControl", "callLegs",
          "callLegs", GUID1, "cameraControl", "cameraControl", "",
          "callLeg.cameraControl", "", 1, 1 },
    };

    (void) state;

    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}


static void
test_more_nodes(void **state)
{
    static const api_case_t  cases[] = {
        { GET, "/api/v1/system/alarms", "system/alarms", "system/alarms",
          "", NULL, "", "", "system.alarms.list", "", 1, 0 },
        { GET, "/api/v1/system/load", "system/load", "system/load", "",
          NULL, "", "", "system.load.get", "", 1, 0 },
        { GET, "/api/v1/system/database", "system/database",
          "system/database", "", NULL, "", "", "system.database.get", "",
          1, 0 },
        { GET, "/api/v1/system/licensing", "system/licensing",
          "system/licensing", "", NULL, "", "", "system.licensing.get", "",
          1, 0 },
        { POST, "/api/v1/system/cdrReceivers", "system/cdrReceivers",
          "system/cdrReceivers", "", NULL, "", "",
          "system.cdrReceivers.create", "", 1, 0 },
        { DEL, "/api/v1/system/cdrReceivers/" GUID1, "system/cdrReceivers",
          "system/cdrReceivers", GUID1, NULL, "", "",
          "system.cdrReceivers.delete", "", 1, 0 },
        { GET, "/api/v1/system/diagnostics/" GUID1 "/contents",
          "system/diagnostics", "system/diagnostics", GUID1, "contents",
          "contents", "", "system.diagnostics.contents.get", "", 1, 0 },
        { GET, "/api/v1/system/MPLicenseUsage/knownHosts",
          "system/MPLicenseUsage/knownHosts",
          "system/MPLicenseUsage/knownHosts", "", NULL, "", "",
          "system.MPLicenseUsage.knownHosts.get", "", 1, 0 },
        { GET, "/api/v1/system/MPLicenseUsage", "system/MPLicenseUsage",
          "system/MPLicenseUsage", "", NULL, "", "",
          "system.MPLicenseUsage.get", "", 1, 0 },
        { POST, "/api/v1/system/profiles", "system/profiles",
          "system/profiles", "", NULL, "", "", "system.profiles.modify", "",
          1, 0 },
        { GET, "/api/v1/callLegs/" GUID1 "/callLegProfileTrace", "callLegs",
          "callLegs", GUID1, "callLegProfileTrace", "callLegProfileTrace",
          "", "callLeg.callLegProfileTrace.get", "", 1, 1 },
        { POST, "/api/v1/callLegs/" GUID1 "/generateKeyframe", "callLegs",
          "callLegs", GUID1, "generateKeyframe", "generateKeyframe", "",
          "callLeg.generateKeyframe", "", 1, 1 },
        { GET, "/api/v1/callLegs/" GUID1, "callLegs", "callLegs", GUID1,
          NULL, "", "", "callLeg.get", "", 1, 1 },
        { PUT, "/api/v1/participants/" GUID1, "participants",
          "participants", GUID1, NULL, "", "", "participant.modify", "", 1,
          1 },
        { GET, "/api/v1/participants/" GUID1 "/callLegs", "participants",
          "participants", GUID1, "callLegs", "callLegs", "", "callLeg.list",
          "", 1, 1 },
        { PUT, "/api/v1/calls/" GUID1 "/participants/*", "calls", "calls",
          GUID1, "participants", "participants", "*",
          "participant.modifyAll", GUID1, 1, 1 },
        { PUT, "/api/v1/calls/" GUID1 "/participants", "calls", "calls",
          GUID1, "participants", "participants", "",
          "participant.modifyAll", GUID1, 1, 1 },
        { POST, "/api/v1/calls/" GUID1 "/diagnostics", "calls", "calls",
          GUID1, "diagnostics", "diagnostics", "", "call.diagnostics",
          GUID1, 1, 1 },
        { PUT, "/api/v1/calls/" GUID1, "calls", "calls", GUID1, NULL, "", "",
          "call.modify", GUID1, 1, 1 },
        { DEL, "/api/v1/coSpaces", "coSpaces", "coSpaces", "", NULL, "", "",
          "coSpace.deleteAll", "", 1, 0 },
        { POST, "/api/v1/coSpaces/" GUID1 "/coSpaceUsers", "coSpaces",
          "coSpaces", GUID1, "coSpaceUsers", "coSpaceUsers", "",
          "coSpaceUser.create", "", 1, 0 },
        { GET, "/api/v1/coSpaces/" GUID1 "/meetingEntryDetail", "coSpaces",
          "coSpaces", GUID1, "meetingEntryDetail", "meetingEntryDetail", "",
          "coSpace.meetingEntryDetail.get", "", 1, 0 },
        { GET, "/api/v1/users/" GUID1 "/usercoSpaces", "users", "users",
          GUID1, "usercoSpaces", "usercoSpaces", "", "userCoSpace.list", "",
          1, 0 },
        { GET, "/api/v1/users/" GUID1 "/userCoSpaces", "users", "users",
          GUID1, "usercoSpaces", "userCoSpaces", "", "userCoSpace.list", "",
          1, 0 },
        { PUT, "/api/v1/layoutTemplates/" GUID1 "/template",
          "layoutTemplates", "layoutTemplates", GUID1, "template",
          "template", "", "layoutTemplate.template.modify", "", 1, 0 },
        { POST, "/api/v1/accessQuery", "accessQuery", "accessQuery", "",
          NULL, "", "", "accessQuery", "", 1, 0 },
        { GET, "/api/v1/clusterLicensing/raw", "clusterLicensing/raw",
          "clusterLicensing/raw", "", NULL, "", "",
          "clusterLicensing.raw.get", "", 1, 0 },
        { GET, "/api/v1/ivrs/" GUID1, "ivrs", "ivrs", GUID1, NULL, "", "",
          "ivr.get", "", 1, 0 },
        { POST, "/api/v1/ldapSyncs", "ldapSyncs", "ldapSyncs", "", NULL, "",
          "", "ldapSync.create", "", 1, 0 },
        { GET, "/api/v1/dialInSecurityProfiles", "dialInSecurityProfiles",
          "dialInSecurityProfiles", "", NULL, "", "",
          "dialInSecurityProfile.list", "", 1, 0 },
        { GET, "/api/v1/webBridges/" GUID1 "/status", "webBridges",
          "webBridges", GUID1, "status", "status", "",
          "webBridge.status.get", "", 1, 0 },
    };

    (void) state;

    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}


/* every collection the brief names is in the table, with its singular */

static void
test_collection_table(void **state)
{
    size_t             i;
    char               path[128], op[128];
    ngx_cms_api_req_t  req;

    static const char  *colls[][2] = {
        { "coSpaces", "coSpace" }, { "calls", "call" },
        { "callLegs", "callLeg" }, { "participants", "participant" },
        { "callProfiles", "callProfile" },
        { "callLegProfiles", "callLegProfile" },
        { "callBridges", "callBridge" },
        { "callBridgeGroups", "callBridgeGroup" },
        { "cospaceBulkParameterSets", "bulkParameterSet" },
        { "cospaceBulkSyncs", "bulkSync" }, { "tenants", "tenant" },
        { "users", "user" }, { "coSpaceTemplates", "coSpaceTemplate" },
        { "dialTransforms", "dialTransform" },
        { "inboundDialPlanRules", "inboundDialPlanRule" },
        { "outboundDialPlanRules", "outboundDialPlanRule" },
        { "forwardingDialPlanRules", "forwardingDialPlanRule" },
        { "callBrandingProfiles", "callBrandingProfile" },
        { "ivrs", "ivr" }, { "ldapServers", "ldapServer" },
        { "ldapMappings", "ldapMapping" }, { "ldapSources", "ldapSource" },
        { "ldapSyncs", "ldapSync" }, { "webBridges", "webBridge" },
        { "turnServers", "turnServer" }, { "recorders", "recorder" },
        { "streamers", "streamer" }, { "layoutTemplates", "layoutTemplate" },
        { "dtmfProfiles", "dtmfProfile" },
        { "dialInSecurityProfiles", "dialInSecurityProfile" },
        { "compatibilityProfiles", "compatibilityProfile" },
        { "userProfiles", "userProfile" },
    };

    (void) state;

    for (i = 0; i < sizeof(colls) / sizeof(colls[0]); i++) {
        snprintf(path, sizeof(path), "/api/v1/%s/" GUID1, colls[i][0]);
        snprintf(op, sizeof(op), "%s.delete", colls[i][1]);

        assert_int_equal(classify(DEL, path, &req), NGX_CMS_API_OK);
        assert_string_equal(req.collection, colls[i][0]);
        assert_string_equal(req.operation, op);
        assert_int_equal(req.known, 1);
        assert_int_equal(req.call_scoped,
                         strcmp(colls[i][0], "calls") == 0
                         || strcmp(colls[i][0], "callLegs") == 0
                         || strcmp(colls[i][0], "participants") == 0);
    }
}


static void
test_case_insensitive(void **state)
{
    static const api_case_t  cases[] = {
        { GET, "/api/v1/cospaces", "coSpaces", "cospaces", "", NULL, "", "",
          "coSpace.list", "", 1, 0 },
        { GET, "/api/v1/COSPACES", "coSpaces", "COSPACES", "", NULL, "", "",
          "coSpace.list", "", 1, 0 },
        { POST, "/api/v1/cospacebulkparametersets",
          "cospaceBulkParameterSets", "cospacebulkparametersets", "", NULL,
          "", "", "bulkParameterSet.create", "", 1, 0 },
        { POST, "/api/v1/coSpaceBulkParameterSets",
          "cospaceBulkParameterSets", "coSpaceBulkParameterSets", "", NULL,
          "", "", "bulkParameterSet.create", "", 1, 0 },
        { GET, "/API/V1/System/Status", "system/status", "System/Status", "",
          NULL, "", "", "system.status.get", "", 1, 0 },
        { GET, "/Api/v1/SYSTEM/CONFIGURATION/CLUSTER",
          "system/configuration/cluster", "SYSTEM/CONFIGURATION/CLUSTER", "",
          NULL, "", "", "system.configuration.cluster.get", "", 1, 0 },
        { POST, "/api/v1/CALLS/" GUID1 "/CallLegs", "calls", "CALLS", GUID1,
          "callLegs", "CallLegs", "", "callLeg.create", GUID1, 1, 1 },
        /* ids are kept verbatim: no case folding there */
        { GET, "/api/v1/coSpaces/ABCDEF-Mixed", "coSpaces", "coSpaces",
          "ABCDEF-Mixed", NULL, "", "", "coSpace.get", "", 1, 0 },
        { GET, "/api/v1/cospaces/" GUID1 "/ACCESSMETHODS", "coSpaces",
          "cospaces", GUID1, "accessMethods", "ACCESSMETHODS", "",
          "accessMethod.list", "", 1, 0 },
    };

    (void) state;

    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}


static void
test_trailing_slash(void **state)
{
    static const api_case_t  cases[] = {
        { GET, "/api/v1/cospaces/", "coSpaces", "cospaces", "", NULL, "", "",
          "coSpace.list", "", 1, 0 },
        { GET, "/api/v1/calls/", "calls", "calls", "", NULL, "", "",
          "call.list", "", 1, 1 },
        { GET, "/api/v1/coSpaces/" GUID1 "/", "coSpaces", "coSpaces", GUID1,
          NULL, "", "", "coSpace.get", "", 1, 0 },
        { GET, "/api/v1/coSpaces/" GUID1 "/accessMethods/", "coSpaces",
          "coSpaces", GUID1, "accessMethods", "accessMethods", "",
          "accessMethod.list", "", 1, 0 },
        { GET, "/api/v1/system/status/", "system/status", "system/status",
          "", NULL, "", "", "system.status.get", "", 1, 0 },
        { GET, "/api/v1/coSpaceTemplates/", "coSpaceTemplates",
          "coSpaceTemplates", "", NULL, "", "", "coSpaceTemplate.list", "",
          1, 0 },
        /* an empty query left behind by the caller ends the path */
        { GET, "/api/v1/coSpaces?", "coSpaces", "coSpaces", "", NULL, "", "",
          "coSpace.list", "", 1, 0 },
        { GET, "/api/v1/coSpaces/?offset=10&limit=5", "coSpaces", "coSpaces",
          "", NULL, "", "", "coSpace.list", "", 1, 0 },
    };

    (void) state;

    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}


static void
test_api_root(void **state)
{
    static const api_case_t  cases[] = {
        { GET, "/api/v1", NULL, "", "", NULL, "", "", "unknown", "", 0, 0 },
        { GET, "/api/v1/", NULL, "", "", NULL, "", "", "unknown", "", 0, 0 },
        { POST, "/API/V1/", NULL, "", "", NULL, "", "", "unknown", "", 0,
          0 },
    };

    (void) state;

    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}


/* unknown things are still under the API: OK, "unknown", proxied */

static void
test_unknown(void **state)
{
    static const api_case_t  cases[] = {
        { GET, "/api/v1/fooBars", NULL, "fooBars", "", NULL, "", "",
          "unknown", "", 0, 0 },
        { POST, "/api/v1/fooBars/" GUID1 "/x/" GUID2, NULL, "fooBars", GUID1,
          NULL, "x", GUID2, "unknown", "", 0, 0 },
        { GET, "/api/v1/system", NULL, "system", "", NULL, "", "",
          "unknown", "", 0, 0 },
        { GET, "/api/v1/system/bogus", NULL, "system", "bogus", NULL, "", "",
          "unknown", "", 0, 0 },
        /* a known collection with an unknown sub */
        { GET, "/api/v1/coSpaces/" GUID1 "/bogus", "coSpaces", "coSpaces",
          GUID1, NULL, "bogus", "", "unknown", "", 0, 0 },
        { GET, "/api/v1/calls/" GUID1 "/bogus", "calls", "calls", GUID1,
          NULL, "bogus", "", "unknown", GUID1, 0, 1 },
        /* methods CMS does not have for this shape */
        { OTHER, "/api/v1/coSpaces", "coSpaces", "coSpaces", "", NULL, "",
          "", "unknown", "", 0, 0 },
        { POST, "/api/v1/coSpaces/" GUID1, "coSpaces", "coSpaces", GUID1,
          NULL, "", "", "unknown", "", 0, 0 },
        { DEL, "/api/v1/system/status", "system/status", "system/status", "",
          NULL, "", "", "unknown", "", 0, 0 },
        { GET, "/api/v1/system/status/x", "system/status", "system/status",
          "x", NULL, "", "", "unknown", "", 0, 0 },
        { GET, "/api/v1/callLegs/" GUID1 "/cameraControl", "callLegs",
          "callLegs", GUID1, "cameraControl", "cameraControl", "", "unknown",
          "", 0, 1 },
        /* deeper than CMS goes */
        { GET, "/api/v1/coSpaces/" GUID1 "/accessMethods/" GUID2 "/x",
          "coSpaces", "coSpaces", GUID1, "accessMethods", "accessMethods",
          GUID2, "unknown", "", 0, 0 },
        /* "*" is the bulk form, for PUT and DELETE only */
        { GET, "/api/v1/calls/" GUID1 "/participants/*", "calls", "calls",
          GUID1, "participants", "participants", "*", "unknown", GUID1, 0,
          1 },
        { PUT, "/api/v1/calls/*/participants", "calls", "calls", "*",
          "participants", "participants", "", "unknown", "", 0, 1 },
        { PUT, "/api/v1/system/status/*", "system/status", "system/status",
          "*", NULL, "", "", "unknown", "", 0, 0 },
        { DEL, "/api/v1/calls/*", "calls", "calls", "*", NULL, "", "",
          "call.deleteAll", "", 1, 1 },
        /* names match whole segments only */
        { GET, "/api/v1/callsX", NULL, "callsX", "", NULL, "", "", "unknown",
          "", 0, 0 },
        { GET, "/api/v1/call", NULL, "call", "", NULL, "", "", "unknown", "",
          0, 0 },
        { GET, "/api/v1/system/statusX", NULL, "system", "statusX", NULL, "",
          "", "unknown", "", 0, 0 },
        { GET, "/api/v1/calls/" GUID1 "/participantsX", "calls", "calls",
          GUID1, NULL, "participantsX", "", "unknown", GUID1, 0, 1 },
        /* "api/v1" is a prefix only once */
        { GET, "/api/v1/api/v1/coSpaces", NULL, "api", "v1", NULL,
          "coSpaces", "", "unknown", "", 0, 0 },
        /* non-ASCII bytes are data, kept verbatim */
        { GET, "/api/v1/coSpaces/\xc3\xa9t\xc3\xa9", "coSpaces", "coSpaces",
          "\xc3\xa9t\xc3\xa9", NULL, "", "", "coSpace.get", "", 1, 0 },
    };

    (void) state;

    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}


static void
test_bad_paths(void **state)
{
    size_t             i;
    ngx_cms_api_rc_e   rc;
    ngx_cms_api_req_t  req;

    static const struct {
        const char  *path;
        size_t       len;      /* 0: strlen */
        const char  *reason;
    } cases[] = {
        { "/api/v1/coSpaces/../system/status", 0, "dot segment in path" },
        { "/api/v1/./coSpaces", 0, "dot segment in path" },
        { "/api/v1/coSpaces/.", 0, "dot segment in path" },
        { "/api/v1/coSpaces/..", 0, "dot segment in path" },
        { "/api/v1/coSpaces/../", 0, "dot segment in path" },
        { "/x/../api/v1/calls", 0, "dot segment in path" },
        { "/api/v1/%2e%2e/system/status", 0, "percent-encoding in path" },
        { "/api/v1/coSpaces/%00", 0, "percent-encoding in path" },
        { "/api/v1/co%53paces", 0, "percent-encoding in path" },
        { "/%61pi/v1/calls", 0, "percent-encoding in path" },
        { "/api/v1//coSpaces", 0, "empty path segment" },
        { "/api/v1/coSpaces//", 0, "empty path segment" },
        { "//api/v1/coSpaces", 0, "empty path segment" },
        { "/api//v1/coSpaces", 0, "empty path segment" },
        { "/api/v1/co\tSpaces", 0, "control character or space in path" },
        { "/api/v1/coSpaces/a b", 0, "control character or space in path" },
        { "/api/v1/coSpaces\r\n", 0, "control character or space in path" },
        { "/api/v1/coSpaces/\x7f", 0, "control character or space in path" },
        { "/api/v1/coSpaces/\0x", 19, "control character or space in path" },
        { "/api/v1/coSpaces\\..\\calls", 0, "backslash in path" },
        { "/api/v1/coSpaces;x/" GUID1, 0, "semicolon in path" },
        { "/api/v1/coSpaces#x", 0, "fragment in path" },
        { "api/v1/coSpaces", 0, "path is not absolute" },
        { "", 0, "path is not absolute" },
        { "?x", 0, "path is not absolute" },
        { "/api/v1/a/b/c/d/e/f/g/h/i", 0, "path too deep" },
        { "/api/v1/a/b/c/d/e/f/g/h/i/", 0, "path too deep" },
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rc = ngx_cms_api_classify((const unsigned char *) cases[i].path,
                                  cases[i].len ? cases[i].len
                                               : strlen(cases[i].path),
                                  GET, &req);

        if (rc != NGX_CMS_API_BAD_PATH || req.bad_reason == NULL
            || strcmp(req.bad_reason, cases[i].reason) != 0)
        {
            fail_msg("\"%s\": rc %d reason \"%s\", expected \"%s\"",
                     cases[i].path, (int) rc,
                     req.bad_reason ? req.bad_reason : "(null)",
                     cases[i].reason);
        }

        assert_string_equal(req.operation, "unknown");
        assert_int_equal(req.known, 0);
        assert_null(req.collection);
    }
}


static void
test_limits(void **state)
{
    char               path[512];
    ngx_cms_api_req_t  req;

    (void) state;

    /* 8 segments after /api/v1 are fine, 9 are not */

    assert_int_equal(classify(GET, "/api/v1/a/b/c/d/e/f/g/h", &req),
                     NGX_CMS_API_OK);
    assert_string_equal(req.operation, "unknown");
    assert_int_equal(classify(GET, "/api/v1/a/b/c/d/e/f/g/h/", &req),
                     NGX_CMS_API_OK);
    assert_int_equal(classify(GET, "/api/v1/a/b/c/d/e/f/g/h/i", &req),
                     NGX_CMS_API_BAD_PATH);
    assert_string_equal(req.bad_reason, "path too deep");

    /* the limits are on the API part only */

    assert_int_equal(classify(GET, "/a/b/c/d/e/f/g/h/i/j/k/l", &req),
                     NGX_CMS_API_NOT_API);

    /* a segment of 128 bytes is fine, 129 is not */

    memcpy(path, "/api/v1/coSpaces/", 17);
    memset(path + 17, 'a', 128);
    path[17 + 128] = '\0';

    assert_int_equal(classify(GET, path, &req), NGX_CMS_API_OK);
    assert_string_equal(req.operation, "coSpace.get");
    assert_int_equal(req.object_id.len, 128);

    path[17 + 128] = 'a';
    path[17 + 129] = '\0';

    assert_int_equal(classify(GET, path, &req), NGX_CMS_API_BAD_PATH);
    assert_string_equal(req.bad_reason, "path segment too long");
}


static void
test_not_api(void **state)
{
    size_t             i;
    ngx_cms_api_req_t  req;

    static const char  *paths[] = {
        "/",
        "/index.html",
        "/api",
        "/api/",
        "/api/v2/coSpaces",
        "/api/v10/coSpaces",
        "/api/v1x",
        "/api/v1.0/coSpaces",
        "/apiv1/coSpaces",
        "/coSpaces",
        "/static/app.js?x=%2e",
    };

    (void) state;

    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        if (classify(GET, paths[i], &req) != NGX_CMS_API_NOT_API) {
            fail_msg("\"%s\" is not NOT_API", paths[i]);
        }

        assert_null(req.collection);
        assert_null(req.bad_reason);
        assert_string_equal(req.operation, "unknown");
        assert_int_equal(req.known, 0);
    }
}


static void
test_write_flag(void **state)
{
    ngx_cms_api_req_t  req;

    (void) state;

    classify(GET, "/api/v1/coSpaces", &req);
    assert_int_equal(req.write, 0);
    classify(OTHER, "/api/v1/coSpaces", &req);
    assert_int_equal(req.write, 0);
    classify(POST, "/api/v1/coSpaces", &req);
    assert_int_equal(req.write, 1);
    classify(PUT, "/nothing/here", &req);
    assert_int_equal(req.write, 1);
    classify(DEL, "/api/v1/../x", &req);
    assert_int_equal(req.write, 1);
}


static void
test_refine(void **state)
{
    ngx_cms_api_req_t  req;

    (void) state;

    classify(POST, "/api/v1/calls/" GUID1 "/participants", &req);
    assert_string_equal(req.operation, "participant.create");
    assert_string_equal(ngx_cms_api_refine(&req, 1), "participant.move");
    assert_string_equal(ngx_cms_api_refine(&req, 0), "participant.create");
    assert_true(ngx_cms_api_may_move(&req));

    classify(POST, "/api/v1/participants", &req);
    assert_string_equal(ngx_cms_api_refine(&req, 1), "participant.move");
    assert_true(ngx_cms_api_may_move(&req));

    classify(POST, "/api/v1/calls/" GUID1 "/callLegs", &req);
    assert_string_equal(ngx_cms_api_refine(&req, 1), "callLeg.create");
    assert_false(ngx_cms_api_may_move(&req));

    classify(PUT, "/api/v1/participants/" GUID1, &req);
    assert_string_equal(ngx_cms_api_refine(&req, 1), "participant.modify");
    assert_false(ngx_cms_api_may_move(&req));

    classify(GET, "/api/v1/bogus", &req);
    assert_string_equal(ngx_cms_api_refine(&req, 1), "unknown");
    assert_false(ngx_cms_api_may_move(&req));
}


static int
valid(const char *name)
{
    return ngx_cms_api_operation_valid((const unsigned char *) name,
                                       strlen(name));
}


static void
test_operation_valid(void **state)
{
    size_t  i;

    static const char  *good[] = {
        "coSpace.modify", "coSpace.list", "coSpace.deleteAll",
        "call.create", "call.delete", "callLeg.create",
        "participant.move", "participant.create", "participant.modifyAll",
        "bulkParameterSet.create", "bulkSync.get", "accessMethod.create",
        "system.status.get", "system.alarms.list",
        "system.configuration.cluster.get",
        "system.configuration.cluster.modify", "callLeg.cameraControl",
        "callLeg.generateKeyframe", "unknown", "accessQuery",
        "*", "coSpace.*", "system.*", "system.configuration.*",
        "system.configuration.cluster.*", "participant.*", "callLeg.*",
        "bulkSync.*", "coSpace.meetingEntryDetail.*",
    };

    static const char  *bad[] = {
        "", "coSpace", "coSpace.", "coSpce.modify", "cospace.modify",
        "coSpaces.modify", "coSpace.modfy", "coSpace.modify ", " coSpace.*",
        "call.move", "participant.moved", "coSpce.*", "cospace.*", ".*",
        "*.*", "**", "coSpace*", "coSpace.*.get", "coSpace.m*",
        "system.status", "system.configuration.cluster", "system.status.*x",
        "unknown.*", "participant.move.*", "coSpace.list.*",
        "system.alarms.get.x", "callLeg.cameraControl.modify",
    };

    (void) state;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!valid(good[i])) {
            fail_msg("\"%s\" should be valid", good[i]);
        }
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (valid(bad[i])) {
            fail_msg("\"%s\" should be invalid", bad[i]);
        }
    }

    /* an embedded NUL is not a way to make a typo pass */
    assert_false(ngx_cms_api_operation_valid(
                     (const unsigned char *) "coSpace.list\0x", 14));
}


static int
match(const char *pattern, const char *op)
{
    return ngx_cms_api_operation_match((const unsigned char *) pattern,
                                       strlen(pattern), op);
}


static void
test_operation_match(void **state)
{
    (void) state;

    assert_true(match("*", "coSpace.modify"));
    assert_true(match("*", "unknown"));
    assert_true(match("coSpace.*", "coSpace.modify"));
    assert_true(match("coSpace.*", "coSpace.meetingEntryDetail.get"));
    assert_true(match("coSpace.modify", "coSpace.modify"));
    assert_true(match("system.configuration.*",
                      "system.configuration.cluster.modify"));

    assert_false(match("coSpace.*", "coSpaceUser.create"));
    assert_false(match("coSpace.*", "coSpace"));
    assert_false(match("coSpace.modify", "coSpace.modifyAll"));
    assert_false(match("coSpace.modifyAll", "coSpace.modify"));
    assert_false(match("cospace.modify", "coSpace.modify"));
    assert_false(match("participant.create", "participant.move"));
    assert_false(match("coSpace.*", NULL));
}


static void
test_method_name(void **state)
{
    (void) state;

    assert_string_equal(ngx_cms_method_name(GET), "GET");
    assert_string_equal(ngx_cms_method_name(POST), "POST");
    assert_string_equal(ngx_cms_method_name(PUT), "PUT");
    assert_string_equal(ngx_cms_method_name(DEL), "DELETE");
    assert_string_equal(ngx_cms_method_name(OTHER), "OTHER");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_seed_paths),
        cmocka_unit_test(test_more_nodes),
        cmocka_unit_test(test_collection_table),
        cmocka_unit_test(test_case_insensitive),
        cmocka_unit_test(test_trailing_slash),
        cmocka_unit_test(test_api_root),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_bad_paths),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_not_api),
        cmocka_unit_test(test_write_flag),
        cmocka_unit_test(test_refine),
        cmocka_unit_test(test_operation_valid),
        cmocka_unit_test(test_operation_match),
        cmocka_unit_test(test_method_name),
    };

    return cmocka_run_group_tests_name("ngx_cms_api", tests, NULL, NULL);
}
