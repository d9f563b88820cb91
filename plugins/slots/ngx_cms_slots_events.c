
/*
 * ngx_cms slots plugin: what the slots tell the world: events for the
 * audit plugin (every transition) and the utilization warning.
 */


#include "ngx_cms_slots.h"

#include <ngx_cms_json_pool.h>


/* utilization: warn once when it crosses the threshold, again after it
 * fell back below */

void
ngx_cms_slots_utilization(ngx_cms_slots_main_conf_t *smcf, ngx_log_t *log)
{
    ngx_uint_t              in_use, total, pct, warn;
    ngx_cms_slots_change_t  ch;

    if (smcf->warn_percent == 0) {
        return;
    }

    warn = 0;

    ngx_shmtx_lock(&smcf->shpool->mutex);

    in_use = ngx_cms_slots_in_use_locked(smcf, &total);
    pct = total ? in_use * 100 / total : 0;

    if (pct >= smcf->warn_percent && !smcf->sh->warned) {
        smcf->sh->warned = 1;
        warn = 1;

    } else if (pct < smcf->warn_percent) {
        smcf->sh->warned = 0;
    }

    ngx_shmtx_unlock(&smcf->shpool->mutex);

    if (!warn) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "cms slots: %ui of %ui scheduled-meeting slots in use "
                  "(%ui%%, warning at %ui%%)", in_use, total, pct,
                  smcf->warn_percent);

    ngx_memzero(&ch, sizeof(ngx_cms_slots_change_t));
    ch.action = "utilization";
    ch.index = -1;
    ch.note.len = ngx_snprintf(ch.note.data, NGX_CMS_SLOTS_TEXT_LEN,
                               "%ui of %ui slots in use (%ui%%)",
                               in_use, total, pct) - ch.note.data;

    ngx_cms_slots_emit(&ch, log);
}


/* one change as an event for the audit plugin (type "slot") */

void
ngx_cms_slots_emit(ngx_cms_slots_change_t *ch, ngx_log_t *log)
{
    u_char            buf[2048];
    ngx_cms_json_t    j;
    ngx_cms_event_t   ev;

    static const char  *stuck[] = { "", "no_call", "checkin_failed" };

    /* the texts are capped in the zone: they fit */

    ngx_cms_json_init(&j, buf, sizeof(buf));

#define ngx_cms_slots_json(key, s, len)                                       \
    ngx_cms_json_key_lit(&j, key);                                            \
    ngx_cms_json_string(&j, s, len)

    ngx_cms_json_open(&j, '{');
    ngx_cms_json_key_lit(&j, "action");
    ngx_cms_json_cstring(&j, ch->action);

    if (ch->pool.len) {
        ngx_cms_slots_json("pool", ch->pool.data, ch->pool.len);
    }

    if (ch->index >= 0 && ch->slot.len) {
        ngx_cms_json_printf(&j, ",\"index\":%l", ch->index);
        ngx_cms_slots_json("slot", ch->slot.data, ch->slot.len);
    }

    if (ch->space.len) {
        ngx_cms_slots_json("space", ch->space.data, ch->space.len);
    }

    if (ch->index >= 0 && ch->slot.len) {
        ngx_cms_json_printf(&j, ",\"state\":\"%s\"",
                            ngx_cms_slot_state_name(ch->hold.state));
    }

    if (ch->hold.meeting.len) {
        ngx_cms_slots_json("meeting", ch->hold.meeting.data,
                           ch->hold.meeting.len);
    }

    if (ch->hold.user.len) {
        ngx_cms_slots_json("user", ch->hold.user.data, ch->hold.user.len);
    }

    if (ch->hold.since) {
        ngx_cms_json_key_lit(&j, "since");
        ngx_cms_json_time(&j, ch->hold.since);
    }

    if (ch->hold.call.len) {
        ngx_cms_slots_json("call", ch->hold.call.data, ch->hold.call.len);
    }

    if (ch->hold.stuck && ch->hold.stuck <= NGX_CMS_SLOTS_STUCK_CHECKIN) {
        ngx_cms_json_printf(&j, ",\"stuck\":\"%s\"",
                            stuck[ch->hold.stuck]);
    }

    if (ch->note.len) {
        ngx_cms_slots_json("note", ch->note.data, ch->note.len);
    }

#undef ngx_cms_slots_json

    ngx_cms_json_close(&j, '}');

    if (!ngx_cms_json_fits(&j)) {
        j.pos = ngx_snprintf(buf, sizeof(buf), "{\"action\":\"%s\"}",
                             ch->action);
    }

    ngx_memzero(&ev, sizeof(ngx_cms_event_t));

    ngx_str_set(&ev.type, "slot");
    ev.detail.data = buf;
    ev.detail.len = j.pos - buf;
    ev.log = log;

    if (ch->slot.len) {
        ev.subject.data = ch->slot.data;
        ev.subject.len = ch->slot.len;

    } else {
        ngx_str_set(&ev.subject, "slots");
    }

    ngx_cms_event_emit((ngx_cycle_t *) ngx_cycle, &ev);
}
