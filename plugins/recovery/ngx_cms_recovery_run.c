
/*
 * ngx_cms recovery plugin: one recovery, after the active bridge died.
 *
 *   1. claim the failover's epoch in Redis (SET NX): exactly one
 *      instance recovers, even if two announced the same change; no
 *      Redis (or no answer from it): this instance recovers the meetings
 *      it knows itself, from the zone;
 *   2. the meetings of the dead bridge: from Redis (every instance's),
 *      else from the zone;
 *   3. for each, in order: POST /api/v1/calls with the body the client
 *      sent (coSpace=...) to the new active bridge, then each dial-out
 *      again, POST /api/v1/calls/<new>/callLegs (or /participants);
 *
 * bounded: one request per 1/cms_recovery_rate s, at most
 * cms_recovery_concurrency meetings at a time, cms_recovery_retries per
 * request (after 0.5 s, 1 s, ...), and all of it within
 * cms_recovery_deadline; what is left then is reported as not recovered.
 *
 * Nothing twice: a call create that got no answer may have been made,
 * so before trying again the bridge is asked for the coSpace's calls
 * (GET /api/v1/calls?coSpaceFilter=) and a call found there is taken; a
 * dial-out is tried again only when the bridge surely did not make it
 * (no connection, or CMS's 503 "busy"), since a second one would ring
 * the endpoint twice.
 *
 * Every step is a "recovery" event (the audit writes it): started,
 * call.recovered, callLeg.redialled, callLeg.redial_failed,
 * call.recovery_failed, call.skipped, done.  The bodies (which may hold
 * a PIN) are in none of them, nor in the error log.
 */


#include "ngx_cms_recovery.h"

#include <ngx_cms_xml.h>

#include <libxml/tree.h>


#define NGX_CMS_REC_MAX_BRIDGES     8

#define NGX_CMS_REC_WAIT            0   /* next request not sent yet */
#define NGX_CMS_REC_BUSY            1   /* a request on its way */
#define NGX_CMS_REC_DONE            2
#define NGX_CMS_REC_FAILED          3
#define NGX_CMS_REC_SKIPPED         4


typedef struct {
    ngx_pool_t                 *pool;
    ngx_log_t                  *log;
    ngx_str_t                   upstream;
    ngx_str_t                   from;
    ngx_str_t                   to;
    uint64_t                    epoch;
    ngx_cms_client_target_t     target;
    ngx_array_t                 meetings;   /* ngx_cms_rec_run_meeting_t */
    ngx_uint_t                  next;       /* the next one to start */
    ngx_uint_t                  active;     /* started, not finished */
    ngx_uint_t                  finished;
    ngx_msec_t                  started;
    ngx_msec_t                  deadline;
    ngx_msec_t                  interval;
    ngx_event_t                 tick;
    ngx_uint_t                  gen;        /* Redis answers find it */
    ngx_uint_t                  recovered;
    ngx_uint_t                  failed;
    ngx_uint_t                  skipped;
    ngx_uint_t                  legs;
    ngx_uint_t                  legs_failed;
    unsigned                    source_redis:1;
} ngx_cms_rec_run_t;


typedef struct {
    ngx_cms_rec_run_t          *run;
    ngx_cms_rec_run_meeting_t  *m;
} ngx_cms_rec_req_t;


static ngx_cms_rec_run_t  *ngx_cms_rec_current;
static ngx_uint_t          ngx_cms_rec_gen;


/*
 * A Redis handler's data is the run's number, not the run: a run aborted
 * meanwhile is gone, and its answer then finds no run of that number.
 */

static ngx_cms_rec_run_t *
ngx_cms_rec_run_of(void *data)
{
    ngx_cms_rec_run_t  *run;

    run = ngx_cms_rec_current;

    if (run == NULL || run->gen != (ngx_uint_t) (uintptr_t) data) {
        return NULL;
    }

    return run;
}


static void ngx_cms_rec_claimed(ngx_cms_redis_reply_t *reply,
    ngx_str_t *error, void *data);
static void ngx_cms_rec_loaded(ngx_cms_redis_reply_t *reply,
    ngx_str_t *error, void *data);
static void ngx_cms_rec_from_zone(ngx_cms_rec_run_t *run);
static void ngx_cms_rec_start(ngx_cms_rec_run_t *run);
static void ngx_cms_rec_tick(ngx_event_t *ev);
static ngx_uint_t ngx_cms_rec_step(ngx_cms_rec_run_t *run,
    ngx_cms_rec_run_meeting_t *m);
