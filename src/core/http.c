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

const char *
http_reason_phrase(unsigned status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 408:
        return "Request Timeout";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Error" : "Error";
    }
}
