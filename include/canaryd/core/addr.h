/*
 * addr.h: socket addresses as text, one way everywhere: "10.0.0.1:8080" and
 * "[::1]:8080" in logs, access-log fields, error messages and metric labels.
 */
#ifndef CANARYD_ADDR_H
#define CANARYD_ADDR_H

#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Room for the longest "[ip6]:port" and its NUL. */
#define ADDR_STR_MAX (INET6_ADDRSTRLEN + 8)

/* Writes sa's IP address ("10.0.0.1", "::1") into buf (NUL-terminated);
 * "" for a family other than IPv4 and IPv6. Returns its length. */
size_t addr_format_ip(const struct sockaddr *sa, char *buf, size_t len);

/* sa's port in host order; 0 for a family other than IPv4 and IPv6. */
uint16_t addr_port(const struct sockaddr *sa);

/* Writes ip and port as "ip:port", or "[ip]:port" for IPv6, into buf
 * (NUL-terminated, cut short to fit). Returns the length written. */
size_t addr_join(char *buf, size_t len, int family, const char *ip, uint16_t port);

/* Writes sa as "ip:port" or "[ip6]:port" into buf; "?" for a family other
 * than IPv4 and IPv6. Returns the length written. */
size_t addr_format(const struct sockaddr *sa, char *buf, size_t len);

#endif /* CANARYD_ADDR_H */
