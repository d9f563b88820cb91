
/*
 * ngx_cms audit: one call, or one event, as one JSON object.
 *
 * The record is the same whatever carries it (a file line, a Redis
 * stream entry), so it is built here, apart from any sink.  Field
 * order is fixed and every field is always present (null when unknown),
 * so records can be read with a glance as well as with jq.
 *
 * A call record:
 *
 *   kind, time_ms, time          "call", ms since the epoch, ISO 8601 UTC
 *   request_id, client           $cms_request_id, the client's address
 *   user, role                   $remote_user and its role
 *   method, path, operation      as classified; path without the query
 *   client_path                  only when a plugin made the bridge act
 *                                on another id than the client named
 *                                (the recovery plugin: the old id the
 *                                client knows; path has the new one)
 *   object_id, call_id           ids from the path
 *   params                       the body, in order, secrets masked
 *   verdict, plugin, rule, reason
 *   status                       what the client got (0: nothing)
 *   bridge_status                what the bridge answered (0: no answer)
 *   location, location_id        the Location of a created object
 *   bridge, upstream_ms, duration_ms
 *   upstream_failed, client_aborted
 *   meeting, slot                the meeting and the slot the call is
 *                                about (the slots plugin's notes)
 *   summary                      one sentence (ngx_cms_audit_story.c)
 *
 * An event record:
 *
 *   kind ("event"), time_ms, time, type, subject, detail
 */


#include "ngx_cms_audit.h"


/* what a masked value reads as; the same as the core's $cms_params */
#define NGX_CMS_AUDIT_MASK  "***"


/* a member whose value is a string, null when it is empty */

#define ngx_cms_audit_record_str(j, key, s)                                   \
    ngx_cms_json_member_str(j, key, (s)->data, (s)->len)


static void ngx_cms_audit_call_json(ngx_cms_json_t *j,
    ngx_cms_call_t *call, ngx_cms_audit_facts_t *f);
static void ngx_cms_audit_event_json(ngx_cms_json_t *j,
    ngx_cms_event_t *ev);
static void ngx_cms_audit_record_params(ngx_cms_json_t *j,
    ngx_cms_call_t *call);


/*
 * One pass in the common case: the record is written into the caller's
 * buffer (about 1 KB is usual, the caller offers more); only a record
 * that does not fit (long parameter values) is written a second time,
 * into memory of the length the first pass counted.
 */

ngx_int_t
ngx_cms_audit_call_record(ngx_pool_t *pool, u_char *buf, size_t size,
    ngx_cms_call_t *call, ngx_cms_audit_facts_t *facts, ngx_str_t *rec)
{
    size_t                 len;
    ngx_cms_json_t   j;

    ngx_cms_json_init(&j, buf, size - 1);
    ngx_cms_audit_call_json(&j, call, facts);

    len = ngx_cms_json_length(&j);

    if (!ngx_cms_json_fits(&j)) {
        buf = ngx_pnalloc(pool, len + 1);
        if (buf == NULL) {
            return NGX_ERROR;
        }

        ngx_cms_json_init(&j, buf, len);
        ngx_cms_audit_call_json(&j, call, facts);
    }

    rec->data = buf;
    rec->len = len;

    return NGX_OK;
}


ngx_int_t
ngx_cms_audit_event_record(u_char *buf, size_t size, ngx_cms_event_t *ev,
    ngx_log_t *log, ngx_str_t *rec)
{
    size_t                 len;
    ngx_cms_json_t   j;

    ngx_cms_json_init(&j, buf, size - 1);
    ngx_cms_audit_event_json(&j, ev);

    len = ngx_cms_json_length(&j);

    if (!ngx_cms_json_fits(&j)) {
        buf = ngx_alloc(len + 1, log);
        if (buf == NULL) {
            return NGX_ERROR;
        }

        ngx_cms_json_init(&j, buf, len);
        ngx_cms_audit_event_json(&j, ev);
    }

    rec->data = buf;
    rec->len = len;

    return NGX_OK;
}


/*
 * Both passes of one record must see the same clock: nginx's cached time
 * only moves when the event loop updates it, never inside a handler.
 * The date and time to the second are formatted once a second.
 */

