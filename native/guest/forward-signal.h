/*
 * forward-signal.h: the guest agent's signal forwarding (forward-signal.c).
 */
#ifndef CYLO_GUEST_SIGNAL_H
#define CYLO_GUEST_SIGNAL_H

#include <stdint.h>
#include <sys/types.h>

/* 'G': signals the program of the stage whose agent-side child is STAGE (0 when none runs) with
 * the decimal signal number in BUF (LEN bytes). A number outside the namespace backend's list
 * (src/util/signals.ts FORWARDABLE_SIGNALS) ends the agent through die(): the host is not trusted
 * to have checked it. */
void forward_signal(pid_t stage, const char *buf, uint32_t len);

#endif