static ngx_int_t ngx_cms_rec_send(ngx_cms_rec_run_t *run,
    ngx_cms_rec_run_meeting_t *m, const char *method, ngx_str_t *path,
    ngx_str_t *body);
static void ngx_cms_rec_answer(ngx_cms_client_t *cc);
static void ngx_cms_rec_call_answer(ngx_cms_rec_run_t *run,
    ngx_cms_rec_run_meeting_t *m, ngx_cms_client_t *cc);
static void ngx_cms_rec_verify_answer(ngx_cms_rec_run_t *run,
    ngx_cms_rec_run_meeting_t *m, ngx_cms_client_t *cc);
static void ngx_cms_rec_leg_answer(ngx_cms_rec_run_t *run,
    ngx_cms_rec_run_meeting_t *m, ngx_cms_client_t *cc);
static void ngx_cms_rec_recovered(ngx_cms_rec_run_t *run,
    ngx_cms_rec_run_meeting_t *m, ngx_str_t *id);
static void ngx_cms_rec_retry(ngx_cms_rec_run_t *run,
    ngx_cms_rec_run_meeting_t *m, ngx_str_t *why, ngx_uint_t again);
static void ngx_cms_rec_fail(ngx_cms_rec_run_t *run,
    ngx_cms_rec_run_meeting_t *m, ngx_str_t *why);
static void ngx_cms_rec_finish_meeting(ngx_cms_rec_run_t *run,
    ngx_cms_rec_run_meeting_t *m, ngx_uint_t state);
static void ngx_cms_rec_done(ngx_cms_rec_run_t *run);
static ngx_int_t ngx_cms_rec_why(ngx_cms_rec_run_t *run,
    ngx_cms_client_t *cc, ngx_str_t *why);
static ngx_uint_t ngx_cms_rec_location_id(ngx_str_t *location,
    ngx_str_t *id);


void
ngx_cms_rec_failover(ngx_str_t *upstream, ngx_str_t *from, ngx_str_t *to,
    uint64_t epoch, ngx_log_t *log)
{
    u_char                    *p, who[NGX_INT64_LEN + 64], key[256];
    ngx_str_t                  args[3];
    ngx_uint_t                 i, n;
    ngx_pool_t                *pool;
    ngx_cms_rec_run_t         *run;
    ngx_cms_rec_main_conf_t   *rmcf;
    ngx_cms_bridge_target_t    bt[NGX_CMS_REC_MAX_BRIDGES];

    rmcf = ngx_cms_rec_conf();

    if (ngx_cms_rec_current) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "cms recovery: a new failover (epoch %uL) ends the "
                      "recovery under way", epoch);
        ngx_cms_rec_run_abort();
    }

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        return;
    }

    run = ngx_pcalloc(pool, sizeof(ngx_cms_rec_run_t));
    if (run == NULL
        || ngx_array_init(&run->meetings, pool, 16,
                          sizeof(ngx_cms_rec_run_meeting_t)) != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return;
    }

    run->pool = pool;
    run->gen = ++ngx_cms_rec_gen;
    run->log = ngx_cycle->log;
    run->epoch = epoch;
    run->started = ngx_current_msec;
    run->interval = ngx_max(1000 / rmcf->rate, 1);

    run->upstream.data = ngx_pstrdup(pool, upstream);
    run->upstream.len = upstream->len;
    run->from.data = ngx_pstrdup(pool, from);
    run->from.len = from->len;
    run->to.data = ngx_pstrdup(pool, to);
    run->to.len = to->len;

    if (run->upstream.data == NULL || run->from.data == NULL
        || run->to.data == NULL)
    {
        ngx_destroy_pool(pool);
        return;
    }

    /* the new active bridge: its address, credentials and TLS */

    n = ngx_cms_bridge_targets(&run->upstream, NGX_CMS_BRIDGE_ALL, bt,
                               NGX_CMS_REC_MAX_BRIDGES, rmcf->timeout,
                               256 * 1024, ngx_cycle->log);

    for (i = 0; i < n; i++) {
        if (bt[i].name.len == to->len
            && ngx_strncmp(bt[i].name.data, to->data, to->len) == 0)
        {
            run->target = bt[i].target;
            break;
        }
    }

    if (i == n) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "cms recovery: bridge \"%V\" of upstream \"%V\" not "
                      "found: the calls of \"%V\" are not recovered",
                      to, upstream, from);
        ngx_destroy_pool(pool);
        return;
    }

    ngx_cms_rec_current = run;

    run->tick.handler = ngx_cms_rec_tick;
    run->tick.data = run;
    run->tick.log = ngx_cycle->log;
    run->tick.cancelable = 1;

    /* exactly one instance: the one that claims the epoch */

    p = ngx_snprintf(key, sizeof(key) - 32, "%V", upstream);
    p = ngx_snprintf(p, 32, ":%uL", epoch);

    args[0].len = 5;
    args[0].data = (u_char *) "claim";
    args[1].data = key;
    args[1].len = p - key;
    args[2].data = who;
    args[2].len = ngx_snprintf(who, sizeof(who), "%V:%P",
                               &ngx_cycle->hostname, ngx_pid) - who;

    if (ngx_cms_redis_available()
        && ngx_cms_rec_redis_call(ngx_cms_rec_claimed,
                                  (void *) (uintptr_t) run->gen, 3, args)
           == NGX_OK)
    {
        return;
    }

    ngx_cms_rec_from_zone(run);
}