void
ngx_cms_audit_record_time(ngx_cms_json_t *j)
{
    u_char       *p;
    ngx_tm_t      tm;
    ngx_time_t   *tp;

    static time_t  sec = -1;
    static size_t  ms_len;
    static u_char  ms[NGX_TIME_T_LEN + 3];
    static u_char  buf[sizeof("\"1970-01-01T00:00:00.000Z\"")];

    tp = ngx_timeofday();

    if (tp->sec != sec) {
        ngx_gmtime(tp->sec, &tm);

        (void) ngx_sprintf(buf, "\"%4d-%02d-%02dT%02d:%02d:%02d.",
                           tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                           tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);

        /* time_ms is the second's digits, then three of milliseconds */

        ms_len = ngx_sprintf(ms, "%T", tp->sec) - ms;
        sec = tp->sec;
    }

    ms[ms_len] = (u_char) ('0' + tp->msec / 100);
    ms[ms_len + 1] = (u_char) ('0' + tp->msec / 10 % 10);
    ms[ms_len + 2] = (u_char) ('0' + tp->msec % 10);

    ngx_cms_json_member_raw(j, "time_ms", ms, ms_len + 3);

    p = buf + sizeof("\"1970-01-01T00:00:00.") - 1;

    p[0] = (u_char) ('0' + tp->msec / 100);
    p[1] = (u_char) ('0' + tp->msec / 10 % 10);
    p[2] = (u_char) ('0' + tp->msec % 10);
    p[3] = 'Z';
    p[4] = '"';

    /* the value is known to need no escaping */

    ngx_cms_json_member_raw(j, "time", buf, sizeof(buf) - 1);
}


static void
ngx_cms_audit_call_json(ngx_cms_json_t *j, ngx_cms_call_t *call,
    ngx_cms_audit_facts_t *f)
{
    ngx_str_t           *would, *path, *client, *method, *op;
    ngx_uint_t           verdict;
    ngx_http_request_t  *r;

    static const char  *verdicts[] = { "pass", "allow", "deny", "unknown" };

    r = ngx_cms_call_request(call);
    verdict = ngx_cms_call_num(call, NGX_CMS_CALL_VERDICT);

    ngx_cms_json_open(j, '{');

    /* a value known to need no escaping, as the times below */

    ngx_cms_json_key_lit(j, "kind");
    ngx_cms_json_raw(j, "\"call\"", sizeof("\"call\"") - 1);

    ngx_cms_audit_record_time(j);

    /* our own hex id ($cms_request_id cannot be set): no escaping */

    ngx_cms_json_member_token(j, "request_id", f->request_id.data,
                              f->request_id.len);
    ngx_cms_audit_record_str(j, "client", &r->connection->addr_text);
    ngx_cms_audit_record_str(j, "user",
                             ngx_cms_call_str(call, NGX_CMS_CALL_USER));
    ngx_cms_audit_record_str(j, "role",
                             ngx_cms_call_str(call, NGX_CMS_CALL_ROLE));

    /* nginx accepts only A-Z, '_' and '-' in a method */

    method = ngx_cms_call_str(call, NGX_CMS_CALL_METHOD);
    ngx_cms_json_member_token(j, "method", method->data, method->len);

    ngx_cms_audit_record_str(j, "path",
                             ngx_cms_call_str(call, NGX_CMS_CALL_PATH));

    path = ngx_cms_call_str(call, NGX_CMS_CALL_PATH);
    client = ngx_cms_call_str(call, NGX_CMS_CALL_CLIENT_PATH);

    /* the same string unless a plugin set the path (most calls) */

    if (client->len
        && (client->len != path->len
            || (client->data != path->data
                && ngx_strncmp(client->data, path->data, path->len) != 0)))
    {
        ngx_cms_audit_record_str(j, "client_path", client);
    }

    /* a name from the classifier's table */

    op = ngx_cms_call_str(call, NGX_CMS_CALL_OPERATION);
    ngx_cms_json_member_token(j, "operation", op->data, op->len);
    ngx_cms_audit_record_str(j, "object_id",
                             ngx_cms_call_str(call, NGX_CMS_CALL_OBJECT_ID));
    ngx_cms_audit_record_str(j, "call_id",
                             ngx_cms_call_str(call, NGX_CMS_CALL_CALL_ID));

    ngx_cms_json_key_lit(j, "params");
    ngx_cms_audit_record_params(j, call);

    if (verdict > NGX_CMS_VERDICT_DENY) {
        verdict = NGX_CMS_VERDICT_DENY + 1;
    }

    ngx_cms_json_member_token(j, "verdict", (u_char *) verdicts[verdict],
                              ngx_strlen(verdicts[verdict]));

    ngx_cms_audit_record_str(j, "plugin",
                             ngx_cms_call_str(call, NGX_CMS_CALL_PLUGIN));
    ngx_cms_audit_record_str(j, "rule",
                             ngx_cms_call_str(call, NGX_CMS_CALL_RULE));
    ngx_cms_audit_record_str(j, "reason",
                             ngx_cms_call_str(call, NGX_CMS_CALL_REASON));

    /* what a report-only policy rule would have refused, and why */

    would = ngx_cms_note_get(call, "would_deny");

    if (would) {
        ngx_cms_audit_record_str(j, "would_deny", would);
    }

    ngx_cms_json_member_uint(j, "status",
                             ngx_cms_call_num(call, NGX_CMS_CALL_STATUS));

    ngx_cms_json_member_uint(j, "bridge_status",
                             ngx_cms_call_num(call,
                                              NGX_CMS_CALL_BRIDGE_STATUS));

    ngx_cms_audit_record_str(j, "location",
                             ngx_cms_call_str(call, NGX_CMS_CALL_LOCATION));
    ngx_cms_audit_record_str(j, "location_id",
                             ngx_cms_call_str(call, NGX_CMS_CALL_LOCATION_ID));
    ngx_cms_audit_record_str(j, "bridge",
                             ngx_cms_call_str(call, NGX_CMS_CALL_BRIDGE));

    ngx_cms_json_member_uint(j, "upstream_ms",
                             ngx_cms_call_num(call, NGX_CMS_CALL_UPSTREAM_MS));

    ngx_cms_json_member_uint(j, "duration_ms", f->duration_ms);

    ngx_cms_json_member_bool(j, "upstream_failed",
                             ngx_cms_call_num(call,
                                              NGX_CMS_CALL_UPSTREAM_FAILED));

    ngx_cms_json_member_bool(j, "client_aborted",
                             ngx_cms_call_num(call,
                                              NGX_CMS_CALL_CLIENT_ABORTED));

    ngx_cms_audit_record_str(j, "meeting", &f->meeting);
    ngx_cms_audit_record_str(j, "slot", &f->slot);

    ngx_cms_json_key_lit(j, "summary");
    ngx_cms_audit_story_summary(j, call, f);

    ngx_cms_json_close(j, '}');
}


