/*
 * cgroup.h: the guest agent's stage cgroup (cgroup.c).
 */
#ifndef CYLO_GUEST_CGROUP_H
#define CYLO_GUEST_CGROUP_H

#define CG "/sys/fs/cgroup/stage" /* the stage's cgroup (cgroup v2, mounted by /init) */

/* Writes VALUE to PATH (a cgroup or /proc file) or exits through die(). */
void write_file(const char *path, const char *value);
/* A counter NAME from a stage cgroup file of "key value" lines (memory.events, pids.events), or 0. */
long long cg_counter(const char *file, const char *name);
/* The stage cgroup's CPU time in microseconds (cpu.stat usage_usec), or 0. */
long long cg_cpu_usec(void);
/* A stage cgroup file holding one number (memory.peak), or 0. */
long long cg_value(const char *file);

#endif