static void
ngx_cms_rec_claimed(ngx_cms_redis_reply_t *reply, ngx_str_t *error,
    void *data)
{
    ngx_str_t           args[1];
    ngx_cms_rec_run_t  *run;

    run = ngx_cms_rec_run_of(data);
    if (run == NULL) {
        return;
    }

    if (error || reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        ngx_log_error(NGX_LOG_WARN, run->log, 0,
                      "cms recovery: epoch %uL could not be claimed in "
                      "Redis (%V): recovering the calls this instance "
                      "knows", run->epoch, error);
        ngx_cms_rec_from_zone(run);
        return;
    }

    if (reply->integer == 0) {
        ngx_log_error(NGX_LOG_NOTICE, run->log, 0,
                      "cms recovery: epoch %uL is being recovered by "
                      "another instance", run->epoch);
        ngx_cms_rec_current = NULL;
        ngx_destroy_pool(run->pool);
        return;
    }

    ngx_str_set(&args[0], "load");

    if (ngx_cms_rec_redis_call(ngx_cms_rec_loaded, data, 1, args)
        == NGX_OK)
    {
        return;
    }

    ngx_cms_rec_from_zone(run);
}


static void
ngx_cms_rec_loaded(ngx_cms_redis_reply_t *reply, ngx_str_t *error,
    void *data)
{
    ngx_cms_rec_run_t  *run;

    run = ngx_cms_rec_run_of(data);
    if (run == NULL) {
        return;
    }

    if (error || reply == NULL
        || ngx_cms_rec_parse_load(run->pool, reply, &run->from,
                                  &run->meetings) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, run->log, 0,
                      "cms recovery: the meetings could not be read from "
                      "Redis (%V): recovering those this instance knows",
                      error);
        run->meetings.nelts = 0;
        ngx_cms_rec_from_zone(run);
        return;
    }

    run->source_redis = 1;

    ngx_cms_rec_start(run);
}


static void
ngx_cms_rec_from_zone(ngx_cms_rec_run_t *run)
{
    if (ngx_cms_rec_snapshot(run->pool, &run->from, &run->meetings)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, run->log, 0,
                      "cms recovery: out of memory; nothing recovered");
        ngx_cms_rec_current = NULL;
        ngx_destroy_pool(run->pool);
        return;
    }

    ngx_cms_rec_start(run);
}