/*
 * Parameters as an object, in the order of the body.  A parameter that
 * comes twice is written twice: JSON readers keep the last, which is
 * what CMS does with it too, and the text still shows both.
 *
 * Secret values are masked; an empty one is not, since "passcode=" (the
 * passcode removed) is itself worth auditing and reveals nothing.
 */

static void
ngx_cms_audit_record_params(ngx_cms_json_t *j, ngx_cms_call_t *call)
{
    ngx_str_t         name;
    ngx_uint_t        i;
    ngx_array_t      *params;
    ngx_cms_param_t  *p;

    params = ngx_cms_call_params(call);

    ngx_cms_json_open(j, '{');

    if (params) {
        p = params->elts;

        for (i = 0; i < params->nelts; i++) {
            name = p[i].name;

            if (p[i].value.len && ngx_cms_param_is_secret(&name)) {
                ngx_cms_json_member_kv(j, name.data, name.len,
                                       (u_char *) NGX_CMS_AUDIT_MASK,
                                       sizeof(NGX_CMS_AUDIT_MASK) - 1);

            } else {
                ngx_cms_json_member_kv(j, name.data, name.len,
                                       p[i].value.data, p[i].value.len);
            }
        }
    }

    ngx_cms_json_close(j, '}');
}


static void
ngx_cms_audit_event_json(ngx_cms_json_t *j, ngx_cms_event_t *ev)
{
    ngx_cms_json_open(j, '{');

    ngx_cms_json_key_lit(j, "kind");
    ngx_cms_json_cstring(j, "event");

    ngx_cms_audit_record_time(j);

    ngx_cms_audit_record_str(j, "type", &ev->type);
    ngx_cms_audit_record_str(j, "subject", &ev->subject);

    /*
     * The detail is JSON text by contract; a detail that is not (a bug
     * in whoever emitted it) is kept as a string, so the line stays
     * valid JSON and the text is not lost.
     */

    ngx_cms_json_key_lit(j, "detail");

    if (ev->detail.len == 0) {
        ngx_cms_json_null(j);

    } else if (ngx_cms_json_valid(ev->detail.data, ev->detail.len)) {
        ngx_cms_json_verbatim(j, ev->detail.data, ev->detail.len);

    } else {
        ngx_cms_json_string(j, ev->detail.data, ev->detail.len);
    }

    ngx_cms_json_close(j, '}');
}
