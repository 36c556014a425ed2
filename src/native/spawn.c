// Starts a program the way posix_spawn does (a child that shares ctr's memory while ctr's thread
// waits, so nothing of ctr's ~100 MB is copied), optionally inside a user namespace: the child
// joins it with setns before it executes the program. Node's own spawn forks ctr (~5 ms of the
// main thread here), and joining the namespace took one more program (nsenter). The child gets
// exactly the descriptors asked for.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "napi_util.h"

#define SPAWN_STACK (64 * 1024)
#define MAX_CHILD_FDS 16

typedef struct {
  char *file;
  char **argv;
  char **envp;
  int fds[MAX_CHILD_FDS]; // the child's fd i is ctr's fds[i]; -1: closed
  int moved[MAX_CHILD_FDS];
  int nfds;
  int userns_fd; // -1: stay in ctr's namespaces
  // Written by the child when it fails before its program runs.
  int err;
  const char *what;
} spawn_t;

// The child: it runs on its own stack in ctr's memory, with every signal blocked, until execve.
static int spawn_child(void *arg) {
  spawn_t *s = arg;
  // ctr's (Node's) handlers must not run in it, and its program starts with default dispositions.
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL);
  if (s->userns_fd >= 0 && setns(s->userns_fd, CLONE_NEWUSER) < 0) {
    s->err = errno;
    s->what = "join the user namespace to execute";
    _exit(127);
  }
  // First above the child's range, so that no source is overwritten before it is moved.
  for (int i = 0; i < s->nfds; i++) {
    s->moved[i] = -1;
    if (s->fds[i] >= 0 && (s->moved[i] = fcntl(s->fds[i], F_DUPFD_CLOEXEC, s->nfds)) < 0) {
      s->err = errno;
      s->what = "pass a descriptor to";
      _exit(127);
    }
  }
  for (int i = 0; i < s->nfds; i++) {
    if (s->moved[i] < 0) {
      close(i);
    } else if (dup2(s->moved[i], i) < 0) {
      s->err = errno;
      s->what = "pass a descriptor to";
      _exit(127);
    }
  }
  // Nothing else of ctr's: not even descriptors that ctr's own parent left open to it.
  syscall(SYS_close_range, s->nfds, ~0U, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(s->file, s->argv, s->envp);
  s->err = errno;
  s->what = "execute";
  _exit(127);
}

static void free_strings(char **list) {
  if (!list) return;
  for (char **p = list; *p; p++) free(*p);
  free(list);
}

static void spawn_free(spawn_t *s) {
  free(s->file);
  free_strings(s->argv);
  free_strings(s->envp);
  free(s);
}

// A NULL-terminated copy of a JS array of strings, or NULL (with a TypeError thrown).
static char **string_list(napi_env env, napi_value array, const char *what) {
  uint32_t count = 0;
  if (napi_get_array_length(env, array, &count) != napi_ok) goto bad;
  char **list = calloc(count + 1, sizeof *list);
  if (!list) goto bad;
  for (uint32_t i = 0; i < count; i++) {
    napi_value item;
    napi_get_element(env, array, i, &item);
    if (!(list[i] = ctr_string_arg(env, item))) {
      free_strings(list);
      goto bad;
    }
  }
  return list;
bad: {
  char msg[128];
  snprintf(msg, sizeof msg, "spawn needs %s as an array of strings", what);
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}
}

// spawn(file, argv, env, fds, usernsFd): the child's pid, once it executes file (which must be a
// path); throws what failed before that. fds[i] becomes the child's fd i (-1: closed); env holds
// "NAME=value" strings; usernsFd, when >= 0, is a user namespace (/proc/PID/ns/user) to join.
static napi_value Spawn(napi_env env, napi_callback_info info) {
  ARGS(5);
  spawn_t *s = calloc(1, sizeof *s);
  if (!s) return ctr_throw_error(env, "allocate", NULL, ENOMEM);
  uint32_t nfds = 0;
  int32_t userns_fd = -1;
  if (!(s->file = ctr_string_arg(env, argv[0]))) {
    spawn_free(s);
    napi_throw_type_error(env, NULL, "spawn needs a file");
    return NULL;
  }
  if (!(s->argv = string_list(env, argv[1], "argv")) || !(s->envp = string_list(env, argv[2], "env"))) {
    spawn_free(s);
    return NULL;
  }
  if (napi_get_array_length(env, argv[3], &nfds) != napi_ok || nfds > MAX_CHILD_FDS || napi_get_value_int32(env, argv[4], &userns_fd) != napi_ok) {
    spawn_free(s);
    napi_throw_type_error(env, NULL, "spawn needs at most 16 descriptors and a namespace descriptor (or -1)");
    return NULL;
  }
  s->nfds = (int)nfds;
  s->userns_fd = userns_fd;
  for (uint32_t i = 0; i < nfds; i++) {
    napi_value item;
    int32_t fd = -1;
    napi_get_element(env, argv[3], i, &item);
    napi_get_value_int32(env, item, &fd);
    s->fds[i] = fd;
  }
  void *stack = mmap(NULL, SPAWN_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    int err = errno;
    spawn_free(s);
    return ctr_throw_error(env, "allocate a stack to execute", NULL, err);
  }
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  // CLONE_VFORK: this thread resumes once the child has executed its program, or exited.
  pid_t pid = clone(spawn_child, (char *)stack + SPAWN_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, s);
  int clone_err = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  munmap(stack, SPAWN_STACK);
  napi_value result = NULL;
  if (pid < 0) {
    ctr_throw_error(env, "start a process to execute", s->file, clone_err);
  } else if (s->err) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    ctr_throw_error(env, s->what, s->file, s->err);
  } else {
    napi_create_int32(env, pid, &result);
  }
  spawn_free(s);
  return result;
}

// pipe(): [readFd, writeFd], both close-on-exec.
static napi_value Pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return ctr_throw_error(env, "create a pipe", NULL, errno);
  napi_value result, r, w;
  napi_create_array_with_length(env, 2, &result);
  napi_create_int32(env, fds[0], &r);
  napi_create_int32(env, fds[1], &w);
  napi_set_element(env, result, 0, r);
  napi_set_element(env, result, 1, w);
  return result;
}

void ctr_register_spawn(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"spawn", NULL, Spawn, NULL, NULL, NULL, napi_default, NULL},
      {"pipe", NULL, Pipe, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
