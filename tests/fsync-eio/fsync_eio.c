/* An LD_PRELOAD shim for the fsync fault tests (tests/tests/fsync_faults.rs): while the file
 * named by LODE_FSYNC_EIO_TRIGGER exists, fsync and fdatasync fail with EIO on directories if it
 * holds "dir", on regular files if it holds "file", on both if it holds "all". The call is not
 * made at all, as when a disk's write-back fails. While it holds "hang", every fsync blocks (as
 * on a dying disk or a hung NFS server) until the trigger says otherwise, then is made;
 * "hang <pid>" holds only that process's fsyncs.
 * Built by the test with `cc -shared -fPIC`. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum action { MAKE, FAIL, HANG };

static enum action action_for(int fd) {
    const char *trigger = getenv("LODE_FSYNC_EIO_TRIGGER");
    if (trigger == NULL) return MAKE;
    int saved = errno;
    char what[32] = {0};
    int control = open(trigger, O_RDONLY | O_CLOEXEC);
    if (control < 0) {
        errno = saved;
        return MAKE;
    }
    ssize_t n = read(control, what, sizeof what - 1);
    close(control);
    struct stat st;
    int is_dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    errno = saved;
    if (n <= 0) return MAKE;
    if (strncmp(what, "hang", 4) == 0) {
        if (what[4] != ' ') return HANG;
        return atoi(what + 5) == (int)getpid() ? HANG : MAKE;
    }
    if (strncmp(what, "all", 3) == 0) return FAIL;
    if (strncmp(what, "dir", 3) == 0) return is_dir ? FAIL : MAKE;
    if (strncmp(what, "file", 4) == 0) return is_dir ? MAKE : FAIL;
    return MAKE;
}

/* Fails or holds the call while the trigger says so, else makes it: `real` caches the libc
 * function. */
static int intercept(int fd, const char *name, int (**real)(int)) {
    if (*real == NULL) *real = (int (*)(int))dlsym(RTLD_NEXT, name);
    enum action action;
    while ((action = action_for(fd)) == HANG) usleep(10000);
    if (action == FAIL) {
        errno = EIO;
        return -1;
    }
    return (*real)(fd);
}

int fsync(int fd) {
    static int (*real)(int);
    return intercept(fd, "fsync", &real);
}

int fdatasync(int fd) {
    static int (*real)(int);
    return intercept(fd, "fdatasync", &real);
}