static void
ngx_cms_rec_start(ngx_cms_rec_run_t *run)
{
    ngx_uint_t                   i, legs;
    ngx_cms_rec_main_conf_t     *rmcf;
    ngx_cms_rec_run_meeting_t   *m;

    rmcf = ngx_cms_rec_conf();

    if (rmcf == NULL) {
        ngx_cms_rec_current = NULL;
        ngx_destroy_pool(run->pool);
        return;
    }

    m = run->meetings.elts;
    legs = 0;

    for (i = 0; i < run->meetings.nelts; i++) {
        legs += m[i].legs.nelts;
    }

    run->deadline = ngx_current_msec + rmcf->deadline;

    ngx_log_error(NGX_LOG_NOTICE, run->log, 0,
                  "cms recovery: bridge \"%V\" died (epoch %uL): %ui "
                  "call(s) with %ui dial-out(s) to re-create on \"%V\" "
                  "(from %s)", &run->from, run->epoch, run->meetings.nelts,
                  legs, &run->to, run->source_redis ? "Redis" : "this "
                  "instance");

    ngx_cms_rec_count(&rmcf->sh->runs, 1);

    ngx_cms_rec_event("started", &run->from,
                      ",\"upstream\":\"%V\",\"from\":\"%V\",\"to\":\"%V\","
                      "\"epoch\":%uL,\"calls\":%ui,\"legs\":%ui,"
                      "\"source\":\"%s\"", &run->upstream, &run->from,
                      &run->to, run->epoch, run->meetings.nelts, legs,
                      run->source_redis ? "redis" : "zone");

    if (run->meetings.nelts == 0) {
        ngx_cms_rec_done(run);
        return;
    }

    ngx_add_timer(&run->tick, 1);
}


/* one request per tick: the rate; a meeting at a time each: the order */

static void
ngx_cms_rec_tick(ngx_event_t *ev)
{
    ngx_cms_rec_run_t  *run = ev->data;

    ngx_str_t                    why;
    ngx_uint_t                   i;
    ngx_cms_rec_main_conf_t     *rmcf;
    ngx_cms_rec_run_meeting_t   *m;

    rmcf = ngx_cms_rec_conf();
    m = run->meetings.elts;

    if (rmcf == NULL
        || (ngx_msec_int_t) (ngx_current_msec - run->deadline) >= 0)
    {
        ngx_str_set(&why, "deadline reached (cms_recovery_deadline)");

        for (i = 0; i < run->meetings.nelts; i++) {
            if (m[i].state == NGX_CMS_REC_BUSY && m[i].cc) {
                ngx_cms_client_cancel(m[i].cc);
                m[i].cc = NULL;
            }

            if (m[i].state == NGX_CMS_REC_WAIT
                || m[i].state == NGX_CMS_REC_BUSY)
            {
                if (i >= run->next) {
                    run->active++;
                }

                ngx_cms_rec_fail(run, &m[i], &why);
            }
        }

        run->next = run->meetings.nelts;
        ngx_cms_rec_done(run);
        return;
    }

    /* meetings under way first (their legs), then a new one */

    for (i = 0; i < run->next; i++) {
        if (m[i].state == NGX_CMS_REC_WAIT
            && (ngx_msec_int_t) (ngx_current_msec - m[i].next_at) >= 0
            && ngx_cms_rec_step(run, &m[i]))
        {
            goto next;
        }
    }

    while (run->next < run->meetings.nelts
           && run->active < rmcf->concurrency)
    {
        i = run->next++;
        run->active++;

        if (ngx_cms_rec_step(run, &m[i])) {
            break;
        }
    }

next:

    if (run != ngx_cms_rec_current) {
        return;
    }

    if (run->finished == run->meetings.nelts) {
        ngx_cms_rec_done(run);
        return;
    }

    ngx_add_timer(&run->tick, run->interval);
}


/*
 * The meeting's next request; returns 1 if one was sent (the tick's
 * budget is spent), 0 if the meeting finished without one.
 */

