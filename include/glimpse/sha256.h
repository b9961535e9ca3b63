/*
 * sha256.h - SHA-256 (FIPS 180-4), for image identities and model
 * fingerprints.
 */
#ifndef GLIMPSE_SHA256_H
#define GLIMPSE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gl_sha256 {
    uint32_t h[8];
    uint64_t len;               /* bytes hashed so far */
    uint8_t buf[64];
    size_t nbuf;
};

void gl_sha256_init(struct gl_sha256 *s);
void gl_sha256_update(struct gl_sha256 *s, const void *data, size_t n);
void gl_sha256_final(struct gl_sha256 *s, uint8_t out[32]);
/* One call: out = SHA-256(data). */
void gl_sha256(const void *data, size_t n, uint8_t out[32]);
/* 64 lowercase hex digits and a NUL into hex[65]. */
void gl_sha256_hex(const uint8_t digest[32], char hex[65]);

#ifdef __cplusplus
}
#endif
#endif
