/* inspect.c - not written yet */
#include "config.h"
#include "cli.h"
int cli_inspect(const char *path, bool json) { (void)path; (void)json; return 1; }
