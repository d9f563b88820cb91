/*
 * libFuzzer target for ngx_cms_form.c.
 *
 * Input: one byte for max_params, then the body.  Every buffer is
 * allocated at exactly its documented size so that ASan sees any
 * overrun.  Besides memory errors it checks: the scratch bound always
 * holds, spans lie inside the body, decoding agrees with a naive
 * reference decoder, encode writes exactly encoded_len bytes of a
 * well-formed body, and decode -> encode -> parse gives the same
 * parameters.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_cms_form.h"


#define check(cond)  if (!(cond)) { abort(); }


static int
hex(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


/* a naive decoder of a span that the parser accepted */

static int
reference_eq(ngx_cms_span_t raw, const unsigned char *dec, size_t dec_len)
{
    size_t   i, n;
    uint8_t  c;

    n = 0;

    for (i = 0; i < raw.len; i++) {
        c = raw.data[i];

        if (c == '+') {
            c = ' ';

        } else if (c == '%') {
            check(i + 2 < raw.len);
            check(hex(raw.data[i + 1]) >= 0 && hex(raw.data[i + 2]) >= 0);
            c = (uint8_t) (hex(raw.data[i + 1]) * 16 + hex(raw.data[i + 2]));
            i += 2;
        }

        if (n >= dec_len || dec[n] != c) {
            return 0;
        }

        n++;
    }

    return n == dec_len;
}


static void
check_inside(const uint8_t *base, size_t size, const void *p, size_t len)
{
    check((const uint8_t *) p >= base);
    check((const uint8_t *) p + len <= base + size);
}


static void
check_params(const uint8_t *body, size_t len, const uint8_t *scratch,
    size_t scratch_size, const ngx_cms_form_param_t *params, size_t n)
{
    size_t                       i;
    ngx_cms_span_t               raw_name, raw_value;
    const ngx_cms_form_param_t  *prm;

    for (i = 0; i < n; i++) {
        prm = &params[i];

        ngx_cms_form_raw(body, len, i, &raw_name, &raw_value);

        check(raw_name.len > 0);
        check_inside(body, len, raw_name.data, raw_name.len);
        check_inside(body, len, raw_value.data, raw_value.len);

        check(prm->name_len > 0);
        check(prm->name_len <= raw_name.len);
        check(prm->value_len <= raw_value.len);
        check(prm->has_eq || raw_value.len == 0);

        /* the body's own bytes, or decoded ones in the scratch */

        if (prm->name >= body && prm->name < body + len) {
            check(prm->name == raw_name.data);
            check(prm->value == raw_value.data);
            check(prm->name_len == raw_name.len);
            check(prm->value_len == raw_value.len);

        } else {
            check_inside(scratch, scratch_size, prm->name, prm->name_len);
            check_inside(scratch, scratch_size, prm->value, prm->value_len);
        }

        check(memchr(prm->name, '\0', prm->name_len) == NULL);
        check(memchr(prm->value, '\0', prm->value_len) == NULL);

        check(reference_eq(raw_name, prm->name, prm->name_len));
        check(reference_eq(raw_value, prm->value, prm->value_len));

        /* the raw name ends at '=' or at the component's end */

        if (prm->has_eq) {
            check(raw_name.data[raw_name.len] == '=');
            check(raw_value.data == raw_name.data + raw_name.len + 1);
        }

        check(memchr(raw_name.data, '&', raw_name.len) == NULL);
        check(memchr(raw_name.data, '=', raw_name.len) == NULL);
        check(memchr(raw_value.data, '&', raw_value.len) == NULL);

        (void) ngx_cms_form_is_secret(prm->name, prm->name_len);
        check(ngx_cms_form_get_n((ngx_cms_form_param_t *) params, n,
                                 prm->name, prm->name_len)
              <= prm);
    }
}


