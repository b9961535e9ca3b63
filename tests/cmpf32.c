/*
 * cmpf32 - compare two files of little-endian float32 for the shell tests:
 *   cmpf32 A B TOL    exit 0 when max|A-B| / max|B| <= TOL (and sizes agree),
 *                     printing the measured value.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tap.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: cmpf32 A B TOL\n");
        return 2;
    }
    size_t na, nb;
    float *a = tap_slurp(argv[1], &na), *b = tap_slurp(argv[2], &nb);
    if (!a || !b || na != nb || na % 4 || na == 0) {
        printf("cmpf32: unreadable files or sizes differ (%zu vs %zu bytes)\n", a ? na : 0, b ? nb : 0);
        return 1;
    }
    double maxd = 0, maxb = 0;
    for (size_t i = 0; i < na / 4; i++) {
        if (!isfinite(a[i])) {
            printf("cmpf32: value %zu is not finite\n", i);
            return 1;
        }
        maxd = fmax(maxd, fabs((double)a[i] - b[i]));
        maxb = fmax(maxb, fabs((double)b[i]));
    }
    double rel = maxd / (maxb > 0 ? maxb : 1);
    printf("%.3g\n", rel);
    free(a);
    free(b);
    return rel <= atof(argv[3]) ? 0 : 1;
}