static ngx_uint_t
ngx_cms_rec_step(ngx_cms_rec_run_t *run, ngx_cms_rec_run_meeting_t *m)
{
    u_char                 *p;
    ngx_str_t               path, why;
    ngx_cms_rec_run_leg_t  *leg;

    if (m->new_call.len == 0) {

        if (!ngx_cms_rec_is_tracked(&m->call, NULL)) {
            ngx_cms_rec_event("call.skipped", &m->call,
                              ",\"call\":\"%V\",\"coSpace\":\"%V\","
                              "\"reason\":\"ended or checked in meanwhile\"",
                              &m->call, &m->space);
            ngx_cms_rec_finish_meeting(run, m, NGX_CMS_REC_SKIPPED);
            return 0;
        }

        if (m->verify) {
            /* the last create got no answer: was it made? */
            path.len = sizeof("/api/v1/calls?coSpaceFilter=") - 1
                       + m->space.len;
            path.data = ngx_pnalloc(run->pool, path.len);
            if (path.data == NULL) {
                return 0;
            }

            p = ngx_cpymem(path.data, "/api/v1/calls?coSpaceFilter=",
                           sizeof("/api/v1/calls?coSpaceFilter=") - 1);
            ngx_memcpy(p, m->space.data, m->space.len);

            return ngx_cms_rec_send(run, m, "GET", &path, NULL) == NGX_OK;
        }

        ngx_str_set(&path, "/api/v1/calls");

        return ngx_cms_rec_send(run, m, "POST", &path, &m->params) == NGX_OK;
    }

    /* the dial-outs, in the order they were made */

    leg = m->legs.elts;

    while (m->next_leg < m->legs.nelts
           && !ngx_cms_rec_is_tracked(&m->call, &leg[m->next_leg].id))
    {
        /* hung up meanwhile */
        m->next_leg++;
    }

    if (m->next_leg == m->legs.nelts) {
        ngx_cms_rec_finish_meeting(run, m, NGX_CMS_REC_DONE);
        return 0;
    }

    leg = &leg[m->next_leg];

    path.len = sizeof("/api/v1/calls//participants") - 1 + m->new_call.len;
    path.data = ngx_pnalloc(run->pool, path.len);
    if (path.data == NULL) {
        ngx_str_set(&why, "out of memory");
        ngx_cms_rec_fail(run, m, &why);
        return 0;
    }

    p = ngx_sprintf(path.data, "/api/v1/calls/%V/%s", &m->new_call,
                    leg->kind == 'p' ? "participants" : "callLegs");
    path.len = p - path.data;

    return ngx_cms_rec_send(run, m, "POST", &path, &leg->params) == NGX_OK;
}


static ngx_int_t
ngx_cms_rec_send(ngx_cms_rec_run_t *run, ngx_cms_rec_run_meeting_t *m,
    const char *method, ngx_str_t *path, ngx_str_t *body)
{
    ngx_str_t           meth, why;
    ngx_cms_rec_req_t  *rq;

    rq = ngx_palloc(run->pool, sizeof(ngx_cms_rec_req_t));
    if (rq == NULL) {
        return NGX_ERROR;
    }

    rq->run = run;
    rq->m = m;

    meth.data = (u_char *) method;
    meth.len = ngx_strlen(method);

    m->cc = ngx_cms_client_request(&run->target, &meth, path, body,
                                   ngx_cms_rec_answer, rq);

    if (m->cc == NULL) {
        ngx_str_set(&why, "the request could not be made");
        ngx_cms_rec_retry(run, m, &why, 1);
        return NGX_ERROR;
    }

    m->state = NGX_CMS_REC_BUSY;

    return NGX_OK;
}


static void
ngx_cms_rec_answer(ngx_cms_client_t *cc)
{
    ngx_cms_rec_req_t  *rq = cc->data;

    ngx_cms_rec_run_t          *run;
    ngx_cms_rec_run_meeting_t  *m;

    run = rq->run;
    m = rq->m;

    m->cc = NULL;
    m->state = NGX_CMS_REC_WAIT;

    if (m->new_call.len == 0) {
        if (m->verify) {
            ngx_cms_rec_verify_answer(run, m, cc);

        } else {
            ngx_cms_rec_call_answer(run, m, cc);
        }

    } else {
        ngx_cms_rec_leg_answer(run, m, cc);
    }

    if (run == ngx_cms_rec_current && run->finished == run->meetings.nelts
        && run->next == run->meetings.nelts)
    {
        if (run->tick.timer_set) {
            ngx_del_timer(&run->tick);
        }

        ngx_cms_rec_done(run);
    }
}


static void
ngx_cms_rec_call_answer(ngx_cms_rec_run_t *run, ngx_cms_rec_run_meeting_t *m,
    ngx_cms_client_t *cc)
{
    ngx_str_t  id, why;

    if (cc->rc == NGX_OK && cc->status == NGX_HTTP_OK
        && ngx_cms_rec_location_id(&cc->location, &id))
    {
        ngx_cms_rec_recovered(run, m, &id);
        return;
    }

    if (ngx_cms_rec_why(run, cc, &why) != NGX_OK) {
        ngx_cms_rec_fail(run, m, &why);
        return;
    }

    if (cc->rc == NGX_OK && cc->status >= 400 && cc->status < 500) {
        /* CMS said no (the coSpace is gone, ...): asking again won't do */
        ngx_cms_rec_fail(run, m, &why);
        return;
    }

    /* no answer: it may have been made; 5xx: it was not */
    m->verify = (cc->rc != NGX_OK);

    ngx_cms_rec_retry(run, m, &why, 1);
}