static int
parse(const uint8_t *body, size_t len, size_t scratch_size, size_t max,
    uint8_t **scratch, ngx_cms_form_param_t **params, size_t *n,
    ngx_cms_form_error_t *err)
{
    int  rc;

    *scratch = malloc(scratch_size ? scratch_size : 1);
    *params = malloc(max ? max * sizeof(ngx_cms_form_param_t) : 1);
    check(*scratch != NULL && *params != NULL);

    rc = ngx_cms_form_parse(body, len, *scratch, scratch_size, *params, max,
                            n, err);

    check(rc == err->code);
    check(err->message != NULL);
    check(*n <= max);

    if (rc == NGX_CMS_FORM_OK) {
        check_params(body, len, *scratch, scratch_size, *params, *n);

    } else {
        check(rc == NGX_CMS_FORM_E_ESCAPE || rc == NGX_CMS_FORM_E_NUL
              || rc == NGX_CMS_FORM_E_TOO_MANY
              || rc == NGX_CMS_FORM_E_EMPTY_NAME
              || rc == NGX_CMS_FORM_E_SCRATCH);
        check(err->offset < len);
    }

    return rc;
}


static void
check_encoded(const uint8_t *enc, size_t len)
{
    size_t   i;
    uint8_t  c;

    for (i = 0; i < len; i++) {
        c = enc[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || c == '-' || c == '.' || c == '_' || c == '~'
            || c == '+' || c == '=' || c == '&')
        {
            continue;
        }

        check(c == '%' && i + 2 < len);
        check((enc[i + 1] >= '0' && enc[i + 1] <= '9')
              || (enc[i + 1] >= 'A' && enc[i + 1] <= 'F'));
        check((enc[i + 2] >= '0' && enc[i + 2] <= '9')
              || (enc[i + 2] >= 'A' && enc[i + 2] <= 'F'));
        i += 2;
    }

    /* no leading, trailing or doubled '&' */

    if (len) {
        check(enc[0] != '&' && enc[len - 1] != '&');
    }

    for (i = 1; i < len; i++) {
        check(!(enc[i - 1] == '&' && enc[i] == '&'));
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                    rc;
    size_t                 i, len, max, n, n2, elen;
    uint8_t               *body, *scratch, *scratch2, *enc, *end;
    ngx_cms_form_param_t  *params, *params2;
    ngx_cms_form_error_t   err, err2;
    ngx_cms_span_t         raw_name, raw_value;

    if (size == 0) {
        return 0;
    }

    max = data[0] % 70;
    len = size - 1;

    body = malloc(len ? len : 1);
    check(body != NULL);
    memcpy(body, data + 1, len);

    /* the documented scratch size must always suffice */

    rc = parse(body, len, NGX_CMS_FORM_SCRATCH_SIZE(len), max, &scratch,
               &params, &n, &err);
    check(rc != NGX_CMS_FORM_E_SCRATCH);

    if (rc == NGX_CMS_FORM_OK) {

        /* encode: exactly encoded_len bytes, well-formed */

        elen = ngx_cms_form_encoded_len(params, n);
        enc = malloc(elen ? elen : 1);
        check(enc != NULL);

        end = ngx_cms_form_encode(params, n, enc);
        check((size_t) (end - enc) == elen);
        check_encoded(enc, elen);

        /* and back: the same parameters */

        rc = parse(enc, elen, NGX_CMS_FORM_SCRATCH_SIZE(elen), n, &scratch2,
                   &params2, &n2, &err2);
        check(rc == NGX_CMS_FORM_OK);
        check(n2 == n);

        for (i = 0; i < n; i++) {
            check(params2[i].name_len == params[i].name_len);
            check(memcmp(params2[i].name, params[i].name,
                         params[i].name_len) == 0);
            check(params2[i].value_len == params[i].value_len);
            check(memcmp(params2[i].value, params[i].value,
                         params[i].value_len) == 0);
            check(params2[i].has_eq == params[i].has_eq);
        }

        free(scratch2);
        free(params2);
        free(enc);

        /* one parameter fewer allowed: the same prefix, then TOO_MANY */

        if (n > 0) {
            rc = parse(body, len, NGX_CMS_FORM_SCRATCH_SIZE(len), n - 1,
                       &scratch2, &params2, &n2, &err2);
            check(rc == NGX_CMS_FORM_E_TOO_MANY);
            check(n2 == n - 1);
            ngx_cms_form_raw(body, len, n - 1, &raw_name, &raw_value);
            check(err2.offset == (size_t) (raw_name.data - body));

            free(scratch2);
            free(params2);
        }
    }

    /* too little scratch is refused, never overrun */

    if (len > 1) {
        rc = parse(body, len, len / 2, max, &scratch2, &params2, &n2, &err2);
        free(scratch2);
        free(params2);
    }

    free(scratch);
    free(params);
    free(body);

    return 0;
}
