/* rundir.h — a run directory belongs to one run.
 *
 *   - rundir_acquire takes an exclusive flock(2) on the directory itself (no
 *     lock file is written), held until rundir_release: a second process
 *     training into the same directory fails at once, naming it;
 *   - temp files an interrupted atomic write left behind (NAME.tmp.PID,
 *     util.h) whose process is gone are removed;
 *   - a directory that already holds files is refused unless the run resumes
 *     it (--resume) or replaces it (--overwrite: rundir_clear, called only
 *     once every check of the run has passed, so that a refused run leaves
 *     the old one as it was);
 *   - rundir_release(rd, 1) of a run that failed before writing anything
 *     removes the directory again if rundir_acquire created it.
 *
 * Contract: 0 on success, -1 with err (naming the directory and what to do). */
#ifndef MTL_RUNDIR_H
#define MTL_RUNDIR_H

#include "util.h"

typedef struct {
    int fd;        /* the locked directory; -1 when not held */
    int created;   /* rundir_acquire made the directory */
    int nonempty;  /* it held files (other than stale temp files) */
    int stale;     /* stale temp files removed */
    char dir[1024];
} RunDir;

int rundir_acquire(RunDir *rd, const char *dir, int resume, int overwrite, Err *err);
/* Remove everything inside the directory (it stays, and stays locked). */
int rundir_clear(RunDir *rd, Err *err);
void rundir_release(RunDir *rd, int remove_if_created);

#endif
