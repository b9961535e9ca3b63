/* gguf_writer.c - not written yet */
#include "config.h"
