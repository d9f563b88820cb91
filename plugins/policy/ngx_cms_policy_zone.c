
/*
 * ngx_cms policy plugin: the shared zones of the meetings counters
 * ("cms_policy_zone <name> <size>", or made for a "meetings zone=" rule):
 * which coSpaces are open to non-members, counted across workers.
 */


#include "ngx_cms_policy_zone.h"
#include "ngx_cms_policy_rule.h"


static ngx_int_t ngx_cms_policy_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);


char *
ngx_cms_policy_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ssize_t                 size;
    ngx_str_t              *value;
    ngx_cms_span_t          name;
    ngx_cms_policy_zone_t  *zone;

    value = cf->args->elts;

    name.data = value[1].data;
    name.len = value[1].len;

    if (!ngx_cms_policy_name_valid(&name)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": invalid zone name \"%V\"",
                           &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" %V: invalid size \"%V\" (at least %uz)",
                           &cmd->name, &value[1], &value[2],
                           8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    zone = ngx_cms_policy_get_zone(cf, &value[1]);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (zone->declared) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": zone \"%V\" is already declared",
                           &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    zone->declared = 1;

    /* a zone named by a rule first was added with size 0 */

    if (ngx_shared_memory_add(cf, &zone->name, size, &ngx_cms_policy_module)
        == NULL)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_cms_policy_zone_t *
ngx_cms_policy_get_zone(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t                   i;
    ngx_cms_policy_zone_t       *zone, **zones, **pz;
    ngx_cms_policy_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_cms_policy_module);

    zones = pmcf->zones.elts;

    for (i = 0; i < pmcf->zones.nelts; i++) {
        if (zones[i]->name.len == name->len
            && ngx_strncmp(zones[i]->name.data, name->data, name->len) == 0)
        {
            return zones[i];
        }
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_cms_policy_zone_t));
    pz = ngx_array_push(&pmcf->zones);

    if (zone == NULL || pz == NULL) {
        return NULL;
    }

    zone->name.data = ngx_pstrdup(cf->pool, name);
    if (zone->name.data == NULL) {
        return NULL;
    }

    zone->name.len = name->len;

    zone->shm_zone = ngx_shared_memory_add(cf, &zone->name, 0,
                                           &ngx_cms_policy_module);
    if (zone->shm_zone == NULL) {
        return NULL;
    }

    zone->shm_zone->init = ngx_cms_policy_init_zone;
    zone->shm_zone->data = zone;

    *pz = zone;

    return zone;
}


/*
 * The table takes the whole zone, so its size decides how many meetings
 * it holds; it must hold the largest max= of the rules using it.  On a
 * reload the old table is kept, and with it the meetings open.
 */

static ngx_int_t
ngx_cms_policy_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_cms_policy_zone_t  *ozone = data;

    size_t                  size;
    ngx_uint_t              capacity;
    ngx_slab_pool_t        *shpool;
    ngx_cms_policy_zone_t  *zone;

    zone = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (ozone) {
        zone->shpool = ozone->shpool;
        zone->sh = ozone->sh;

    } else if (shm_zone->shm.exists) {
        zone->shpool = shpool;
        zone->sh = shpool->data;

    } else {
        size = shpool->pfree << ngx_pagesize_shift;

        if (size < sizeof(ngx_cms_policy_sh_t)) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "cms_policy_zone \"%V\" is too small",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }

        capacity = (size - sizeof(ngx_cms_policy_sh_t))
                   / sizeof(ngx_cms_policy_meeting_t) + 1;

        zone->sh = ngx_slab_alloc(shpool, size);
        if (zone->sh == NULL) {
            return NGX_ERROR;
        }

        zone->shpool = shpool;
        zone->sh->capacity = capacity;
        zone->sh->used = 0;

        shpool->data = zone->sh;
    }

    if (zone->max > zone->sh->capacity) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "cms_policy_zone \"%V\" holds %ui meetings, "
                      "too few for a rule's max=%ui",
                      &shm_zone->shm.name, zone->sh->capacity, zone->max);
        return NGX_ERROR;
    }

    return NGX_OK;
}
