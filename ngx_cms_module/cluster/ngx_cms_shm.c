
/*
 * ngx_cms: the shared memory zone (see ngx_cms_shm.h).
 *
 * "cms_zone <name> <size>;" at http level; without it a default zone is
 * made as soon as a cluster exists, so a single instance fails over
 * without any extra directive.  nginx hands the same memory to the next
 * cycle when the name and size stay the same, so a reload keeps the
 * active bridge, its epoch, health and the call map: init_zone only
 * finds or adds the records of the clusters and bridges the new
 * configuration names.
 */


#include "ngx_cms_failover.h"


#define NGX_CMS_SHM_DEFAULT_NAME  "ngx_cms"
#define NGX_CMS_SHM_DEFAULT_SIZE  (4 * 1024 * 1024)


static ngx_int_t ngx_cms_shm_init_zone(ngx_shm_zone_t *zone, void *data);
static ngx_cms_shm_cluster_t *ngx_cms_shm_cluster(ngx_slab_pool_t *shpool,
    ngx_cms_shm_t *sh, ngx_cms_fo_cluster_t *cl, ngx_log_t *log);
static ngx_int_t ngx_cms_shm_map_bridges(ngx_slab_pool_t *shpool,
    ngx_cms_shm_cluster_t *csh, ngx_cms_fo_cluster_t *cl, ngx_log_t *log);
static ngx_uint_t ngx_cms_shm_slot_used(ngx_cms_fo_cluster_t *cl,
    ngx_uint_t slot);
static void ngx_cms_shm_purge_slot(ngx_slab_pool_t *shpool,
    ngx_cms_shm_cluster_t *csh, ngx_uint_t slot);


/* cms_zone <name> <size>; */

