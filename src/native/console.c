// Terminal support for `ctr run -t`: the runtime's console socket (the pty master arrives by
// SCM_RIGHTS, which Node cannot receive), window sizes and raw mode (ioctls Node lacks).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include "napi_util.h"
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#define MSG_MAX 1024


static int get_fd(napi_env env, napi_value v, int32_t *fd) {
  if (napi_get_value_int32(env, v, fd) != napi_ok || *fd < 0) {
    napi_throw_type_error(env, NULL, "a file descriptor must be a non-negative integer");
    return -1;
  }
  return 0;
}

// consoleListen(path) -> the listening fd of a new unix socket at path (close-on-exec).
static napi_value ConsoleListen(napi_env env, napi_callback_info info) {
  ARGS(1);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  char path[MSG_MAX / 2];
  size_t len;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "the console socket path must be a string");
    return NULL;
  }
  if (len >= sizeof addr.sun_path) return ctr_throw_error(env, "listen on console socket", path, ENAMETOOLONG);
  memcpy(addr.sun_path, path, len + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ctr_throw_error(env, "create console socket", path, errno);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 1) < 0) {
    int err = errno;
    close(fd);
    return ctr_throw_error(env, "listen on console socket", path, err);
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

// One pending consoleReceive. Two owners free it: the finished async work and the collected JS handle.
typedef struct {
  int owners;
  int listen_fd;
  int cancel_fd;
  int result_fd;
  int err;
  const char *op;
  bool done;
  char path[MSG_MAX / 2];
  napi_threadsafe_function tsfn;
} receive_t;

static void release(receive_t *r) {
  if (--r->owners == 0) free(r);
}

// Waits until fd is readable or the receive is cancelled; 0 when readable.
static int wait_readable(receive_t *r, int fd) {
  struct pollfd fds[2] = {{.fd = fd, .events = POLLIN}, {.fd = r->cancel_fd, .events = POLLIN}};
  for (;;) {
    int n = poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (fds[1].revents) return ECANCELED;
    if (fds[0].revents) return 0;
  }
}

// Blocking waits run on threads of their own, never on libuv's pool: Node joins the pool at
// exit, so a wait parked there (a runtime that never connects) would keep ctr from exiting.
// Accepts one connection and reads one message carrying the pty master.
static void receive_execute(receive_t *r) {
  r->op = "accept console socket";
  if ((r->err = wait_readable(r, r->listen_fd)) != 0) return;
  int conn;
  do conn = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC); while (conn < 0 && errno == EINTR);
  if (conn < 0) {
    r->err = errno;
    return;
  }
  r->op = "receive terminal from console socket";
  if ((r->err = wait_readable(r, conn)) != 0) {
    close(conn);
    return;
  }
  // The payload is the pty's name; only the fd in the control message matters.
  char name[4096];
  struct iovec iov = {.iov_base = name, .iov_len = sizeof name};
  union {
    char buf[CMSG_SPACE(sizeof(int) * 4)];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  ssize_t got;
  do got = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC); while (got < 0 && errno == EINTR);
  int saved = errno;
  close(conn);
  if (got < 0) {
    r->err = saved;
    return;
  }
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int *fds = (int *)CMSG_DATA(c);
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      if (r->result_fd < 0) r->result_fd = fds[i];
      else close(fds[i]);
    }
  }
  if (r->result_fd < 0) r->err = got == 0 ? ECONNRESET : EBADMSG;
  else if (!isatty(r->result_fd)) {
    close(r->result_fd);
    r->result_fd = -1;
    r->err = ENOTTY;
  }
}

static void *receive_thread(void *data) {
  receive_t *r = data;
  napi_threadsafe_function tsfn = r->tsfn;
  receive_execute(r);
  napi_call_threadsafe_function(tsfn, r, napi_tsfn_blocking);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  return NULL;
}

// On the main thread, once the receive thread is done with r.
static void receive_deliver(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  receive_t *r = data;
  // No env: Node is tearing down and the process is exiting anyway.
  if (env == NULL) return;
  r->done = true;
  close(r->listen_fd);
  close(r->cancel_fd);
  r->cancel_fd = -1;
  napi_value undefined, args[2];
  napi_get_undefined(env, &undefined);
  if (r->err) {
    args[0] = ctr_make_error(env, r->op, r->path, r->err);
    napi_get_undefined(env, &args[1]);
  } else {
    napi_get_null(env, &args[0]);
    napi_create_int32(env, r->result_fd, &args[1]);
  }
  release(r);
  napi_call_function(env, undefined, callback, 2, args, NULL);
}

