/*
 * channel.c: the guest agent's end of the framed protocol (the frame table is in agent.c; the
 * host's end is src/microvm/channel.ts), and how the agent reports a failure it cannot go on from
 * (die: an 'F' frame, then exit). One framing, two transports, chosen by the kernel command line
 * the host wrote:
 *   QEMU         the virtio-serial port named "cylo.job" (a character device);
 *   Firecracker  "cylo.vsock=PORT": a vsock stream the agent opens to the host (CID 2) on PORT;
 *                Firecracker hands it to the host's listening Unix socket (src/microvm/firecracker.ts).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "channel.h"

#include <dirent.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int port = -1;
/* 1 when the port is a vsock stream: a read of 0 is then the host's end, not "no host yet". */
static int port_is_stream = 0;

/* Reports why the agent cannot go on ('F'), then exits: /init powers the VM off, and the host
 * reports the stage as not set up. */
void die(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n >= (int)sizeof msg) n = (int)sizeof msg - 1;
  if (port >= 0) send_frame('F', msg, (uint32_t)n);
  fprintf(stderr, "cylo-agent: %s\n", msg);
  exit(1);
}

void write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { fprintf(stderr, "cylo-agent: write: %s\n", strerror(errno)); exit(1); }
    p += n;
    len -= (size_t)n;
  }
}

void send_frame(char ch, const void *data, uint32_t len) {
  unsigned char hdr[5] = {(unsigned char)ch, (unsigned char)len, (unsigned char)(len >> 8), (unsigned char)(len >> 16), (unsigned char)(len >> 24)};
  write_all(port, hdr, sizeof hdr);
  if (len > 0) write_all(port, data, len);
}

/* Reads exactly LEN bytes from the port; the host closing it ends the VM's purpose. */
static void read_exact(void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t n = read(port, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("reading the port: %s", strerror(errno));
    if (n == 0 && port_is_stream) { fprintf(stderr, "cylo-agent: the host closed the channel\n"); exit(1); }
    if (n == 0) { poll(NULL, 0, 50); continue; } /* a virtio port reads 0 while the host is away */
    p += n;
    len -= (size_t)n;
  }
}

/* One frame from the host into BUF (FRAME_MAX + 1 bytes, NUL-terminated); returns its channel. */
char read_frame(char *buf, uint32_t *len) {
  unsigned char hdr[5];
  read_exact(hdr, sizeof hdr);
  *len = (uint32_t)hdr[1] | (uint32_t)hdr[2] << 8 | (uint32_t)hdr[3] << 16 | (uint32_t)hdr[4] << 24;
  if (*len > FRAME_MAX) die("frame of %u bytes (at most %u)", *len, FRAME_MAX);
  read_exact(buf, *len);
  buf[*len] = '\0';
  return (char)hdr[0];
}

/* The vsock port on the kernel command line ("cylo.vsock=PORT"), or 0 for none. */
static unsigned vsock_port(void) {
  char cmdline[4096] = {0};
  int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, cmdline, sizeof cmdline - 1);
  close(fd);
  if (n <= 0) return 0;
  const char *p = strstr(cmdline, "cylo.vsock=");
  if (p == NULL || (p != cmdline && p[-1] != ' ')) return 0;
  char *end;
  unsigned long v = strtoul(p + 11, &end, 10);
  if (end == p + 11 || v == 0 || v > 0xffffffffUL || (*end != ' ' && *end != '\n' && *end != '\0')) {
    fprintf(stderr, "cylo-agent: a malformed cylo.vsock= on the kernel command line\n");
    exit(1);
  }
  return (unsigned)v;
}

/* A vsock stream to the host (CID 2) on PORT. Retried for up to 5 s: the virtio-vsock device
 * appears once its module has probed it, and only then does connect() reach the host. */
static int open_vsock(unsigned vport) {
  struct sockaddr_vm addr;
  memset(&addr, 0, sizeof addr);
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = VMADDR_CID_HOST;
  addr.svm_port = vport;
  int last = 0;
  for (int tries = 0; tries < 250; tries++) {
    int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s >= 0 && connect(s, (struct sockaddr *)&addr, sizeof addr) == 0) {
      port_is_stream = 1;
      return s;
    }
    last = errno;
    if (s >= 0) close(s);
    poll(NULL, 0, 20);
  }
  fprintf(stderr, "cylo-agent: no vsock connection to the host on port %u: %s\n", vport, strerror(last));
  exit(1);
}

/* The job channel: a vsock stream when the command line names a port (Firecracker), else the
 * virtio-serial port named "cylo.job" (/sys/class/virtio-ports/vportNpM/name), read-write. */
int open_port(void) {
  unsigned vport = vsock_port();
  if (vport != 0) return open_vsock(vport);
  for (int tries = 0; tries < 100; tries++) {
    DIR *d = opendir("/sys/class/virtio-ports");
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
      char path[300], name[64] = {0};
      snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      ssize_t n = read(fd, name, sizeof name - 1);
      close(fd);
      if (n > 0 && strncmp(name, "cylo.job", 8) == 0 && (name[8] == '\n' || name[8] == '\0')) {
        snprintf(path, sizeof path, "/dev/%s", e->d_name);
        closedir(d);
        int p = open(path, O_RDWR | O_CLOEXEC);
        if (p < 0) { fprintf(stderr, "cylo-agent: open %s: %s\n", path, strerror(errno)); exit(1); }
        return p;
      }
    }
    if (d != NULL) closedir(d);
    poll(NULL, 0, 20); /* the port appears once virtio_console has probed it */
  }
  fprintf(stderr, "cylo-agent: no virtio port named cylo.job\n");
  exit(1);
}
