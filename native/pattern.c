/*
 * pattern.c: matching output patterns (see pattern.h) against workspace paths, component by
 * component. "**" is matched with a table over (pattern component, path component) pairs, so
 * no pattern can make the match take more than components x components steps (no exponential
 * backtracking a request could use to stall PID 1 while it reads the outputs).
 */
#include "pattern.h"

#include <string.h>

struct parts {
  int n;
  const char *at[PATTERN_MAX_COMPONENTS];
  int len[PATTERN_MAX_COMPONENTS];
};

/* Splits S at "/" into at most PATTERN_MAX_COMPONENTS parts; -1 when there are more. */
static int split(const char *s, struct parts *p) {
  p->n = 0;
  if (*s == '\0') return 0;
  for (;;) {
    const char *slash = strchr(s, '/');
    if (p->n >= PATTERN_MAX_COMPONENTS) return -1;
    p->at[p->n] = s;
    p->len[p->n] = slash ? (int)(slash - s) : (int)strlen(s);
    p->n++;
    if (slash == NULL) return 0;
    s = slash + 1;
  }
}

static int is_globstar(const struct parts *p, int i) {
  return p->len[i] == 2 && p->at[i][0] == '*' && p->at[i][1] == '*';
}

/* One component: "*" and "?" within it; the leading-dot rule. The classic single-star
 * backtrack (resume after the last "*"), linear in practice and quadratic at worst. */
static int component_match(const char *pat, int plen, const char *name, int nlen) {
  if (nlen > 0 && name[0] == '.' && (plen == 0 || pat[0] != '.')) return 0;
  int p = 0, n = 0, star = -1, mark = 0;
  while (n < nlen) {
    if (p < plen && (pat[p] == '?' || (pat[p] != '*' && pat[p] == name[n]))) {
      p++;
      n++;
    } else if (p < plen && pat[p] == '*') {
      star = p++;
      mark = n;
    } else if (star >= 0) {
      p = star + 1;
      n = ++mark;
    } else {
      return 0;
    }
  }
  while (p < plen && pat[p] == '*') p++;
  return p == plen;
}

/* The table: ok[i][j] says pattern parts i.. match path parts j.. (PREFIX: or some path that
 * continues below path parts j..). Filled from the end, so each cell is computed once. */
static int match_parts(const struct parts *pp, const struct parts *sp, int prefix) {
  static unsigned char ok[PATTERN_MAX_COMPONENTS + 1][PATTERN_MAX_COMPONENTS + 1];
  for (int i = pp->n; i >= 0; i--) {
    for (int j = sp->n; j >= 0; j--) {
      int v;
      if (j == sp->n) {
        /* the path is used up: a full match needs the pattern used up too (or only "**" left);
         * a prefix match needs something left to match below */
        if (prefix) v = i < pp->n;
        else v = i == pp->n || (is_globstar(pp, i) && ok[i + 1][j]);
      } else if (i == pp->n) {
        v = 0;
      } else if (is_globstar(pp, i)) {
        /* "**" matches nothing, or swallows one more component (never a dot component) */
        v = ok[i + 1][j] || (sp->at[j][0] != '.' && ok[i][j + 1]);
      } else {
        v = component_match(pp->at[i], pp->len[i], sp->at[j], sp->len[j]) && ok[i + 1][j + 1];
      }
      ok[i][j] = (unsigned char)v;
    }
  }
  return ok[0][0];
}

int pattern_match(const char *pattern, const char *path) {
  struct parts pp, sp;
  if (split(pattern, &pp) < 0 || split(path, &sp) < 0 || sp.n == 0) return 0;
  return match_parts(&pp, &sp, 0);
}

int pattern_may_match_below(const char *pattern, const char *dir) {
  struct parts pp, sp;
  if (split(pattern, &pp) < 0 || split(dir, &sp) < 0) return 0;
  return match_parts(&pp, &sp, 1);
}
