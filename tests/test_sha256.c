/* test_sha256.c - FIPS 180-4 test vectors, split updates, and the file digests in SHA256SUMS. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glimpse/sha256.h"
#include "tap.h"

static void check(const char *msg, size_t n, const char *want, const char *what)
{
    uint8_t d[32];
    char hex[65];
    gl_sha256(msg, n, d);
    gl_sha256_hex(d, hex);
    is_str(hex, want, "%s", what);
}

int main(void)
{
    check("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "empty input");
    check("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "\"abc\"");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check(m448, strlen(m448), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
          "448-bit message");

    /* one million 'a', fed in uneven pieces */
    struct gl_sha256 s;
    gl_sha256_init(&s);
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t n = step < 1000000 - off ? step : 1000000 - off;
        gl_sha256_update(&s, a + off, n);
        off += n;
        step = step * 3 % 997 + 1;
    }
    uint8_t d[32];
    char hex[65];
    gl_sha256_final(&s, d);
    gl_sha256_hex(d, hex);
    is_str(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
           "a million 'a' in uneven pieces");
    free(a);

    /* every padding length */
    int same = 1;
    char buf[200];
    for (int n = 0; n < 200; n++) {
        buf[n] = (char)(n * 7);
        uint8_t d1[32], d2[32];
        gl_sha256(buf, (size_t)n, d1);
        gl_sha256_init(&s);
        for (int i = 0; i < n; i++)
            gl_sha256_update(&s, buf + i, 1);
        gl_sha256_final(&s, d2);
        same &= memcmp(d1, d2, 32) == 0;
    }
    ok(same, "byte-at-a-time equals one call for lengths 0..199");

    /* the reference models' published digests */
    if (!tap_refdata()) {
        tap_skip(1, "GLIMPSE_REFDATA not found");
        return tap_done();
    }
    char *sums = tap_refpath("models/SHA256SUMS");
    FILE *f = fopen(sums, "r");
    int n_ok = 0, n_all = 0;
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        char want[65], name[400];
        if (sscanf(line, "%64s %399s", want, name) != 2)
            continue;
        char rel[480];
        snprintf(rel, sizeof rel, "models/%s", name[0] == '*' ? name + 1 : name);
        char *path = tap_refpath(rel);
        size_t len;
        void *data = tap_slurp(path, &len);
        if (data) {
            gl_sha256(data, len, d);
            gl_sha256_hex(d, hex);
            n_ok += strcmp(hex, want) == 0;
            n_all++;
        }
        free(data);
        free(path);
    }
    if (f)
        fclose(f);
    free(sums);
    ok(n_all > 0 && n_ok == n_all, "SHA256SUMS of the reference models: %d of %d agree", n_ok, n_all);
    return tap_done();
}
