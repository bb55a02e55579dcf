/*
 * channel.h: the guest agent's framed channel to the host (channel.c) and its failure report.
 *   frame: u8 channel, u32 length (little-endian), `length` bytes; length <= FRAME_MAX.
 */
#ifndef CYLO_GUEST_CHANNEL_H
#define CYLO_GUEST_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_MAX (1U << 20) /* largest frame either way (host frames are 64 KiB chunks) */

/* The port's fd, -1 until open_port(). */
extern int port;

/* Opens the job channel: a vsock stream to the host when the kernel command line has
 * cylo.vsock=PORT (Firecracker), else the virtio port named "cylo.job" (waits for either). */
int open_port(void);
/* Sends one frame on CH; exits when the port fails. */
void send_frame(char ch, const void *data, uint32_t len);
/* Reads one frame from the host into BUF (FRAME_MAX + 1 bytes, NUL-terminated); its channel. */
char read_frame(char *buf, uint32_t *len);
/* Writes all of BUF to FD or exits. */
void write_all(int fd, const void *buf, size_t len);
/* Reports why the agent cannot go on ('F'), then exits: /init powers the VM off. */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#endif