static napi_value ReceiveCancel(napi_env env, napi_callback_info info) {
  receive_t *r;
  napi_get_cb_info(env, info, NULL, NULL, NULL, (void **)&r);
  if (!r->done && r->cancel_fd >= 0) {
    uint64_t one = 1;
    if (write(r->cancel_fd, &one, sizeof one) < 0) return ctr_throw_error(env, "cancel console socket", r->path, errno);
  }
  return NULL;
}

static void handle_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  release(data);
}

// consoleReceive(listenFd, path, callback(err, masterFd)) -> { cancel() }. Takes over listenFd
// and closes it when done; the callback runs exactly once, with an ECANCELED error after cancel().
static napi_value ConsoleReceive(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t listen_fd;
  if (get_fd(env, argv[0], &listen_fd) < 0) return NULL;
  napi_valuetype type;
  napi_typeof(env, argv[2], &type);
  if (type != napi_function) {
    napi_throw_type_error(env, NULL, "consoleReceive needs a callback");
    return NULL;
  }
  receive_t *r = calloc(1, sizeof *r);
  if (!r) return ctr_throw_error(env, "allocate", NULL, ENOMEM);
  size_t len;
  napi_get_value_string_utf8(env, argv[1], r->path, sizeof r->path, &len);
  r->owners = 2;
  r->listen_fd = listen_fd;
  r->result_fd = -1;
  r->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (r->cancel_fd < 0) {
    int err = errno;
    free(r);
    return ctr_throw_error(env, "eventfd for console socket", NULL, err);
  }
  napi_value handle, cancel;
  int err = ctr_start_reporting_thread(env, argv[2], "ctr console receive", receive_deliver, &r->tsfn, receive_thread, r);
  if (err) {
    napi_value error = ctr_make_error(env, "start a thread for console socket", r->path, err);
    close(r->cancel_fd);
    free(r);
    napi_throw(env, error);
    return NULL;
  }
  napi_create_object(env, &handle);
  napi_create_function(env, "cancel", NAPI_AUTO_LENGTH, ReceiveCancel, r, &cancel);
  napi_set_named_property(env, handle, "cancel", cancel);
  napi_wrap(env, handle, r, handle_finalize, NULL, NULL);
  return handle;
}

// setWindowSize(fd, rows, cols)
static napi_value SetWindowSize(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t fd;
  uint32_t rows, cols;
  if (get_fd(env, argv[0], &fd) < 0) return NULL;
  napi_get_value_uint32(env, argv[1], &rows);
  napi_get_value_uint32(env, argv[2], &cols);
  struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  if (ioctl(fd, TIOCSWINSZ, &ws) < 0) return ctr_throw_error(env, "set the window size of the terminal", NULL, errno);
  return NULL;
}

// getWindowSize(fd) -> { rows, cols }
static napi_value GetWindowSize(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  if (get_fd(env, argv[0], &fd) < 0) return NULL;
  struct winsize ws;
  if (ioctl(fd, TIOCGWINSZ, &ws) < 0) return ctr_throw_error(env, "read the window size of the terminal", NULL, errno);
  napi_value result, rows, cols;
  napi_create_object(env, &result);
  napi_create_uint32(env, ws.ws_row, &rows);
  napi_create_uint32(env, ws.ws_col, &cols);
  napi_set_named_property(env, result, "rows", rows);
  napi_set_named_property(env, result, "cols", cols);
  return result;
}

// makeRaw(fd) -> the previous mode, for setTermios. Raw as cfmakeraw: no echo, no line editing,
// no signals from keys, no output processing (what docker's client does with -it).
static napi_value MakeRaw(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  if (get_fd(env, argv[0], &fd) < 0) return NULL;
  struct termios old, raw;
  if (tcgetattr(fd, &old) < 0) return ctr_throw_error(env, "read the terminal mode", NULL, errno);
  raw = old;
  cfmakeraw(&raw);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  int r;
  do r = tcsetattr(fd, TCSANOW, &raw); while (r < 0 && errno == EINTR);
  if (r < 0) return ctr_throw_error(env, "put the terminal in raw mode", NULL, errno);
  napi_value result;
  napi_create_buffer_copy(env, sizeof old, &old, NULL, &result);
  return result;
}

