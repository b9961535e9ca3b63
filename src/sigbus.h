/*
 * sigbus.h - a model file truncated or overwritten while glimpse has it
 * mapped makes the next read of a vanished page raise SIGBUS, on whichever
 * thread touches it. Instead of dying with "Bus error", glimpse restores
 * the terminal (through the cleanup hook), says "model file changed on
 * disk" and exits with status 1. Private to src/glimpse.
 *
 *   sigbus_install();                   // once, early, in every mode that maps models
 *   sigbus_set_cleanup(restore_tty);    // optional: async-signal-safe only
 */
#ifndef GLIMPSE_SIGBUS_H
#define GLIMPSE_SIGBUS_H

/* Install the SIGBUS handler. 0, or -1 if sigaction failed. */
int sigbus_install(void);

/* A function the handler calls first (NULL: none). It runs inside a signal
 * handler on an arbitrary thread: it may only use async-signal-safe calls
 * (write, tcsetattr...) and must not take locks. */
void sigbus_set_cleanup(void (*fn)(void));

#endif