/* GET /calls?coSpaceFilter=: the call made by a create that got lost */

static void
ngx_cms_rec_verify_answer(ngx_cms_rec_run_t *run,
    ngx_cms_rec_run_meeting_t *m, ngx_cms_client_t *cc)
{
    xmlChar     *v;
    ngx_str_t    id, why;
    xmlDocPtr    doc;
    xmlNodePtr   root, c;

    if (cc->rc != NGX_OK || cc->status != NGX_HTTP_OK) {
        (void) ngx_cms_rec_why(run, cc, &why);
        ngx_cms_rec_retry(run, m, &why, 1);
        return;
    }

    doc = ngx_cms_xml_read(cc->body.data, cc->body.len, NULL, NULL);
    root = doc ? xmlDocGetRootElement(doc) : NULL;
    v = NULL;

    for (c = root ? root->children : NULL; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE
            && xmlStrcmp(c->name, (const xmlChar *) "call") == 0)
        {
            v = xmlGetProp(c, (const xmlChar *) "id");
            break;
        }
    }

    if (v) {
        id.len = ngx_strlen(v);
        id.data = ngx_pnalloc(run->pool, id.len);

        if (id.data) {
            ngx_memcpy(id.data, v, id.len);
        }

        xmlFree(v);
    }

    if (doc) {
        xmlFreeDoc(doc);
    }

    m->verify = 0;

    if (v && id.data) {
        ngx_log_error(NGX_LOG_NOTICE, run->log, 0,
                      "cms recovery: call \"%V\": the create that got no "
                      "answer was made (\"%V\"): taken", &m->call, &id);
        ngx_cms_rec_recovered(run, m, &id);
        return;
    }

    /* not made: try again now, the attempt was counted already */
    m->next_at = ngx_current_msec;
}


static void
ngx_cms_rec_leg_answer(ngx_cms_rec_run_t *run, ngx_cms_rec_run_meeting_t *m,
    ngx_cms_client_t *cc)
{
    ngx_str_t               id, why;
    ngx_cms_rec_run_leg_t  *leg;

    leg = (ngx_cms_rec_run_leg_t *) m->legs.elts + m->next_leg;

    if (cc->rc == NGX_OK && cc->status == NGX_HTTP_OK
        && ngx_cms_rec_location_id(&cc->location, &id))
    {
        leg->new_id.data = ngx_pstrdup(run->pool, &id);
        leg->new_id.len = leg->new_id.data ? id.len : 0;

        ngx_cms_rec_track_leg(&m->new_call, &leg->new_id, leg->kind,
                              &leg->params, run->log);
        ngx_cms_rec_map_add(&leg->id, &leg->new_id, 1);
        (void) ngx_cms_bridge_hosts(&run->upstream, &run->to, &leg->new_id);

        run->legs++;
        m->next_leg++;
        m->attempts = 0;
        m->next_at = ngx_current_msec;

        ngx_cms_rec_event("callLeg.redialled", &leg->id,
                          ",\"call\":\"%V\",\"new_call\":\"%V\","
                          "\"leg\":\"%V\",\"new_leg\":\"%V\","
                          "\"kind\":\"%s\",\"bridge\":\"%V\"",
                          &m->call, &m->new_call, &leg->id, &leg->new_id,
                          leg->kind == 'p' ? "participant" : "callLeg",
                          &run->to);
        return;
    }

    (void) ngx_cms_rec_why(run, cc, &why);

    /*
     * Again only when it surely was not made: no connection (the
     * request never left), or CMS's 503 busy; a timeout may have rung
     * the endpoint already.
     */

    leg->attempts++;

    if (((cc->rc != NGX_OK && !cc->timed_out)
         || (cc->rc == NGX_OK && cc->status == NGX_HTTP_SERVICE_UNAVAILABLE))
        && leg->attempts <= ngx_cms_rec_conf()->retries)
    {
        ngx_cms_rec_retry(run, m, &why, 0);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, run->log, 0,
                  "cms recovery: dial-out \"%V\" of call \"%V\" (now "
                  "\"%V\") not re-made on \"%V\": %V", &leg->id, &m->call,
                  &m->new_call, &run->to, &why);

    ngx_cms_rec_event("callLeg.redial_failed", &leg->id,
                      ",\"call\":\"%V\",\"new_call\":\"%V\",\"leg\":\"%V\","
                      "\"bridge\":\"%V\",\"attempts\":%ui,\"error\":\"%V\"",
                      &m->call, &m->new_call, &leg->id, &run->to,
                      leg->attempts, &why);

    run->legs_failed++;
    m->next_leg++;
    m->next_at = ngx_current_msec;
}