// setTermios(fd, state): puts back a mode makeRaw returned.
static napi_value SetTermios(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd;
  if (get_fd(env, argv[0], &fd) < 0) return NULL;
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || len != sizeof(struct termios)) {
    napi_throw_type_error(env, NULL, "the terminal mode must be a Buffer from makeRaw");
    return NULL;
  }
  struct termios state;
  memcpy(&state, data, sizeof state);
  int r;
  do r = tcsetattr(fd, TCSANOW, &state); while (r < 0 && errno == EINTR);
  if (r < 0) return ctr_throw_error(env, "restore the terminal mode", NULL, errno);
  return NULL;
}

// dupNonBlock(fd) -> a close-on-exec duplicate; O_NONBLOCK is set on the shared open file, so
// writes to a full pty return EAGAIN instead of stalling the event loop.
static napi_value DupNonBlock(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  if (get_fd(env, argv[0], &fd) < 0) return NULL;
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return ctr_throw_error(env, "make the terminal non-blocking", NULL, errno);
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (dup < 0) return ctr_throw_error(env, "duplicate the terminal", NULL, errno);
  napi_value result;
  napi_create_int32(env, dup, &result);
  return result;
}

// setChildSubreaper(): orphaned descendants (a container's init once `runc create` exits) become our children.
static napi_value SetChildSubreaper(napi_env env, napi_callback_info info) {
  (void)info;
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) return ctr_throw_error(env, "become a child subreaper", NULL, errno);
  return NULL;
}

typedef struct {
  pid_t pid;
  int status;
  int err;
  napi_threadsafe_function tsfn;
} wait_t;

static void *wait_thread(void *data) {
  wait_t *w = data;
  napi_threadsafe_function tsfn = w->tsfn;
  pid_t r;
  do r = waitpid(w->pid, &w->status, 0); while (r < 0 && errno == EINTR);
  w->err = r < 0 ? errno : 0;
  napi_call_threadsafe_function(tsfn, w, napi_tsfn_blocking);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  return NULL;
}

static void wait_deliver(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  wait_t *w = data;
  if (env == NULL) return;
  napi_value undefined, args[2];
  napi_get_undefined(env, &undefined);
  if (w->err) {
    char what[64];
    snprintf(what, sizeof what, "process %d", (int)w->pid);
    args[0] = ctr_make_error(env, "wait for", what, w->err);
    napi_get_undefined(env, &args[1]);
  } else {
    napi_value code, sig;
    napi_get_null(env, &args[0]);
    napi_create_object(env, &args[1]);
    if (WIFSIGNALED(w->status)) {
      napi_get_null(env, &code);
      napi_create_int32(env, WTERMSIG(w->status), &sig);
    } else {
      napi_create_int32(env, WEXITSTATUS(w->status), &code);
      napi_get_null(env, &sig);
    }
    napi_set_named_property(env, args[1], "code", code);
    napi_set_named_property(env, args[1], "signal", sig);
  }
  free(w);
  napi_call_function(env, undefined, callback, 2, args, NULL);
}

// waitPid(pid, callback(err, { code, signal })): waitpid on a worker thread, for a child
// Node did not spawn itself (a container's init inherited as subreaper).
static napi_value WaitPid(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t pid;
  if (napi_get_value_int32(env, argv[0], &pid) != napi_ok || pid <= 0) {
    napi_throw_type_error(env, NULL, "waitPid needs a process id");
    return NULL;
  }
  wait_t *w = calloc(1, sizeof *w);
  if (!w) return ctr_throw_error(env, "allocate", NULL, ENOMEM);
  w->pid = pid;
  int err = ctr_start_reporting_thread(env, argv[1], "ctr waitpid", wait_deliver, &w->tsfn, wait_thread, w);
  if (err) {
    free(w);
    return ctr_throw_error(env, "start a thread to wait for a process", NULL, err);
  }
  return NULL;
}

void ctr_register_console(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"consoleListen", NULL, ConsoleListen, NULL, NULL, NULL, napi_default, NULL},
      {"consoleReceive", NULL, ConsoleReceive, NULL, NULL, NULL, napi_default, NULL},
      {"setWindowSize", NULL, SetWindowSize, NULL, NULL, NULL, napi_default, NULL},
      {"getWindowSize", NULL, GetWindowSize, NULL, NULL, NULL, napi_default, NULL},
      {"makeRaw", NULL, MakeRaw, NULL, NULL, NULL, napi_default, NULL},
      {"setTermios", NULL, SetTermios, NULL, NULL, NULL, napi_default, NULL},
      {"dupNonBlock", NULL, DupNonBlock, NULL, NULL, NULL, napi_default, NULL},
      {"setChildSubreaper", NULL, SetChildSubreaper, NULL, NULL, NULL, napi_default, NULL},
      {"waitPid", NULL, WaitPid, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
