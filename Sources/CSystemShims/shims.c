#define _GNU_SOURCE
#include <stddef.h>
#include <sys/socket.h>
#include <malloc.h>
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
