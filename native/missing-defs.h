/*
 * missing-defs.h: every kernel definition the helper uses that the installed libc or kernel
 * headers may lack (nsjail's missing_defs.h). Defined here so that building does not depend on
 * how new the installed headers are: the kernel we run on may know more than the headers. The
 * numbers are the kernel's unified syscall table (the same on x86_64, arm64 and riscv64); each
 * one is defined only when the headers do not already define it.
 */
#ifndef CYLO_MISSING_DEFS_H
#define CYLO_MISSING_DEFS_H

#include <stdint.h>
#include <sys/syscall.h>

/* close_range(2), Linux 5.9; its CLOSE_RANGE_CLOEXEC flag, Linux 5.11. */
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Landlock syscalls, Linux 5.13. */
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif

/* Landlock constants (include/uapi/linux/landlock.h), under our own LL_ names so that they never
 * clash with a <linux/landlock.h> that defines only some of them. */
#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_RULE_NET_PORT 2 /* ABI 4 */

#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_FS_READ_DIR (1ULL << 3)
#define LL_FS_REMOVE_DIR (1ULL << 4)
#define LL_FS_REMOVE_FILE (1ULL << 5)
#define LL_FS_MAKE_CHAR (1ULL << 6)
#define LL_FS_MAKE_DIR (1ULL << 7)
#define LL_FS_MAKE_REG (1ULL << 8)
#define LL_FS_MAKE_SOCK (1ULL << 9)
#define LL_FS_MAKE_FIFO (1ULL << 10)
#define LL_FS_MAKE_BLOCK (1ULL << 11)
#define LL_FS_MAKE_SYM (1ULL << 12)
#define LL_FS_REFER (1ULL << 13)     /* ABI 2 */
#define LL_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LL_NET_BIND_TCP (1ULL << 0)    /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ULL << 1) /* ABI 4 */
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)               /* ABI 6 */

/* struct landlock_ruleset_attr; the kernel takes a prefix of it sized by what the ABI knows. */
struct ll_ruleset_attr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net; /* ABI 4 */
  uint64_t scoped;             /* ABI 6 */
};

/* struct landlock_path_beneath_attr (packed in the kernel's ABI). */
struct ll_path_beneath_attr {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__((packed));

/* struct landlock_net_port_attr (ABI 4): a TCP port the rule allows. */
struct ll_net_port_attr {
  uint64_t allowed_access;
  uint64_t port;
};

#endif