static void
ngx_cms_rec_recovered(ngx_cms_rec_run_t *run, ngx_cms_rec_run_meeting_t *m,
    ngx_str_t *id)
{
    m->new_call.data = ngx_pstrdup(run->pool, id);
    if (m->new_call.data == NULL) {
        return;
    }

    m->new_call.len = id->len;
    m->attempts = 0;
    m->next_at = ngx_current_msec;

    ngx_cms_rec_moved(&m->call, &m->new_call, &m->space, &run->to,
                      &m->params);
    ngx_cms_rec_map_add(&m->call, &m->new_call, 1);

    /*
     * It lives on the bridge it was made on, also after a failback: the
     * active bridge is then another, and a request for the call must not
     * go there (no second interruption).
     */
    (void) ngx_cms_bridge_hosts(&run->upstream, &run->to, &m->new_call);

    run->recovered++;

    ngx_log_error(NGX_LOG_NOTICE, run->log, 0,
                  "cms recovery: call \"%V\" on coSpace \"%V\" re-created "
                  "on \"%V\" as \"%V\"", &m->call, &m->space, &run->to,
                  &m->new_call);

    ngx_cms_rec_event("call.recovered", &m->call,
                      ",\"call\":\"%V\",\"new_call\":\"%V\","
                      "\"coSpace\":\"%V\",\"from\":\"%V\",\"bridge\":\"%V\","
                      "\"legs\":%ui,\"epoch\":%uL", &m->call, &m->new_call,
                      &m->space, &run->from, &run->to, m->legs.nelts,
                      run->epoch);
}


/* count the attempt; again after 0.5 s, 1 s, ... or give up */

static void
ngx_cms_rec_retry(ngx_cms_rec_run_t *run, ngx_cms_rec_run_meeting_t *m,
    ngx_str_t *why, ngx_uint_t count)
{
    ngx_cms_rec_main_conf_t  *rmcf;

    rmcf = ngx_cms_rec_conf();
    m->state = NGX_CMS_REC_WAIT;

    if (count && ++m->attempts > (rmcf ? rmcf->retries : 0)) {
        ngx_cms_rec_fail(run, m, why);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, run->log, 0,
                  "cms recovery: call \"%V\" on \"%V\": %V; trying again",
                  &m->call, &run->to, why);

    m->next_at = ngx_current_msec + 500 * ngx_max(m->attempts, 1);
}


static void
ngx_cms_rec_fail(ngx_cms_rec_run_t *run, ngx_cms_rec_run_meeting_t *m,
    ngx_str_t *why)
{
    ngx_uint_t  left;

    left = m->legs.nelts - ngx_min(m->next_leg, m->legs.nelts);

    ngx_log_error(NGX_LOG_ERR, run->log, 0,
                  "cms recovery: call \"%V\" on coSpace \"%V\" not "
                  "recovered on \"%V\"%s%V (%ui dial-out(s) not re-made): "
                  "%V", &m->call, &m->space, &run->to,
                  m->new_call.len ? " completely, now " : "", &m->new_call,
                  left, why);

    ngx_cms_rec_event("call.recovery_failed", &m->call,
                      ",\"call\":\"%V\",\"coSpace\":\"%V\",\"bridge\":\"%V\","
                      "\"new_call\":\"%V\",\"attempts\":%ui,"
                      "\"legs_not_redialled\":%ui,\"error\":\"%V\"",
                      &m->call, &m->space, &run->to, &m->new_call,
                      m->attempts, left, why);

    run->legs_failed += left;

    ngx_cms_rec_finish_meeting(run, m, NGX_CMS_REC_FAILED);
}


static void
ngx_cms_rec_finish_meeting(ngx_cms_rec_run_t *run,
    ngx_cms_rec_run_meeting_t *m, ngx_uint_t state)
{
    if (state == NGX_CMS_REC_FAILED && m->new_call.len == 0) {
        run->failed++;

    } else if (state == NGX_CMS_REC_SKIPPED) {
        run->skipped++;
    }

    m->state = state;
    run->finished++;
    run->active--;
}


