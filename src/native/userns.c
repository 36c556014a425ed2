// A user namespace with the rootless id maps, made without starting a program for it: a process
// cloned into a new namespace (sharing ctr's memory, so nothing is copied) waits there while the
// setuid newuidmap and newgidmap write its maps, and the runtime joins it with nsenter. ctr used
// to start `unshare` and a shell, poll for the new namespace and run the two helpers from Node.
// It all runs on a thread of its own, so ctr's JavaScript goes on meanwhile.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "napi_util.h"

extern char **environ;

#define MAX_MAP_ARGS 64

typedef struct {
  char *tool[2];                   // newuidmap, newgidmap
  char *args[2][MAX_MAP_ARGS + 3]; // argv of each, with the holder's pid filled in
  char pid_text[16];
  pid_t pid;
  int hold_fd;    // ctr's end: closing it ends the holder
  int err;        // errno of what failed, or 0
  char what[256]; // what failed, for the message
  char stderr_text[1024];
  napi_threadsafe_function tsfn;
} holder_t;

static void holder_free(holder_t *h) {
  for (int i = 0; i < 2; i++) {
    free(h->tool[i]);
    for (int j = 2; j < MAX_MAP_ARGS + 3 && h->args[i][j]; j++) free(h->args[i][j]);
  }
  free(h);
}

#define HOLDER_STACK (64 * 1024)

// The holder, cloned with CLONE_VM: it runs on its own small stack in ctr's memory, with every
// signal blocked, and touches nothing but its descriptors. It holds the namespace until ctr
// closes the other end of hold_r (or ends).
static int holder_child(void *arg) {
  int hold_r = (int)(intptr_t)arg;
  // ctr's other descriptors stay out of it: hold_r moves to 0 (through a copy above 0), the rest close.
  int copy = (int)syscall(SYS_fcntl, hold_r, F_DUPFD, 1);
  if (copy < 0 || syscall(SYS_dup2, copy, 0) < 0) return 1;
  syscall(SYS_close_range, 1, ~0U, 0);
  char c;
  while (syscall(SYS_read, 0, &c, 1) < 0) {
  }
  return 0;
}

// Runs newuidmap or newgidmap for the holder; 0, or -1 with h->err and h->what set.
static int run_map_tool(holder_t *h, int which, pid_t *child, int *err_r) {
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) < 0) {
    h->err = errno;
    snprintf(h->what, sizeof h->what, "create a pipe for %s", h->tool[which]);
    return -1;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, errpipe[1], 2);
  int rc = posix_spawn(child, h->tool[which], &fa, NULL, h->args[which], environ);
  posix_spawn_file_actions_destroy(&fa);
  close(errpipe[1]);
  if (rc) {
    close(errpipe[0]);
    h->err = rc;
    snprintf(h->what, sizeof h->what, "run %s", h->tool[which]);
    return -1;
  }
  *err_r = errpipe[0];
  return 0;
}

// Waits for a map tool; 0 when it succeeded, else -1 with its stderr kept in h->stderr_text.
static int wait_map_tool(holder_t *h, int which, pid_t child, int err_r) {
  char buf[sizeof h->stderr_text];
  size_t len = 0;
  ssize_t n;
  while (len < sizeof buf - 1 && ((n = read(err_r, buf + len, sizeof buf - 1 - len)) > 0 || (n < 0 && errno == EINTR)))
    if (n > 0) len += (size_t)n;
  close(err_r);
  buf[len] = 0;
  int status;
  pid_t r;
  do r = waitpid(child, &status, 0); while (r < 0 && errno == EINTR);
  if (r == child && WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
  if (!h->err) {
    h->err = EPERM;
    snprintf(h->what, sizeof h->what, "%s %s", h->tool[which], h->pid_text);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' ')) buf[--len] = 0;
    snprintf(h->stderr_text, sizeof h->stderr_text, "%s", len ? buf : "it failed");
  }
  return -1;
}

static void holder_make(holder_t *h, void *stack) {
  int hold[2];
  if (pipe2(hold, O_CLOEXEC) < 0) {
    h->err = errno;
    snprintf(h->what, sizeof h->what, "create a pipe");
    return;
  }
  // The holder must not run Node's signal handlers: it starts with every signal blocked.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = clone(holder_child, (char *)stack + HOLDER_STACK, CLONE_VM | CLONE_NEWUSER | SIGCHLD, (void *)(intptr_t)hold[0]);
  int clone_err = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(hold[0]);
  if (pid < 0) {
    h->err = clone_err;
    snprintf(h->what, sizeof h->what, "create a user namespace");
    close(hold[1]);
    return;
  }
  h->pid = pid;
  h->hold_fd = hold[1];
  snprintf(h->pid_text, sizeof h->pid_text, "%d", (int)pid);
  pid_t tools[2] = {0, 0};
  int err_r[2] = {-1, -1};
  for (int i = 0; i < 2; i++) {
    h->args[i][1] = h->pid_text;
    if (run_map_tool(h, i, &tools[i], &err_r[i]) < 0) break;
  }
  for (int i = 0; i < 2; i++)
    if (tools[i] > 0) wait_map_tool(h, i, tools[i], err_r[i]);
}

