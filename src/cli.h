/*
 * cli.h - the command-line front end's modes (private to src/glimpse).
 * Each returns the process exit status: 0 done, 1 runtime error,
 * 2 usage error, 130 interrupted.
 */
#ifndef GLIMPSE_CLI_H
#define GLIMPSE_CLI_H

#include <stdbool.h>

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_INTERRUPTED = 130 };

/* glimpse --inspect FILE [--json]: describe a GGUF file on stdout. */
int cli_inspect(const char *path, bool json);

#endif