char *
ngx_cms_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_fo_main_conf_t  *fmcf = conf;

    ssize_t     size;
    ngx_str_t  *value;

    if (fmcf->zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid cms_zone size \"%V\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (64 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cms_zone \"%V\" is too small, it needs at "
                           "least %uzk", &value[1], 64 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    if (ngx_cms_shm_add(cf, fmcf, &value[1], size) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* with name == NULL: the default zone, when none was configured */

ngx_int_t
ngx_cms_shm_add(ngx_conf_t *cf, ngx_cms_fo_main_conf_t *fmcf,
    ngx_str_t *name, size_t size)
{
    ngx_str_t        def;
    ngx_shm_zone_t  *zone;

    if (name == NULL) {
        ngx_str_set(&def, NGX_CMS_SHM_DEFAULT_NAME);
        name = &def;
        size = NGX_CMS_SHM_DEFAULT_SIZE;
    }

    zone = ngx_shared_memory_add(cf, name, size, &ngx_cms_failover_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    if (zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cms_zone \"%V\" is already used", name);
        return NGX_ERROR;
    }

    zone->init = ngx_cms_shm_init_zone;
    zone->data = fmcf;

    fmcf->zone = zone;

    return NGX_OK;
}


static ngx_int_t
ngx_cms_shm_init_zone(ngx_shm_zone_t *zone, void *data)
{
    size_t                   len;
    ngx_uint_t               i;
    ngx_cms_shm_t           *sh;
    ngx_slab_pool_t         *shpool;
    ngx_cms_fo_cluster_t   **cl;
    ngx_cms_shm_cluster_t   *csh;
    ngx_cms_fo_main_conf_t  *fmcf;

    fmcf = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (data == NULL && shpool->data == NULL) {
        sh = ngx_slab_calloc(shpool, sizeof(ngx_cms_shm_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        shpool->data = sh;

        len = sizeof(" in cms_zone \"\"") + zone->shm.name.len;

        shpool->log_ctx = ngx_slab_alloc(shpool, len);
        if (shpool->log_ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(shpool->log_ctx, " in cms_zone \"%V\"%Z",
                    &zone->shm.name);

        /* the call map evicts when full: that is not worth a log line */
        shpool->log_nomem = 0;

    } else {
        /* a reload: the previous cycle's zone, as it was */
        sh = shpool->data;
    }

    ngx_shmtx_lock(&shpool->mutex);

    sh->generation++;

    cl = fmcf->clusters.elts;

    for (i = 0; i < fmcf->clusters.nelts; i++) {
        csh = ngx_cms_shm_cluster(shpool, sh, cl[i], zone->shm.log);
        if (csh == NULL) {
            ngx_shmtx_unlock(&shpool->mutex);
            return NGX_ERROR;
        }

        if (ngx_cms_shm_map_bridges(shpool, csh, cl[i], zone->shm.log)
            != NGX_OK)
        {
            ngx_shmtx_unlock(&shpool->mutex);
            return NGX_ERROR;
        }

        cl[i]->sh = csh;
        cl[i]->shpool = shpool;
        cl[i]->generation = sh->generation;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


static ngx_cms_shm_cluster_t *
ngx_cms_shm_cluster(ngx_slab_pool_t *shpool, ngx_cms_shm_t *sh,
    ngx_cms_fo_cluster_t *cl, ngx_log_t *log)
{
    ngx_uint_t              i;
    ngx_cms_shm_cluster_t  *csh;

    for (i = 0; i < sh->nclusters; i++) {
        csh = sh->clusters[i];

        if (csh->name.len == cl->name.len
            && ngx_strncmp(csh->name.data, cl->name.data, cl->name.len) == 0)
        {
            /* the node pointer may have moved with a new module image */
            csh->calls.insert = ngx_cms_shm_calls_insert;
            return csh;
        }
    }

    if (sh->nclusters == NGX_CMS_SHM_MAX_CLUSTERS) {
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "more than %d upstreams with cms_bridge in one "
                      "cms_zone", NGX_CMS_SHM_MAX_CLUSTERS);
        return NULL;
    }

    csh = ngx_slab_calloc_locked(shpool, sizeof(ngx_cms_shm_cluster_t));
    if (csh == NULL) {
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "cms_zone too small for upstream \"%V\"", &cl->name);
        return NULL;
    }

    ngx_cms_shm_set_name(&csh->name, cl->name.data, cl->name.len);

    ngx_rbtree_init(&csh->calls, &csh->calls_sentinel,
                    ngx_cms_shm_calls_insert);
    ngx_queue_init(&csh->calls_lru);

    csh->active = NGX_CMS_SHM_NO_SLOT;

    sh->clusters[sh->nclusters++] = csh;

    return csh;
}


static ngx_int_t
ngx_cms_shm_map_bridges(ngx_slab_pool_t *shpool, ngx_cms_shm_cluster_t *csh,
    ngx_cms_fo_cluster_t *cl, ngx_log_t *log)
{
    ngx_uint_t              i, s, primary;
    ngx_cms_bridge_t    *b;
    ngx_cms_shm_bridge_t   *sb;
    ngx_cms_shm_change_t   *ch;

    b = cl->bridges.elts;

    for (i = 0; i < cl->bridges.nelts; i++) {
        b[i].slot = NGX_CMS_SHM_NO_SLOT;
    }

    for (i = 0; i < cl->bridges.nelts; i++) {

        for (s = 0; s < csh->nslots; s++) {
            sb = &csh->bridges[s];

            if (sb->name.len == b[i].name.len
                && ngx_strncmp(sb->name.data, b[i].name.data,
                               sb->name.len) == 0)
            {
                break;
            }
        }

        if (s == csh->nslots) {

            if (csh->nslots < NGX_CMS_SHM_MAX_BRIDGES) {
                s = csh->nslots++;

            } else {
                /* full: take over a slot no bridge of ours names now */

                for (s = 0; s < csh->nslots; s++) {
                    if (!ngx_cms_shm_slot_used(cl, s)
                        && s != csh->active)
                    {
                        break;
                    }
                }

                if (s == csh->nslots) {
                    ngx_log_error(NGX_LOG_EMERG, log, 0,
                                  "upstream \"%V\" has too many bridges",
                                  &cl->name);
                    return NGX_ERROR;
                }

                ngx_cms_shm_purge_slot(shpool, csh, s);
            }

            sb = &csh->bridges[s];
            ngx_memzero(sb, sizeof(ngx_cms_shm_bridge_t));
            ngx_cms_shm_set_name(&sb->name, b[i].name.data,
                                 b[i].name.len);
            sb->health = NGX_CMS_HEALTH_UNKNOWN;
        }

        b[i].slot = s;
    }

    primary = b[cl->primary].slot;

    if (csh->active == NGX_CMS_SHM_NO_SLOT) {
        /* a new cluster: the primary, epoch 0, nothing decided yet */
        csh->active = primary;
        return NGX_OK;
    }

    if (ngx_cms_shm_slot_used(cl, csh->active)) {
        return NGX_OK;
    }

    /* the active bridge is gone from the configuration */

    ch = &csh->history[csh->nchanges % NGX_CMS_SHM_HISTORY];
    ngx_memzero(ch, sizeof(ngx_cms_shm_change_t));

    ch->epoch = ++csh->epoch;
    ch->at = ngx_time();
    ch->from = csh->bridges[csh->active].name;
    ch->to = csh->bridges[primary].name;
    ngx_cms_shm_set_name(&ch->by, (u_char *) "configuration", 13);
    ngx_cms_shm_set_text(&ch->why, (u_char *) "the active bridge is no "
                         "longer configured", 40);

    csh->nchanges++;
    csh->manual = 0;
    csh->active = primary;

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "cms: upstream \"%V\": active bridge \"%*s\" is no longer "
                  "configured, now \"%*s\", epoch %uL", &cl->name,
                  ch->from.len, ch->from.data, ch->to.len, ch->to.data,
                  ch->epoch);

    return NGX_OK;
}


static ngx_uint_t
ngx_cms_shm_slot_used(ngx_cms_fo_cluster_t *cl, ngx_uint_t slot)
{
    ngx_uint_t            i;
    ngx_cms_bridge_t  *b;

    b = cl->bridges.elts;

    for (i = 0; i < cl->bridges.nelts; i++) {
        if (b[i].slot == slot) {
            return 1;
        }
    }

    return 0;
}


static void
ngx_cms_shm_purge_slot(ngx_slab_pool_t *shpool, ngx_cms_shm_cluster_t *csh,
    ngx_uint_t slot)
{
    ngx_queue_t         *q, *next;
    ngx_cms_shm_call_t  *call;

    for (q = ngx_queue_head(&csh->calls_lru);
         q != ngx_queue_sentinel(&csh->calls_lru);
         q = next)
    {
        next = ngx_queue_next(q);
        call = ngx_queue_data(q, ngx_cms_shm_call_t, lru);

        if (call->slot == slot) {
            ngx_cms_shm_free_call(shpool, csh, call);
        }
    }
}


void
ngx_cms_shm_set_name(ngx_cms_shm_name_t *dst, u_char *src, size_t len)
{
    dst->len = ngx_min(len, NGX_CMS_SHM_NAME_LEN);
    ngx_memcpy(dst->data, src, dst->len);
}


void
ngx_cms_shm_set_text(ngx_cms_shm_text_t *dst, u_char *src, size_t len)
{
    dst->len = ngx_min(len, NGX_CMS_SHM_TEXT_LEN);
    ngx_memcpy(dst->data, src, dst->len);
}


ngx_cms_shm_call_t *
ngx_cms_shm_alloc_call(ngx_slab_pool_t *shpool, ngx_cms_shm_cluster_t *sh,
    size_t len)
{
    ngx_uint_t           i;
    ngx_queue_t         *q;
    ngx_cms_shm_call_t  *call;

    for (i = 0; i < 16; i++) {
        call = ngx_slab_alloc_locked(shpool,
                                     offsetof(ngx_cms_shm_call_t, id) + len);
        if (call) {
            return call;
        }

        if (ngx_queue_empty(&sh->calls_lru)) {
            return NULL;
        }

        /* the least recently used call is most likely over */

        q = ngx_queue_last(&sh->calls_lru);
        ngx_cms_shm_free_call(shpool, sh,
                              ngx_queue_data(q, ngx_cms_shm_call_t, lru));
        sh->calls_evicted++;
    }

    return NULL;
}


void
ngx_cms_shm_free_call(ngx_slab_pool_t *shpool, ngx_cms_shm_cluster_t *sh,
    ngx_cms_shm_call_t *call)
{
    ngx_rbtree_delete(&sh->calls, &call->node);
    ngx_queue_remove(&call->lru);
    sh->ncalls--;

    ngx_slab_free_locked(shpool, call);
}


void
ngx_cms_shm_calls_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t   **p;
    ngx_cms_shm_call_t   *c, *t;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            c = (ngx_cms_shm_call_t *) node;
            t = (ngx_cms_shm_call_t *) temp;

            p = (ngx_memn2cmp(c->id, t->id, c->len, t->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}