static void *holder_thread(void *data) {
  holder_t *h = data;
  void *stack = mmap(NULL, HOLDER_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    stack = NULL;
    h->err = errno;
    snprintf(h->what, sizeof h->what, "allocate a stack");
  } else {
    holder_make(h, stack);
  }
  pid_t pid = h->pid;
  int failed = h->err != 0;
  if (failed && pid > 0) {
    kill(pid, SIGKILL);
    close(h->hold_fd);
  }
  napi_threadsafe_function tsfn = h->tsfn;
  napi_call_threadsafe_function(tsfn, h, napi_tsfn_blocking);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  // The holder is ours to reap: it ends when ctr closes its end (or ctr itself ends). Its stack
  // is freed only then.
  if (pid > 0) {
    pid_t r;
    int status;
    do r = waitpid(pid, &status, 0); while (r < 0 && errno == EINTR);
  }
  if (stack) munmap(stack, HOLDER_STACK);
  return NULL;
}

static void holder_deliver(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  holder_t *h = data;
  if (env != NULL) {
    napi_value undefined, args[2];
    napi_get_undefined(env, &undefined);
    if (h->err) {
      args[0] = ctr_make_error(env, h->what, NULL, h->err);
      if (h->stderr_text[0]) {
        // The tool's own words are the message: "newuidmap 1234: <what it said>".
        char msg[sizeof h->what + sizeof h->stderr_text + 4];
        snprintf(msg, sizeof msg, "%s: %s", h->what, h->stderr_text);
        napi_value message;
        napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
        napi_set_named_property(env, args[0], "message", message);
      }
      napi_get_undefined(env, &args[1]);
    } else {
      napi_value pid, fd;
      napi_get_null(env, &args[0]);
      napi_create_object(env, &args[1]);
      napi_create_int32(env, h->pid, &pid);
      napi_create_int32(env, h->hold_fd, &fd);
      napi_set_named_property(env, args[1], "pid", pid);
      napi_set_named_property(env, args[1], "fd", fd);
    }
    napi_call_function(env, undefined, callback, 2, args, NULL);
  } else if (!h->err) {
    close(h->hold_fd);
  }
  holder_free(h);
}

// usernsHold(newuidmap, uidArgs, newgidmap, gidArgs, callback(err, { pid, fd })): the args are
// the maps as newuidmap takes them after the pid (inner outer count ...). pid is the holder's;
// closing fd ends it.
static napi_value UsernsHold(napi_env env, napi_callback_info info) {
  ARGS(5);
  holder_t *h = calloc(1, sizeof *h);
  if (!h) return ctr_throw_error(env, "allocate", NULL, ENOMEM);
  h->hold_fd = -1;
  for (int i = 0; i < 2; i++) {
    h->tool[i] = ctr_string_arg(env, argv[2 * i]);
    uint32_t count = 0;
    if (!h->tool[i] || napi_get_array_length(env, argv[2 * i + 1], &count) != napi_ok || count > MAX_MAP_ARGS) {
      holder_free(h);
      napi_throw_type_error(env, NULL, "usernsHold needs a tool path and at most 64 map arguments for each map");
      return NULL;
    }
    h->args[i][0] = h->tool[i];
    h->args[i][1] = NULL; // the pid, once known
    for (uint32_t j = 0; j < count; j++) {
      napi_value item;
      napi_get_element(env, argv[2 * i + 1], j, &item);
      if (!(h->args[i][j + 2] = ctr_string_arg(env, item))) {
        holder_free(h);
        napi_throw_type_error(env, NULL, "usernsHold's map arguments are strings");
        return NULL;
      }
    }
  }
  int err = ctr_start_reporting_thread(env, argv[4], "ctr userns", holder_deliver, &h->tsfn, holder_thread, h);
  if (err) {
    holder_free(h);
    return ctr_throw_error(env, "start a thread to make a user namespace", NULL, err);
  }
  return NULL;
}

void ctr_register_userns(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"usernsHold", NULL, UsernsHold, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
