/*
 * http.c: helpers over the protocol-neutral HTTP views of http.h, shared by
 * the protocols that fill them and the stream logic that reads them.
 */
#include "canaryd/common.h"
#include "canaryd/core/http.h"

#include <string.h>

const struct http_hdr *
http_hdr_find(const struct http_hdr *h, size_t n, const char *name, size_t name_len)
{
    for (size_t i = 0; i < n; i++) {
        if (h[i].name_len == name_len && memcmp(h[i].name, name, name_len) == 0)
            return &h[i];
    }
    return NULL;
}
