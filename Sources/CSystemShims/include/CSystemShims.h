#ifndef NEUROMOD_CSYSTEMSHIMS_H
#define NEUROMOD_CSYSTEMSHIMS_H
#ifdef __linux__
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <errno.h>
#include <signal.h>

/// Sets O_NONBLOCK on a descriptor; returns 0 or -1 (errno set).
int nm_set_nonblocking(int fd);
/// Returns errno (a macro in glibc, awkward from Swift).
int nm_errno(void);
/// Fixes glibc's mmap threshold (disabling its dynamic growth) so freed large blocks return to the system.
int nm_fix_mmap_threshold(int bytes);
/// Accepts with SOCK_NONBLOCK|SOCK_CLOEXEC; returns the fd or -1.
int nm_accept(int listener);
#endif

#ifdef __linux__
static const unsigned int NM_EPOLLIN = EPOLLIN;
static const unsigned int NM_EPOLLOUT = EPOLLOUT;
static const unsigned int NM_EPOLLERR = EPOLLERR;
static const unsigned int NM_EPOLLHUP = EPOLLHUP;
static const unsigned int NM_EPOLLRDHUP = EPOLLRDHUP;
#endif
static const int NM_MSG_NOSIGNAL = MSG_NOSIGNAL;

/// Lowers the calling thread's scheduling priority to `niceness` (0–19; Linux applies nice per
/// thread). Returns 0, or -1 with errno set.
int nm_set_thread_niceness(int niceness);

/// Names the calling thread for the OS (ps, top, /proc/PID/task/TID/comm; 15 bytes kept).
void nm_set_thread_name(const char *name);
