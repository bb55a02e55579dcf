/*
 * pattern.h: the output patterns of a run stage (a request's `outputs`), matched against
 * workspace-relative paths. The syntax, checked again on the host (src/api/outputs.ts):
 *   "**" as a whole component matches any number of components (zero or more);
 *   "*" matches any run of characters within one component, "?" one character;
 *   every other character matches itself (no classes, no braces, no escapes);
 *   a wildcard never matches a "." at the start of a component (".tmp", ".cache" are walked only
 *   when a pattern names them), as in a shell.
 */
#ifndef CYLO_PATTERN_H
#define CYLO_PATTERN_H

/* Components of a pattern or a path, at most (a pattern of 512 bytes has at most 256). */
#define PATTERN_MAX_COMPONENTS 260

/* 1 when PATH (relative, "/"-separated, no empty components) matches PATTERN, else 0. */
int pattern_match(const char *pattern, const char *path);

/* 1 when PATTERN could match a path strictly below the directory DIR (so the walk must enter
 * it), else 0. DIR is relative; "" is the workspace itself. */
int pattern_may_match_below(const char *pattern, const char *dir);

#endif
