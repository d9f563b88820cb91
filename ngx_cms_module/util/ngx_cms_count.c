
/*
 * ngx_cms: counting from any layer (include/ngx_cms_metrics.h).  The
 * metrics module, in the http layer, registers its counting here at
 * configuration time; until it does, or without cms_metrics, counting
 * costs a test.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_cms_metrics.h"


void  (*ngx_cms_count_handler)(ngx_cms_metric_e which, ngx_uint_t n);


void
ngx_cms_count(ngx_cms_metric_e which, ngx_uint_t n)
{
    if (ngx_cms_count_handler) {
        ngx_cms_count_handler(which, n);
    }
}
