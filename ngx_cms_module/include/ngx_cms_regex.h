
/*
 * ngx_cms: the regular expressions of plugins' rules (policy patterns,
 * rewrite rules), compiled at configuration time and matched on every
 * call: nginx's regex API, PCRE2 underneath, with PCRE2's JIT.
 *
 *   ngx_cms_regex_compile(&rc)   as ngx_regex_compile(), then compiles
 *                                the pattern to machine code as well
 *   ngx_cms_regex_exec(...)      as ngx_regex_exec(), same results
 *
 * nginx JIT-compiles only under "pcre_jit on;" (off by default); a rule
 * is matched on every call it applies to, and the interpreter's set-up
 * alone costs more than the match.  Where the JIT cannot be had (no
 * executable memory), matching falls back to the interpreter by itself.
 */


#ifndef _NGX_CMS_REGEX_H_INCLUDED_
#define _NGX_CMS_REGEX_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


ngx_int_t ngx_cms_regex_compile(ngx_regex_compile_t *rc);
ngx_int_t ngx_cms_regex_exec(ngx_regex_t *re, ngx_str_t *s, int *captures,
    ngx_uint_t size);


#endif /* _NGX_CMS_REGEX_H_INCLUDED_ */
