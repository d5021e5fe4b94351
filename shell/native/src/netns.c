// Sockets in another network namespace. setns(2) on a network namespace changes only the calling
// thread, so the JS thread enters the target namespace just long enough to create the socket, then
// returns to the namespace it started in (saved from /proc/self/task/<tid>/ns/net). A socket belongs to
// the namespace it was created in for its whole life, and everything done through it later (bind,
// connect, interface lookups by ioctl) resolves there, so nothing after socket(2) runs inside.
#include "addon.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fail(netns_failure *failure, int err, const char *syscall_name, const char *path) {
  failure->err = err;
  failure->syscall_name = syscall_name;
  copy_string(failure->path, sizeof failure->path, path);
  return -1;
}

int netns_enter(netns_guard *guard, const char *netns_path, netns_failure *failure) {
  guard->original_fd = -1;
  guard->entered = 0;
  if (netns_path[0] == '\0') return 0;

  char self_path[64];
  snprintf(self_path, sizeof self_path, "/proc/self/task/%ld/ns/net", (long)syscall(SYS_gettid));
  guard->original_fd = open(self_path, O_RDONLY | O_CLOEXEC);
  if (guard->original_fd < 0) return fail(failure, errno, "open", self_path);
  int target_fd = open(netns_path, O_RDONLY | O_CLOEXEC);
  if (target_fd < 0) {
    int err = errno;
    close(guard->original_fd);
    guard->original_fd = -1;
    return fail(failure, err, "open", netns_path);
  }
  if (setns(target_fd, CLONE_NEWNET) != 0) {
    int err = errno;
    close(target_fd);
    close(guard->original_fd);
    guard->original_fd = -1;
    return fail(failure, err, "setns", netns_path);
  }
  close(target_fd);
  guard->entered = 1;
  return 0;
}

// Staying in a foreign namespace would silently send every later socket of the process to the wrong
// network, so failing to return is fatal.
void netns_leave(netns_guard *guard) {
  if (guard->entered) {
    if (setns(guard->original_fd, CLONE_NEWNET) != 0) {
      napi_fatal_error("metallb-ts native addon", NAPI_AUTO_LENGTH,
                       "could not return to the original network namespace", NAPI_AUTO_LENGTH);
    }
    guard->entered = 0;
  }
  if (guard->original_fd >= 0) {
    close(guard->original_fd);
    guard->original_fd = -1;
  }
}

int socket_in_netns(int domain, int type, int protocol, const char *netns_path, netns_failure *failure) {
  netns_guard guard;
  if (netns_enter(&guard, netns_path, failure) != 0) return -1;
  int fd = socket(domain, type, protocol);
  int err = errno;
  netns_leave(&guard);
  if (fd < 0) return fail(failure, err, "socket", netns_path);
  return fd;
}
