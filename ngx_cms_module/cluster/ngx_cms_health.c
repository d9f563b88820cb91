
/*
 * ngx_cms: health checks.
 *
 * Who checks: every worker runs a cancelable tick; under the zone's lock
 * one of them owns the checks of a cluster (upstream_check's design: an
 * owner pid and a heartbeat in shared memory).  Another worker takes over
 * when the owner's heartbeat stops, when the owner has exited, or when
 * the owner runs an older configuration (a reload); a worker that exits
 * gives ownership up at once.
 *
 * Active checks: GET /api/v1/system/status with the bridge's own
 * credentials through the internal client.  Healthy is 200 with a
 * well-formed <status> document; 401 means the bridge is up and our
 * credentials are wrong ("credentials rejected"), which is reported, not
 * counted as down.  "fall" consecutive failures make a bridge down,
 * "rise" consecutive successes make it up again.  After a failure that
 * has not reached "fall" yet the bridge is checked again at once (at the
 * next tick), so a dead bridge is known in fall x timeout, not fall x
 * interval.  Jitter only ever shortens the interval.
 *
 * Passive signals: a live request that cannot connect, times out or gets
 * 502/503/504 from a bridge asks for an immediate re-check and counts
 * toward "fall" -- once between two active checks, so a burst of failed
 * requests is one signal, and with fall >= 2 a bridge is never marked
 * down without an active check agreeing.
 */


#include "ngx_cms_failover.h"
#include "ngx_cms_xml.h"

#include "ngx_cms_fo_redis.h"

#include <libxml/parser.h>

#include "ngx_cms_xml.h"


#define NGX_CMS_HEALTH_TICK       100
#define NGX_CMS_HEALTH_TAKEOVER   1000

#define NGX_CMS_CHECK_OK          0
#define NGX_CMS_CHECK_AUTH        1
#define NGX_CMS_CHECK_FAILED      2


static void ngx_cms_health_tick(ngx_event_t *ev);
static ngx_uint_t ngx_cms_health_own(ngx_cms_fo_cluster_t *cl,
    ngx_msec_t now);
static void ngx_cms_health_disown(ngx_cms_fo_cluster_t *cl);
static void ngx_cms_health_start(ngx_cms_fo_cluster_t *cl,
    ngx_cms_bridge_t *b, ngx_msec_t now);
static void ngx_cms_health_done(ngx_cms_client_t *cc);
static ngx_uint_t ngx_cms_health_status_document(u_char *data, size_t len);
static void ngx_cms_health_result(ngx_cms_fo_cluster_t *cl,
    ngx_cms_bridge_t *b, ngx_uint_t result, ngx_cms_client_t *cc,
    u_char *error, size_t len);
static void ngx_cms_health_report(ngx_cms_fo_cluster_t *cl,
    ngx_cms_bridge_t *b, ngx_uint_t old_health, ngx_uint_t health,
    ngx_uint_t old_cred, ngx_uint_t cred, ngx_cms_shm_text_t *error,
    ngx_uint_t checks);


static ngx_str_t  ngx_cms_health_method = ngx_string("GET");
static ngx_str_t  ngx_cms_health_path = ngx_string(NGX_CMS_HEALTH_PATH);


ngx_int_t
ngx_cms_health_init_process(ngx_cycle_t *cycle, ngx_cms_fo_cluster_t *cl)
{
    if (ngx_cms_cluster_hooks.init_process) {
        ngx_cms_cluster_hooks.init_process(cl);
    }

    cl->tick.handler = ngx_cms_health_tick;
    cl->tick.data = cl;
    cl->tick.log = cycle->log;
    cl->tick.cancelable = 1;

    /* spread the workers' ticks */
    ngx_add_timer(&cl->tick, 1 + ngx_random() % NGX_CMS_HEALTH_TICK);

    return NGX_OK;
}


void
ngx_cms_health_exit_process(ngx_cms_fo_cluster_t *cl)
{
    if (cl->tick.timer_set) {
        ngx_del_timer(&cl->tick);
    }

    ngx_cms_health_disown(cl);

    if (cl->sh == NULL) {
        return;
    }

    ngx_shmtx_lock(&cl->shpool->mutex);

    if (cl->sh->owner == ngx_pid) {
        cl->sh->owner = 0;
    }

    ngx_shmtx_unlock(&cl->shpool->mutex);
}


