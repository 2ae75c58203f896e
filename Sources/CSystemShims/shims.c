#define _GNU_SOURCE
#include <stddef.h>
#include <sys/socket.h>
#include <malloc.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <pthread.h>
#include <string.h>
#include "CSystemShims.h"

int nm_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int nm_errno(void) { return errno; }

int nm_fix_mmap_threshold(int bytes) { return mallopt(M_MMAP_THRESHOLD, bytes); }

int nm_accept(int listener) {
#ifdef __linux__
    return accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    int fd = accept(listener, NULL, NULL);
    if (fd >= 0) nm_set_nonblocking(fd);
    return fd;
#endif
}

int nm_set_thread_niceness(int niceness) {
#ifdef __linux__
    pid_t tid = (pid_t)syscall(SYS_gettid);
    return setpriority(PRIO_PROCESS, (id_t)tid, niceness);
#else
    (void)niceness;
    return 0;   /* elsewhere nice is per process: leave it */
#endif
}

void nm_set_thread_name(const char *name) {
#ifdef __linux__
    char shortened[16];
    strncpy(shortened, name, 15);
    shortened[15] = 0;
    pthread_setname_np(pthread_self(), shortened);
#else
    (void)name;
#endif
}
