/*
 * sha256.h: SHA-256 (FIPS 180-4) over byte strings.
 * Used at load time to fingerprint each configuration file for /config and
 * the -t summary; never on the request path. No allocation, no I/O.
 */
#ifndef CANARYD_SHA256_H
#define CANARYD_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_BYTES 32
#define SHA256_HEX_BYTES 65 /* 64 hex digits and a NUL */

struct sha256_ctx {
    uint32_t h[8];
    uint64_t nbytes; /* message length so far */
    unsigned char buf[64];
    size_t nbuf; /* bytes waiting in buf */
};

/* Starts a new digest in ctx. */
void sha256_init(struct sha256_ctx *ctx);

/* Adds data[0..len) to the digest; data may be NULL when len is 0. */
void sha256_update(struct sha256_ctx *ctx, const void *data, size_t len);

/* Finishes the digest into out; ctx must be re-initialised before reuse. */
void sha256_final(struct sha256_ctx *ctx, unsigned char out[SHA256_DIGEST_BYTES]);

/* One-shot digest of data[0..len) into out. */
void sha256_digest(const void *data, size_t len, unsigned char out[SHA256_DIGEST_BYTES]);

/* Writes the 64 lower-case hex digits of digest and a NUL into hex. */
void sha256_hex(const unsigned char digest[SHA256_DIGEST_BYTES], char hex[SHA256_HEX_BYTES]);

#endif /* CANARYD_SHA256_H */