static void
ngx_cms_health_tick(ngx_event_t *ev)
{
    ngx_uint_t             i;
    ngx_msec_t             now;
    ngx_cms_bridge_t   *b;
    ngx_cms_fo_cluster_t  *cl;

    cl = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        ngx_cms_health_exit_process(cl);
        return;
    }

    now = ngx_current_msec;

    if (ngx_cms_cluster_hooks.tick) {
        ngx_cms_cluster_hooks.tick(cl);
    }

    if (ngx_cms_health_own(cl, now)) {
        b = cl->bridges.elts;

        for (i = 0; i < cl->bridges.nelts; i++) {
            if (b[i].check == NULL
                && (cl->sh->bridges[b[i].slot].recheck
                    || (ngx_msec_int_t) (now - b[i].next_check) >= 0))
            {
                ngx_cms_health_start(cl, &b[i], now);
            }
        }

        /* a failback waits for time to pass, not for a check */
        ngx_cms_failover_check_state(cl);

        if (cl->discovery) {
            ngx_cms_discovery_tick(cl);
        }

        ngx_cms_fo_redis_tick(cl);

    } else if (cl->owner) {
        ngx_cms_health_disown(cl);
    }

    ngx_add_timer(ev, NGX_CMS_HEALTH_TICK);
}


static ngx_uint_t
ngx_cms_health_own(ngx_cms_fo_cluster_t *cl, ngx_msec_t now)
{
    ngx_pid_t               prev;
    ngx_uint_t              i, mine;
    const char             *why;
    ngx_cms_bridge_t    *b;
    ngx_cms_shm_cluster_t  *sh;

    sh = cl->sh;
    why = NULL;
    prev = 0;

    ngx_shmtx_lock(&cl->shpool->mutex);

    if (sh->owner == ngx_pid) {
        mine = 1;

    } else {
        if (sh->owner == 0) {
            why = "";

        } else if (sh->owner_generation < cl->generation) {
            why = " (it runs the previous configuration)";

        } else if ((ngx_msec_int_t) (now - sh->heartbeat)
                   > NGX_CMS_HEALTH_TAKEOVER)
        {
            why = " (it stopped checking)";

        } else if ((ngx_msec_int_t) (now - sh->heartbeat)
                   > 2 * NGX_CMS_HEALTH_TICK
                   && kill(sh->owner, 0) == -1 && ngx_errno == NGX_ESRCH)
        {
            why = " (it has exited)";
        }

        mine = (why != NULL);

        if (mine) {
            prev = sh->owner;
            sh->owner = ngx_pid;
            sh->owner_generation = cl->generation;
        }
    }

    if (mine) {
        sh->heartbeat = now;
    }

    ngx_shmtx_unlock(&cl->shpool->mutex);

    if (why) {
        if (prev) {
            ngx_log_error(NGX_LOG_NOTICE, cl->log, 0,
                          "cms: upstream \"%V\": health checks taken over "
                          "from worker %P%s", &cl->name, prev, why);

        } else {
            ngx_log_error(NGX_LOG_INFO, cl->log, 0,
                          "cms: upstream \"%V\": this worker runs the health "
                          "checks", &cl->name);
        }

        /* check at once: the previous owner's schedule is not ours */

        b = cl->bridges.elts;
        for (i = 0; i < cl->bridges.nelts; i++) {
            b[i].next_check = now;
        }
    }

    cl->owner = mine;

    return mine;
}


static void
ngx_cms_health_disown(ngx_cms_fo_cluster_t *cl)
{
    ngx_uint_t            i;
    ngx_cms_bridge_t  *b;

    cl->owner = 0;

    b = cl->bridges.elts;

    for (i = 0; i < cl->bridges.nelts; i++) {
        if (b[i].check) {
            ngx_cms_client_cancel(b[i].check);
            b[i].check = NULL;
        }
    }

    ngx_cms_discovery_cancel(cl);
}


static void
ngx_cms_health_start(ngx_cms_fo_cluster_t *cl, ngx_cms_bridge_t *b,
    ngx_msec_t now)
{
    ngx_msec_t  next;

    cl->sh->bridges[b->slot].recheck = 0;

    next = cl->interval;

    if (cl->jitter) {
        next -= ngx_random() % cl->jitter;
    }

    b->next_check = now + next;

    b->check = ngx_cms_client_request(&b->target, &ngx_cms_health_method,
                                      &ngx_cms_health_path, NULL,
                                      ngx_cms_health_done, b);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, cl->log, 0,
                   "cms: health check of bridge \"%V\" of upstream \"%V\" %s",
                   &b->name, &cl->name,
                   b->check ? "started" : "not started");
}