static void
ngx_cms_rec_done(ngx_cms_rec_run_t *run)
{
    ngx_msec_t                elapsed;
    ngx_cms_rec_main_conf_t  *rmcf;

    elapsed = ngx_current_msec - run->started;

    ngx_log_error(NGX_LOG_NOTICE, run->log, 0,
                  "cms recovery: epoch %uL done in %M ms: %ui call(s) "
                  "recovered, %ui failed, %ui skipped; %ui dial-out(s) "
                  "re-made, %ui not", run->epoch, elapsed, run->recovered,
                  run->failed, run->skipped, run->legs, run->legs_failed);

    ngx_cms_rec_event("done", &run->from,
                      ",\"upstream\":\"%V\",\"from\":\"%V\",\"to\":\"%V\","
                      "\"epoch\":%uL,\"calls\":%ui,\"recovered\":%ui,"
                      "\"failed\":%ui,\"skipped\":%ui,\"legs\":%ui,"
                      "\"legs_failed\":%ui,\"ms\":%M", &run->upstream,
                      &run->from, &run->to, run->epoch,
                      run->meetings.nelts, run->recovered, run->failed,
                      run->skipped, run->legs, run->legs_failed, elapsed);

    rmcf = ngx_cms_rec_conf();

    if (rmcf) {
        ngx_shmtx_lock(&rmcf->shpool->mutex);
        rmcf->sh->recovered += run->recovered;
        rmcf->sh->failed += run->failed;
        rmcf->sh->skipped += run->skipped;
        rmcf->sh->legs += run->legs;
        rmcf->sh->legs_failed += run->legs_failed;
        ngx_shmtx_unlock(&rmcf->shpool->mutex);
    }

    if (run->tick.timer_set) {
        ngx_del_timer(&run->tick);
    }

    if (ngx_cms_rec_current == run) {
        ngx_cms_rec_current = NULL;
    }

    ngx_destroy_pool(run->pool);
}


/* a new failover, or the worker exits: cancel what is on its way */

void
ngx_cms_rec_run_abort(void)
{
    ngx_uint_t                  i;
    ngx_cms_rec_run_t          *run;
    ngx_cms_rec_run_meeting_t  *m;

    run = ngx_cms_rec_current;

    if (run == NULL) {
        return;
    }

    ngx_cms_rec_current = NULL;

    m = run->meetings.elts;

    for (i = 0; i < run->meetings.nelts; i++) {
        if (m[i].cc) {
            ngx_cms_client_cancel(m[i].cc);
            m[i].cc = NULL;
        }
    }

    if (run->tick.timer_set) {
        ngx_del_timer(&run->tick);
    }

    /* a Redis answer still to come finds no run of its number */

    ngx_destroy_pool(run->pool);
}


/* why a request did not succeed, as text for the log and the events */

static ngx_int_t
ngx_cms_rec_why(ngx_cms_rec_run_t *run, ngx_cms_client_t *cc, ngx_str_t *why)
{
    u_char  *p;

    p = ngx_pnalloc(run->pool, 256);
    if (p == NULL) {
        ngx_str_set(why, "out of memory");
        return NGX_ERROR;
    }

    why->data = p;

    if (cc->rc != NGX_OK) {
        why->len = ngx_snprintf(p, 256, "no answer: %s%V",
                                cc->timed_out ? "timed out, " : "",
                                &cc->error) - p;

    } else {
        why->len = ngx_snprintf(p, 256, "answered %ui", cc->status) - p;
    }

    /* the text goes into JSON between quotes: no quote or backslash */

    for (p = why->data; p < why->data + why->len; p++) {
        if (*p == '"' || *p == '\\' || *p < 0x20) {
            *p = '\'';
        }
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_cms_rec_location_id(ngx_str_t *location, ngx_str_t *id)
{
    u_char  *p, *last;

    last = location->data + location->len;

    while (last > location->data && (last[-1] == ' ' || last[-1] == '/')) {
        last--;
    }

    for (p = last; p > location->data && p[-1] != '/'; p--) {
        /* void */
    }

    id->data = p;
    id->len = last - p;

    for ( /* void */ ; p < last; p++) {
        if (!((*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a'
                                           && (*p | 0x20) <= 'z')
              || *p == '-'))
        {
            return 0;
        }
    }

    return id->len > 0 && id->len < NGX_CMS_REC_ID_LEN;
}
