/*
 * fuzz_preview.c - libFuzzer target: arbitrary bytes as a terminal's replies
 * to the preview probe (DA1, XTSMGRAPHICS, CSI 14/16 t, and anything else a
 * terminal or a hostile program on the other end of the tty may send).
 *
 * preview_parse_replies must read any bytes without overrunning them and
 * leave the capabilities in their documented ranges; preview_choose must
 * then pick a mode. Built by `make fuzz` with clang -fsanitize=fuzzer,address,undefined.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui/preview.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);      /* exact size: ASan sees overreads */
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    struct preview_caps caps;
    memset(&caps, 0, sizeof caps);
    caps.color_registers = 256;
    preview_parse_replies(buf, size, &caps);
    /* The documented ranges (see apply_csi in preview.c): anything else is
     * a value the renderer would have to distrust. */
    if (caps.color_registers < 1 || caps.color_registers > 65536 || caps.max_sixel_w < 0 ||
        caps.max_sixel_w > 65535 || caps.max_sixel_h < 0 || caps.max_sixel_h > 65535 ||
        caps.cell_w < 0 || caps.cell_w > 512 || caps.cell_h < 0 || caps.cell_h > 512 ||
        caps.win_w < 0 || caps.win_w > 100000 || caps.win_h < 0 || caps.win_h > 100000) {
        fprintf(stderr, "fuzz_preview: capability out of range (regs %d, sixel %dx%d, cell %dx%d, win %dx%d)\n",
                caps.color_registers, caps.max_sixel_w, caps.max_sixel_h, caps.cell_w, caps.cell_h,
                caps.win_w, caps.win_h);
        abort();
    }
    for (int m = PREVIEW_AUTO; m <= PREVIEW_NONE; m++) {
        enum preview_mode got = preview_choose(&caps, (enum preview_mode)m);
        if (got <= PREVIEW_AUTO || got > PREVIEW_NONE)
            abort();
    }
    /* The same bytes fed twice in a row: the probe reparses its growing buffer. */
    char *two = malloc(2 * size + 1);
    if (two) {
        memcpy(two, data, size);
        memcpy(two + size, data, size);
        preview_parse_replies(two, 2 * size, &caps);
        free(two);
    }
    free(buf);
    return 0;
}