static void
ngx_cms_health_done(ngx_cms_client_t *cc)
{
    u_char                *p;
    ngx_uint_t             result;
    ngx_cms_bridge_t   *b;
    ngx_cms_fo_cluster_t  *cl;
    u_char                 error[NGX_CMS_SHM_TEXT_LEN];

    b = cc->data;
    cl = b->cluster;

    b->check = NULL;

    if (!cl->owner || ngx_exiting || ngx_terminate) {
        return;
    }

    p = error;

    if (cc->rc != NGX_OK) {
        result = NGX_CMS_CHECK_FAILED;
        p = ngx_snprintf(error, sizeof(error), "%V", &cc->error);

    } else if (cc->status == NGX_HTTP_UNAUTHORIZED) {
        result = NGX_CMS_CHECK_AUTH;
        p = ngx_snprintf(error, sizeof(error),
                         "credentials of user \"%V\" rejected (401)",
                         &b->user);

    } else if (cc->status != NGX_HTTP_OK) {
        result = NGX_CMS_CHECK_FAILED;
        p = ngx_snprintf(error, sizeof(error), "%s answered %ui",
                         NGX_CMS_HEALTH_PATH, cc->status);

    } else if (!ngx_cms_health_status_document(cc->body.data, cc->body.len)) {
        result = NGX_CMS_CHECK_FAILED;
        p = ngx_snprintf(error, sizeof(error),
                         "%s answered 200 without a well-formed <status>",
                         NGX_CMS_HEALTH_PATH);

    } else {
        result = NGX_CMS_CHECK_OK;
    }

    ngx_cms_health_result(cl, b, result, cc, error, p - error);
}


/* well-formed XML whose root is <status>, by the one hardened parse */

static ngx_uint_t
ngx_cms_health_status_document(u_char *data, size_t len)
{
    ngx_uint_t  ok;
    xmlDocPtr   doc;
    xmlNodePtr  root;

    if (len > NGX_CMS_CHECK_MAX_RESPONSE) {
        return 0;
    }

    doc = ngx_cms_xml_read(data, len, NULL, NULL);

    ok = 0;

    if (doc) {
        root = xmlDocGetRootElement(doc);

        ok = (root != NULL
              && root->type == XML_ELEMENT_NODE
              && xmlStrcmp(root->name, (const xmlChar *) "status") == 0);

        xmlFreeDoc(doc);
    }

    return ok;
}


static void
ngx_cms_health_result(ngx_cms_fo_cluster_t *cl, ngx_cms_bridge_t *b,
    ngx_uint_t result, ngx_cms_client_t *cc, u_char *error, size_t len)
{
    ngx_uint_t             old_health, health, old_cred, cred, checks;
    ngx_msec_t             now;
    ngx_cms_shm_text_t     err;
    ngx_cms_shm_bridge_t  *sb;

    now = ngx_current_msec;
    sb = &cl->sh->bridges[b->slot];

    ngx_shmtx_lock(&cl->shpool->mutex);

    old_health = sb->health;
    old_cred = sb->credentials;

    sb->checks++;
    sb->checked = ngx_time();
    sb->latency = cc->elapsed;
    sb->status = (cc->rc == NGX_OK) ? cc->status : 0;
    sb->passive_counted = 0;

    if (result == NGX_CMS_CHECK_FAILED) {
        sb->failures++;
        sb->ok_run = 0;
        sb->fail_run++;
        ngx_cms_shm_set_text(&sb->error, error, len);

        if (sb->health != NGX_CMS_HEALTH_DOWN && sb->fail_run >= cl->fall) {
            sb->health = NGX_CMS_HEALTH_DOWN;
            sb->changed = ngx_time();
        }

    } else {
        sb->credentials = (result == NGX_CMS_CHECK_AUTH)
                          ? NGX_CMS_CRED_REJECTED : NGX_CMS_CRED_OK;
        sb->fail_run = 0;
        sb->ok_run++;

        if (sb->health == NGX_CMS_HEALTH_UNKNOWN
            || (sb->health == NGX_CMS_HEALTH_DOWN && sb->ok_run >= cl->rise))
        {
            sb->health = NGX_CMS_HEALTH_UP;
            sb->up_since = now;
            sb->changed = ngx_time();
        }
    }

    health = sb->health;
    cred = sb->credentials;
    checks = sb->ok_run;
    err = sb->error;

    ngx_shmtx_unlock(&cl->shpool->mutex);

    /* not down yet: look again at once instead of after a full interval */

    if (result == NGX_CMS_CHECK_FAILED && health != NGX_CMS_HEALTH_DOWN) {
        b->next_check = now;
    }

    if (result == NGX_CMS_CHECK_AUTH && old_cred != NGX_CMS_CRED_REJECTED) {
        ngx_cms_shm_set_text(&err, error, len);
    }

    ngx_cms_health_report(cl, b, old_health, health, old_cred, cred, &err,
                          checks);

    if (health != old_health) {
        ngx_cms_failover_check_state(cl);
    }
}


