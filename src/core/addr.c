/*
 * addr.c: socket addresses as text (see addr.h).
 */
#include "canaryd/common.h"
#include "canaryd/core/addr.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

size_t
addr_format_ip(const struct sockaddr *sa, char *buf, size_t len)
{
    if (len == 0)
        return 0;
    buf[0] = '\0';
    const void *a = NULL;
    if (sa->sa_family == AF_INET)
        a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    else if (sa->sa_family == AF_INET6)
        a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    if (a == NULL ||
        inet_ntop(sa->sa_family, a, buf, (socklen_t)MIN(len, (size_t)INT32_MAX)) == NULL) {
        buf[0] = '\0';
        return 0;
    }
    return strlen(buf);
}

uint16_t
addr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
    return 0;
}

size_t
addr_join(char *buf, size_t len, int family, const char *ip, uint16_t port)
{
    if (len == 0)
        return 0;
    int n = snprintf(buf, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, (unsigned)port);
    return n < 0 ? 0 : MIN((size_t)n, len - 1);
}

size_t
addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];
    if (addr_format_ip(sa, ip, sizeof(ip)) == 0) {
        if (len == 0)
            return 0;
        snprintf(buf, len, "?");
        return strlen(buf);
    }
    return addr_join(buf, len, sa->sa_family, ip, addr_port(sa));
}