void
ngx_cms_health_passive(ngx_cms_fo_cluster_t *cl, ngx_cms_bridge_t *b,
    const char *what, ngx_str_t *peer)
{
    u_char                *p;
    ngx_uint_t             old_health, health;
    ngx_cms_shm_text_t     err;
    ngx_cms_shm_bridge_t  *sb;

    if (!cl->health || cl->sh == NULL) {
        return;
    }

    sb = &cl->sh->bridges[b->slot];

    p = ngx_snprintf(err.data, NGX_CMS_SHM_TEXT_LEN, "a live request %s",
                     what);

    if (peer) {
        p = ngx_snprintf(p, err.data + NGX_CMS_SHM_TEXT_LEN - p, " (%V)",
                         peer);
    }

    err.len = p - err.data;

    ngx_shmtx_lock(&cl->shpool->mutex);

    old_health = sb->health;

    sb->passive++;
    sb->recheck = 1;

    if (!sb->passive_counted && sb->health != NGX_CMS_HEALTH_DOWN) {
        sb->passive_counted = 1;
        sb->ok_run = 0;
        sb->fail_run++;
        sb->error = err;

        if (sb->fail_run >= cl->fall) {
            sb->health = NGX_CMS_HEALTH_DOWN;
            sb->changed = ngx_time();
        }
    }

    health = sb->health;

    ngx_shmtx_unlock(&cl->shpool->mutex);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, cl->log, 0,
                   "cms: passive signal from bridge \"%V\": %*s",
                   &b->name, err.len, err.data);

    if (health != old_health) {
        ngx_cms_health_report(cl, b, old_health, health, 0, 0, &err, 0);
        ngx_cms_failover_check_state(cl);
    }
}


/* once per change of health or credentials, never per check */

static void
ngx_cms_health_report(ngx_cms_fo_cluster_t *cl, ngx_cms_bridge_t *b,
    ngx_uint_t old_health, ngx_uint_t health, ngx_uint_t old_cred,
    ngx_uint_t cred, ngx_cms_shm_text_t *error, ngx_uint_t checks)
{
    ngx_str_t        detail;
    ngx_cms_json_t   j;
    u_char           buf[NGX_CMS_SHM_TEXT_LEN * 6 + 256];

    if (cred != old_cred && cred == NGX_CMS_CRED_REJECTED) {
        ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                      "cms: bridge \"%V\" (%V) of upstream \"%V\": "
                      "credentials rejected: %*s; it is up, not failed over",
                      &b->name, &b->address, &cl->name,
                      error->len, error->data);

    } else if (cred != old_cred && old_cred == NGX_CMS_CRED_REJECTED) {
        ngx_log_error(NGX_LOG_NOTICE, cl->log, 0,
                      "cms: bridge \"%V\" (%V) of upstream \"%V\" accepts "
                      "the credentials again", &b->name,
                      &b->address, &cl->name);
    }

    if (health == old_health) {
        return;
    }

    if (health == NGX_CMS_HEALTH_DOWN) {
        ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                      "cms: bridge \"%V\" (%V) of upstream \"%V\" is down: "
                      "%*s", &b->name, &b->address, &cl->name,
                      error->len, error->data);

    } else if (old_health == NGX_CMS_HEALTH_DOWN) {
        ngx_log_error(NGX_LOG_NOTICE, cl->log, 0,
                      "cms: bridge \"%V\" (%V) of upstream \"%V\" is up "
                      "again after %ui good checks", &b->name,
                      &b->address, &cl->name, checks);

    } else {
        ngx_log_error(NGX_LOG_INFO, cl->log, 0,
                      "cms: bridge \"%V\" (%V) of upstream \"%V\" is up",
                      &b->name, &b->address, &cl->name);
        return;
    }

    /* sized for the longest texts: it always fits */

    ngx_cms_json_init(&j, buf, sizeof(buf));

    ngx_cms_json_open(&j, '{');
    ngx_cms_json_key_lit(&j, "upstream");
    ngx_cms_json_string(&j, cl->name.data, cl->name.len);
    ngx_cms_json_key_lit(&j, "bridge");
    ngx_cms_json_string(&j, b->name.data, b->name.len);
    ngx_cms_json_key_lit(&j, "health");
    ngx_cms_json_cstring(&j, health == NGX_CMS_HEALTH_DOWN ? "down" : "up");

    if (health == NGX_CMS_HEALTH_DOWN) {
        ngx_cms_json_key_lit(&j, "why");
        ngx_cms_json_string(&j, error->data, error->len);
    }

    ngx_cms_json_close(&j, '}');

    if (!ngx_cms_json_fits(&j)) {
        return;
    }

    detail.data = buf;
    detail.len = j.pos - buf;

    ngx_cms_failover_event(cl, "health", &b->name, &detail);
}
