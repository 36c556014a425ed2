// The few system calls Node lacks (flock, xattrs, mknod, syncfs, unix SOCK_SEQPACKET sockets) and
// a thread pool that creates the small files of a layer. N-API only, so one build serves every Node.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <node_api.h>
#include "napi_util.h"
#include <pthread.h>
#include <libgen.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#define PATH_MAX_LEN 4096

// A path is a string or a Buffer of raw bytes (file names need not be valid UTF-8).
static int get_path(napi_env env, napi_value v, char *buf) {
  size_t len;
  bool isBuffer = false;
  napi_is_buffer(env, v, &isBuffer);
  if (isBuffer) {
    void *data;
    if (napi_get_buffer_info(env, v, &data, &len) != napi_ok) return -1;
    if (len >= PATH_MAX_LEN - 1 || memchr(data, 0, len) != NULL) return -1;
    memcpy(buf, data, len);
    buf[len] = 0;
    return 0;
  }
  if (napi_get_value_string_utf8(env, v, buf, PATH_MAX_LEN, &len) != napi_ok) return -1;
  if (len >= PATH_MAX_LEN - 1) return -1;
  return 0;
}


// flock(fd, exclusive, nonblocking) -> true when taken, false when it would block.
static napi_value Flock(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t fd, op;
  bool exclusive, nonblock;
  napi_get_value_int32(env, argv[0], &fd);
  napi_get_value_bool(env, argv[1], &exclusive);
  napi_get_value_bool(env, argv[2], &nonblock);
  op = (exclusive ? LOCK_EX : LOCK_SH) | (nonblock ? LOCK_NB : 0);
  int r;
  do r = flock(fd, op); while (r < 0 && errno == EINTR);
  napi_value result;
  if (r < 0) {
    if (errno == EWOULDBLOCK && nonblock) {
      napi_get_boolean(env, false, &result);
      return result;
    }
    return ctr_throw_error(env, "flock", NULL, errno);
  }
  napi_get_boolean(env, true, &result);
  return result;
}

static napi_value Funlock(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  napi_get_value_int32(env, argv[0], &fd);
  if (flock(fd, LOCK_UN) < 0) return ctr_throw_error(env, "flock", NULL, errno);
  return NULL;
}

// lsetxattr(path, name, buffer)
static napi_value Lsetxattr(napi_env env, napi_callback_info info) {
  ARGS(3);
  char path[PATH_MAX_LEN], name[256];
  size_t nlen;
  void *data;
  size_t len;
  if (get_path(env, argv[0], path) < 0) return ctr_throw_error(env, "lsetxattr", NULL, ENAMETOOLONG);
  napi_get_value_string_utf8(env, argv[1], name, sizeof name, &nlen);
  if (napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "value must be a Buffer");
    return NULL;
  }
  if (lsetxattr(path, name, data, len, 0) < 0) return ctr_throw_error(env, "lsetxattr", path, errno);
  return NULL;
}

// lgetxattr(path, name) -> Buffer | null when absent
static napi_value Lgetxattr(napi_env env, napi_callback_info info) {
  ARGS(2);
  char path[PATH_MAX_LEN], name[256];
  size_t nlen;
  if (get_path(env, argv[0], path) < 0) return ctr_throw_error(env, "lgetxattr", NULL, ENAMETOOLONG);
  napi_get_value_string_utf8(env, argv[1], name, sizeof name, &nlen);
  for (;;) {
    ssize_t size = lgetxattr(path, name, NULL, 0);
    napi_value result;
    if (size < 0) {
      if (errno == ENODATA || errno == ENOTSUP) {
        napi_get_null(env, &result);
        return result;
      }
      return ctr_throw_error(env, "lgetxattr", path, errno);
    }
    void *data;
    napi_create_buffer(env, size, &data, &result);
    ssize_t got = lgetxattr(path, name, data, size);
    if (got < 0 && errno == ERANGE) continue;
    if (got < 0) return ctr_throw_error(env, "lgetxattr", path, errno);
    if (got != size) napi_create_buffer_copy(env, got, data, NULL, &result);
    return result;
  }
}

// llistxattr(path) -> string[]
static napi_value Llistxattr(napi_env env, napi_callback_info info) {
  ARGS(1);
  char path[PATH_MAX_LEN];
  if (get_path(env, argv[0], path) < 0) return ctr_throw_error(env, "llistxattr", NULL, ENAMETOOLONG);
  napi_value arr;
  napi_create_array(env, &arr);
  for (;;) {
    ssize_t size = llistxattr(path, NULL, 0);
    if (size < 0) {
      if (errno == ENOTSUP) return arr;
      return ctr_throw_error(env, "llistxattr", path, errno);
    }
    if (size == 0) return arr;
    char *buf = malloc(size);
    ssize_t got = llistxattr(path, buf, size);
    if (got < 0) {
      int e = errno;
      free(buf);
      if (e == ERANGE) continue;
      return ctr_throw_error(env, "llistxattr", path, e);
    }
    uint32_t i = 0;
    for (char *p = buf; p < buf + got; p += strlen(p) + 1) {
      napi_value s;
      napi_create_string_utf8(env, p, NAPI_AUTO_LENGTH, &s);
      napi_set_element(env, arr, i++, s);
    }
    free(buf);
    return arr;
  }
}

// mknod(path, mode, major, minor): mode includes the file type bits (S_IFIFO, S_IFCHR, S_IFBLK).
static napi_value Mknod(napi_env env, napi_callback_info info) {
  ARGS(4);
  char path[PATH_MAX_LEN];
  uint32_t mode, major, minor;
  if (get_path(env, argv[0], path) < 0) return ctr_throw_error(env, "mknod", NULL, ENAMETOOLONG);
  napi_get_value_uint32(env, argv[1], &mode);
  napi_get_value_uint32(env, argv[2], &major);
  napi_get_value_uint32(env, argv[3], &minor);
  if (mknod(path, mode, makedev(major, minor)) < 0) return ctr_throw_error(env, "mknod", path, errno);
  return NULL;
}

// syncfs(fd): flushes the whole file system holding fd, one call instead of an fsync per file.
static napi_value Syncfs(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  napi_get_value_int32(env, argv[0], &fd);
  if (syncfs(fd) < 0) return ctr_throw_error(env, "syncfs", NULL, errno);
  return NULL;
}

// setPipeSize(fd, size) -> the pipe's new capacity (fcntl F_SETPIPE_SZ; an unprivileged process
// may go up to /proc/sys/fs/pipe-max-size, 1 MiB by default).
static napi_value SetPipeSize(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd, size;
  napi_get_value_int32(env, argv[0], &fd);
  napi_get_value_int32(env, argv[1], &size);
  int got = fcntl(fd, F_SETPIPE_SZ, size);
  if (got < 0) return ctr_throw_error(env, "fcntl F_SETPIPE_SZ", NULL, errno);
  napi_value out;
  napi_create_int32(env, got, &out);
  return out;
}

void ctr_register_console(napi_env env, napi_value exports);
void ctr_register_decompress(napi_env env, napi_value exports);
void ctr_register_userns(napi_env env, napi_value exports);
void ctr_register_sealed(napi_env env, napi_value exports);
void ctr_register_spawn(napi_env env, napi_value exports);

// A file queue: threads that create regular files (open, write, owner, mode, times, close) below
// a root directory while the JavaScript thread goes on parsing the tar. The caller guarantees
// that each queued path is new and that its parent directories exist; openat2 refuses symlinks
// and escapes anyway. The first failure is kept and thrown by the next push or wait.
#define FQ_MAX_THREADS 16
#define FQ_MAX_OPS 4096
// An idle thread is woken once this much is queued (or by kick/wait): one wake-up per file costs
// a context switch each on a machine whose cores are all busy.
#define FQ_WAKE_OPS 32
#define FQ_WAKE_BYTES (1 << 20)
enum { FQ_CHOWN = 1, FQ_CHMOD = 2 };

typedef struct fq_op {
  struct fq_op *next;
  uint32_t mode;
  uint32_t flags;
  uint32_t uid, gid;
  struct timespec times[2];
  size_t len;
  char *data;
  char path[];
} fq_op;

typedef struct {
  int rootfd;
  pthread_mutex_t mu;
  pthread_cond_t work;
  pthread_cond_t progress;
  fq_op *head, *tail;
  size_t pending_ops, pending_bytes, max_bytes;
  int nthreads, idle;
  pthread_t threads[FQ_MAX_THREADS];
  int stopping, cancel, closed;
  int err;
  const char *err_syscall;
  char *err_path;
} fq;

static int use_openat2 = 1;

static int fq_open_file(fq *q, fq_op *op) {
  int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  mode_t mode = op->mode & 0777;
  if (__atomic_load_n(&use_openat2, __ATOMIC_RELAXED)) {
    struct open_how how = {.flags = flags, .mode = mode, .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    int fd;
    do fd = syscall(SYS_openat2, q->rootfd, op->path, &how, sizeof how); while (fd < 0 && errno == EINTR);
    if (fd >= 0 || errno != ENOSYS) return fd;
    // A kernel before 5.6 (or a seccomp filter): openat with O_NOFOLLOW on the last component.
    __atomic_store_n(&use_openat2, 0, __ATOMIC_RELAXED);
  }
  int fd;
  do fd = openat(q->rootfd, op->path, flags, mode); while (fd < 0 && errno == EINTR);
  return fd;
}

// Returns 0 or an errno, naming the failed call in *syscall_name (as Node's fs names them).
static int fq_run(fq *q, fq_op *op, const char **syscall_name) {
  int fd = fq_open_file(q, op);
  if (fd < 0) {
    *syscall_name = "open";
    return errno;
  }
  size_t off = 0;
  while (off < op->len) {
    ssize_t n = write(fd, op->data + off, op->len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *syscall_name = "write";
      goto fail;
    }
    off += (size_t)n;
  }
  if ((op->flags & FQ_CHOWN) && fchown(fd, op->uid, op->gid) < 0) {
    *syscall_name = "fchown";
    goto fail;
  }
  // After fchown, which clears setuid and setgid.
  if ((op->flags & FQ_CHMOD) && fchmod(fd, op->mode) < 0) {
    *syscall_name = "fchmod";
    goto fail;
  }
  if (futimens(fd, op->times) < 0) {
    *syscall_name = "futime";
    goto fail;
  }
  if (close(fd) < 0 && errno != EINTR) {
    *syscall_name = "close";
    return errno;
  }
  return 0;
fail: {
  int e = errno;
  close(fd);
  return e;
}
}

static void *fq_thread(void *arg) {
  fq *q = arg;
  pthread_mutex_lock(&q->mu);
  for (;;) {
    while (!q->head && !q->stopping) {
      q->idle++;
      pthread_cond_wait(&q->work, &q->mu);
      q->idle--;
    }
    fq_op *op = q->head;
    if (!op) break;
    q->head = op->next;
    if (!q->head) q->tail = NULL;
    int skip = q->err != 0 || q->cancel;
    pthread_mutex_unlock(&q->mu);
    const char *syscall_name = NULL;
    int e = skip ? 0 : fq_run(q, op, &syscall_name);
    pthread_mutex_lock(&q->mu);
    if (e && !q->err) {
      q->err = e;
      q->err_syscall = syscall_name;
      q->err_path = strcmp(syscall_name, "open") == 0 ? strdup(op->path) : NULL;
    }
    q->pending_ops--;
    q->pending_bytes -= op->len;
    free(op);
    pthread_cond_broadcast(&q->progress);
  }
  pthread_mutex_unlock(&q->mu);
  return NULL;
}

// Stops the threads after the queued files (all of them, or none with cancel), closes the root.
static void fq_close(fq *q, int cancel) {
  if (q->closed) return;
  pthread_mutex_lock(&q->mu);
  q->stopping = 1;
  if (cancel) q->cancel = 1;
  pthread_cond_broadcast(&q->work);
  pthread_mutex_unlock(&q->mu);
  for (int i = 0; i < q->nthreads; i++) pthread_join(q->threads[i], NULL);
  close(q->rootfd);
  q->closed = 1;
}

static void fq_finalize(napi_env env, void *data, void *hint) {
  fq *q = data;
  fq_close(q, 1);
  free(q->err_path);
  pthread_mutex_destroy(&q->mu);
  pthread_cond_destroy(&q->work);
  pthread_cond_destroy(&q->progress);
  free(q);
}

static fq *get_fq(napi_env env, napi_value v) {
  fq *q = ctr_external(env, v, "file queue");
  if (!q) return NULL;
  if (q->closed) {
    napi_throw_error(env, NULL, "the file queue is closed");
    return NULL;
  }
  return q;
}

// The kept failure as an Error with errno (negative, as Node's), syscall and path (relative to the root).
static napi_value fq_throw(napi_env env, fq *q) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", q->err_syscall, strerror(q->err));
  napi_value message, error, value;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_create_int32(env, -q->err, &value);
  napi_set_named_property(env, error, "errno", value);
  napi_create_string_utf8(env, q->err_syscall, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, error, "syscall", value);
  if (q->err_path) {
    napi_create_string_latin1(env, q->err_path, NAPI_AUTO_LENGTH, &value);
    napi_set_named_property(env, error, "path", value);
  }
  napi_throw(env, error);
  return NULL;
}

// fileQueueOpen(root, threads, maxBytes) -> queue
static napi_value FileQueueOpen(napi_env env, napi_callback_info info) {
  ARGS(3);
  char path[PATH_MAX_LEN];
  int32_t threads;
  double max_bytes;
  if (get_path(env, argv[0], path) < 0) return ctr_throw_error(env, "open", NULL, ENAMETOOLONG);
  napi_get_value_int32(env, argv[1], &threads);
  napi_get_value_double(env, argv[2], &max_bytes);
  if (threads < 1) threads = 1;
  if (threads > FQ_MAX_THREADS) threads = FQ_MAX_THREADS;
  int rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) return ctr_throw_error(env, "open", path, errno);
  fq *q = calloc(1, sizeof *q);
  q->rootfd = rootfd;
  q->max_bytes = (size_t)max_bytes;
  pthread_mutex_init(&q->mu, NULL);
  pthread_cond_init(&q->work, NULL);
  pthread_cond_init(&q->progress, NULL);
  // The threads block every signal: Node's handlers belong to its own threads.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  for (int i = 0; i < threads; i++) {
    if (pthread_create(&q->threads[i], NULL, fq_thread, q) != 0) break;
    q->nthreads++;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  napi_value result;
  if (q->nthreads == 0) {
    close(rootfd);
    free(q);
    return ctr_throw_error(env, "pthread_create", NULL, EAGAIN);
  }
  napi_create_external(env, q, fq_finalize, NULL, &result);
  return result;
}

// fileQueuePush(queue, path, content, mode, uid, gid, flags, atime, mtime): path is a byte string
// relative to the root, content a Buffer or an array of Buffers (copied), times in seconds.
static napi_value FileQueuePush(napi_env env, napi_callback_info info) {
  ARGS(9);
  fq *q = get_fq(env, argv[0]);
  if (!q) return NULL;
  size_t plen;
  if (napi_get_value_string_latin1(env, argv[1], NULL, 0, &plen) != napi_ok) {
    napi_throw_type_error(env, NULL, "path must be a string");
    return NULL;
  }
  bool is_array = false;
  uint32_t count = 1;
  napi_is_array(env, argv[2], &is_array);
  if (is_array) napi_get_array_length(env, argv[2], &count);
  size_t len = 0;
  for (uint32_t i = 0; i < count; i++) {
    napi_value item = argv[2];
    if (is_array) napi_get_element(env, argv[2], i, &item);
    void *data;
    size_t n;
    if (napi_get_buffer_info(env, item, &data, &n) != napi_ok) {
      napi_throw_type_error(env, NULL, "content must be a Buffer or an array of Buffers");
      return NULL;
    }
    len += n;
  }
  fq_op *op = malloc(sizeof *op + plen + 1 + len);
  if (!op) return ctr_throw_error(env, "malloc", NULL, ENOMEM);
  napi_get_value_string_latin1(env, argv[1], op->path, plen + 1, &plen);
  if (memchr(op->path, 0, plen) != NULL) {
    free(op);
    napi_throw_type_error(env, NULL, "path must not contain null bytes");
    return NULL;
  }
  op->data = op->path + plen + 1;
  op->len = len;
  size_t off = 0;
  for (uint32_t i = 0; i < count; i++) {
    napi_value item = argv[2];
    if (is_array) napi_get_element(env, argv[2], i, &item);
    void *data;
    size_t n;
    napi_get_buffer_info(env, item, &data, &n);
    memcpy(op->data + off, data, n);
    off += n;
  }
  double times[2];
  napi_get_value_uint32(env, argv[3], &op->mode);
  napi_get_value_uint32(env, argv[4], &op->uid);
  napi_get_value_uint32(env, argv[5], &op->gid);
  napi_get_value_uint32(env, argv[6], &op->flags);
  napi_get_value_double(env, argv[7], &times[0]);
  napi_get_value_double(env, argv[8], &times[1]);
  // The same rounding as libuv's futime (whole microseconds), so times match Node's futimesSync.
  for (int i = 0; i < 2; i++) {
    struct timespec *ts = &op->times[i];
    ts->tv_sec = (time_t)times[i];
    ts->tv_nsec = (long)((times[i] - (double)ts->tv_sec) * 1e9);
    ts->tv_nsec -= ts->tv_nsec % 1000;
    if (ts->tv_nsec < 0) {
      ts->tv_nsec += 1000000000;
      ts->tv_sec -= 1;
    }
  }
  op->next = NULL;
  pthread_mutex_lock(&q->mu);
  while (!q->err && q->pending_ops > 0 && (q->pending_bytes + len > q->max_bytes || q->pending_ops >= FQ_MAX_OPS)) {
    pthread_cond_broadcast(&q->work);
    pthread_cond_wait(&q->progress, &q->mu);
  }
  if (q->err) {
    pthread_mutex_unlock(&q->mu);
    free(op);
    return fq_throw(env, q);
  }
  if (q->tail) q->tail->next = op;
  else q->head = op;
  q->tail = op;
  q->pending_ops++;
  q->pending_bytes += len;
  if (q->idle > 0 && (q->pending_ops >= FQ_WAKE_OPS || q->pending_bytes >= FQ_WAKE_BYTES)) pthread_cond_signal(&q->work);
  pthread_mutex_unlock(&q->mu);
  return NULL;
}

// fileQueueKick(queue): wakes the threads for what is queued (when the caller runs out of input);
// throws the first failure so far.
static napi_value FileQueueKick(napi_env env, napi_callback_info info) {
  ARGS(1);
  fq *q = get_fq(env, argv[0]);
  if (!q) return NULL;
  pthread_mutex_lock(&q->mu);
  if (q->head && q->idle > 0) pthread_cond_broadcast(&q->work);
  int failed = q->err != 0;
  pthread_mutex_unlock(&q->mu);
  if (failed) return fq_throw(env, q);
  return NULL;
}

// fileQueueWait(queue): returns when every queued file is done; throws the first failure.
static napi_value FileQueueWait(napi_env env, napi_callback_info info) {
  ARGS(1);
  fq *q = get_fq(env, argv[0]);
  if (!q) return NULL;
  pthread_mutex_lock(&q->mu);
  if (q->head) pthread_cond_broadcast(&q->work);
  while (q->pending_ops > 0) pthread_cond_wait(&q->progress, &q->mu);
  int failed = q->err != 0;
  pthread_mutex_unlock(&q->mu);
  if (failed) return fq_throw(env, q);
  return NULL;
}

// fileQueueClose(queue, cancel): stops the threads, first finishing the queued files unless cancel.
static napi_value FileQueueClose(napi_env env, napi_callback_info info) {
  ARGS(2);
  fq *q = ctr_external(env, argv[0], "file queue");
  if (!q) return NULL;
  bool cancel = false;
  napi_get_value_bool(env, argv[1], &cancel);
  fq_close(q, cancel);
  return NULL;
}

// Unix SOCK_SEQPACKET sockets (conmon's attach socket, and ctr's own for foreground containers),
// which Node's net module cannot open. Each packet keeps its boundary: a reader thread hands them
// over one by one; a listener's thread hands over each accepted connection.
#define SP_MAX_PACKET 65536
#define SP_QUEUE 64

// The address of path, however long: a path longer than sockaddr_un allows is reached through an
// O_PATH descriptor of its directory (/proc/self/fd/N/name), returned in *dirfd (else -1) for the
// caller to close after connect or bind. Returns 0 or an errno.
static int sp_address(const char *path, struct sockaddr_un *addr, int *dirfd) {
  addr->sun_family = AF_UNIX;
  *dirfd = -1;
  if (strlen(path) < sizeof addr->sun_path) {
    memcpy(addr->sun_path, path, strlen(path) + 1);
    return 0;
  }
  char dir[PATH_MAX_LEN], base[PATH_MAX_LEN];
  strcpy(dir, path);
  strcpy(base, path);
  *dirfd = open(dirname(dir), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (*dirfd < 0) return errno;
  int n = snprintf(addr->sun_path, sizeof addr->sun_path, "/proc/self/fd/%d/%s", *dirfd, basename(base));
  if (n < 0 || (size_t)n >= sizeof addr->sun_path) {
    close(*dirfd);
    *dirfd = -1;
    return ENAMETOOLONG;
  }
  return 0;
}

// seqpacketConnect(path) -> fd (close-on-exec), however long the path.
static napi_value SeqpacketConnect(napi_env env, napi_callback_info info) {
  ARGS(1);
  char path[PATH_MAX_LEN];
  if (get_path(env, argv[0], path) < 0) return ctr_throw_error(env, "connect", NULL, ENAMETOOLONG);
  struct sockaddr_un addr;
  int dirfd;
  int err = sp_address(path, &addr, &dirfd);
  if (err) return ctr_throw_error(env, "connect", path, err);
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = errno;
    if (dirfd >= 0) close(dirfd);
    return ctr_throw_error(env, "socket", path, err);
  }
  int r;
  do r = connect(fd, (struct sockaddr *)&addr, sizeof addr); while (r < 0 && errno == EINTR);
  err = errno;
  if (dirfd >= 0) close(dirfd);
  if (r < 0) {
    close(fd);
    return ctr_throw_error(env, "connect", path, err);
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

// seqpacketListen(path) -> fd: a new socket listening at path (which must not exist), however
// long the path; only its owner may connect. Close-on-exec and nonblocking: a client that left
// before its accept must not block the accepting thread.
static napi_value SeqpacketListen(napi_env env, napi_callback_info info) {
  ARGS(1);
  char path[PATH_MAX_LEN];
  if (get_path(env, argv[0], path) < 0) return ctr_throw_error(env, "bind", NULL, ENAMETOOLONG);
  struct sockaddr_un addr;
  int dirfd;
  int err = sp_address(path, &addr, &dirfd);
  if (err) return ctr_throw_error(env, "bind", path, err);
  int bound = 0;
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const char *op = "socket";
  if (fd < 0) goto fail;
  op = "bind";
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) goto fail;
  bound = 1;
  // chmod through the same address: sun_path is a plain path or /proc/self/fd/N/name.
  op = "chmod";
  if (chmod(addr.sun_path, 0700) < 0) goto fail;
  op = "listen";
  if (listen(fd, 16) < 0) goto fail;
  if (dirfd >= 0) close(dirfd);
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
fail:
  err = errno;
  if (bound) unlink(addr.sun_path);
  if (fd >= 0) close(fd);
  if (dirfd >= 0) close(dirfd);
  return ctr_throw_error(env, op, path, err);
}

// seqpacketSend(fd, buffer) -> bytes sent, or -1 when the socket's buffer is full (try later).
static napi_value SeqpacketSend(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd;
  void *data;
  size_t len;
  napi_get_value_int32(env, argv[0], &fd);
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "data must be a Buffer");
    return NULL;
  }
  ssize_t n;
  do n = send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL); while (n < 0 && errno == EINTR);
  if (n < 0 && errno != EAGAIN) return ctr_throw_error(env, "send", NULL, errno);
  napi_value result;
  napi_create_int32(env, n < 0 ? -1 : (int32_t)n, &result);
  return result;
}

// seqpacketShutdown(fd): no more packets from us (the peer reads end of file).
static napi_value SeqpacketShutdown(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  napi_get_value_int32(env, argv[0], &fd);
  if (shutdown(fd, SHUT_WR) < 0 && errno != ENOTCONN) return ctr_throw_error(env, "shutdown", NULL, errno);
  return NULL;
}

// One reader thread (or, accepting, a listener's thread). Owned twice: by the thread and by the
// JavaScript handle.
// What a reader thread does with its fd.
enum { SP_PACKETS, SP_ACCEPT, SP_PIPE };

typedef struct {
  int owners;
  int fd;
  int mode; // SP_PACKETS, SP_ACCEPT or SP_PIPE
  int cancel_fd;
  pthread_mutex_t mu;
  pthread_cond_t resumed;
  int paused;
  napi_threadsafe_function tsfn;
} sp_reader;

typedef struct {
  int err;
  // An accepted connection (else -1).
  int client;
  size_t len;
  int eof;
  char data[];
} sp_packet;

static pthread_mutex_t sp_owners_mu = PTHREAD_MUTEX_INITIALIZER;

static void sp_release(sp_reader *r) {
  pthread_mutex_lock(&sp_owners_mu);
  int last = --r->owners == 0;
  pthread_mutex_unlock(&sp_owners_mu);
  if (!last) return;
  close(r->cancel_fd);
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->resumed);
  free(r);
}

static void sp_deliver(napi_env env, napi_value js_cb, void *context, void *data) {
  sp_packet *p = data;
  if (env == NULL) {
    if (p->client >= 0) close(p->client);
    free(p);
    return;
  }
  napi_value args[2], undefined;
  napi_get_undefined(env, &undefined);
  if (p->err) {
    args[0] = ctr_make_error(env, "recv", NULL, p->err);
    napi_get_null(env, &args[1]);
  } else if (p->eof) {
    napi_get_null(env, &args[0]);
    napi_get_null(env, &args[1]);
  } else if (p->client >= 0) {
    napi_get_null(env, &args[0]);
    napi_create_int32(env, p->client, &args[1]);
  } else {
    void *copy;
    napi_get_null(env, &args[0]);
    napi_create_buffer_copy(env, p->len, p->data, &copy, &args[1]);
  }
  free(p);
  napi_call_function(env, undefined, js_cb, 2, args, NULL);
}

static void *sp_thread(void *arg) {
  sp_reader *r = arg;
  char *buf = malloc(SP_MAX_PACKET);
  int err = buf ? 0 : ENOMEM;
  int eof = 0;
  while (!err && !eof) {
    pthread_mutex_lock(&r->mu);
    while (r->paused) pthread_cond_wait(&r->resumed, &r->mu);
    pthread_mutex_unlock(&r->mu);
    struct pollfd fds[2] = {{.fd = r->fd, .events = POLLIN}, {.fd = r->cancel_fd, .events = POLLIN}};
    int n = poll(fds, 2, -1);
    if (n < 0) {
      if (errno != EINTR) err = errno;
      continue;
    }
    if (fds[1].revents) {
      err = ECANCELED;
      break;
    }
    if (r->mode == SP_ACCEPT) {
      int client = accept4(r->fd, NULL, NULL, SOCK_CLOEXEC);
      if (client < 0) {
        // The client left before we took it, or a signal: wait for the next one.
        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) continue;
        err = errno;
        continue;
      }
      sp_packet *p = calloc(1, sizeof *p);
      if (!p) {
        close(client);
        err = ENOMEM;
        continue;
      }
      p->client = client;
      if (napi_call_threadsafe_function(r->tsfn, p, napi_tsfn_blocking) != napi_ok) {
        close(client);
        free(p);
        break;
      }
      continue;
    }
    // A pipe's reader takes what is there (poll said something is); a socket's, one packet.
    ssize_t got = r->mode == SP_PIPE ? read(r->fd, buf, SP_MAX_PACKET) : recv(r->fd, buf, SP_MAX_PACKET, MSG_DONTWAIT);
    if (got < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      // The peer went away while we still had packets to read: that is an end, not a failure.
      if (errno == ECONNRESET) eof = 1;
      else err = errno;
      continue;
    }
    sp_packet *p = malloc(sizeof *p + (size_t)got);
    if (!p) {
      err = ENOMEM;
      continue;
    }
    p->err = 0;
    p->client = -1;
    p->eof = got == 0;
    p->len = (size_t)got;
    memcpy(p->data, buf, (size_t)got);
    eof = got == 0;
    // Blocks while SP_QUEUE packets wait for the JavaScript thread: the peer then waits too.
    if (napi_call_threadsafe_function(r->tsfn, p, napi_tsfn_blocking) != napi_ok) {
      free(p);
      break;
    }
  }
  if (err) {
    sp_packet *p = calloc(1, sizeof *p);
    if (p) {
      p->err = err;
      p->client = -1;
      if (napi_call_threadsafe_function(r->tsfn, p, napi_tsfn_blocking) != napi_ok) free(p);
    }
  }
  free(buf);
  napi_release_threadsafe_function(r->tsfn, napi_tsfn_release);
  sp_release(r);
  return NULL;
}

static sp_reader *get_reader(napi_env env, napi_callback_info info) {
  void *data = NULL;
  napi_get_cb_info(env, info, NULL, NULL, NULL, &data);
  return data;
}

static void sp_set_paused(sp_reader *r, int paused) {
  pthread_mutex_lock(&r->mu);
  r->paused = paused;
  if (!paused) pthread_cond_broadcast(&r->resumed);
  pthread_mutex_unlock(&r->mu);
}

static napi_value ReaderPause(napi_env env, napi_callback_info info) {
  sp_set_paused(get_reader(env, info), 1);
  return NULL;
}

static napi_value ReaderResume(napi_env env, napi_callback_info info) {
  sp_set_paused(get_reader(env, info), 0);
  return NULL;
}

static napi_value ReaderCancel(napi_env env, napi_callback_info info) {
  sp_reader *r = get_reader(env, info);
  uint64_t one = 1;
  if (write(r->cancel_fd, &one, sizeof one) < 0) return ctr_throw_error(env, "write", "eventfd", errno);
  sp_set_paused(r, 0);
  return NULL;
}

static void sp_finalize(napi_env env, void *data, void *hint) {
  sp_release(data);
}

// Starts the thread of a reader (or, accepting, of a listener) on fd and returns its handle.
static napi_value sp_start(napi_env env, napi_value callback, int32_t fd, int mode) {
  sp_reader *r = calloc(1, sizeof *r);
  if (!r) return ctr_throw_error(env, "calloc", NULL, ENOMEM);
  r->fd = fd;
  r->mode = mode;
  r->owners = 2;
  r->cancel_fd = eventfd(0, EFD_CLOEXEC);
  if (r->cancel_fd < 0) {
    int err = errno;
    free(r);
    return ctr_throw_error(env, "eventfd", NULL, err);
  }
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->resumed, NULL);
  napi_value name;
  napi_create_string_utf8(env, mode == SP_ACCEPT ? "ctr seqpacket listener" : mode == SP_PIPE ? "ctr pipe reader" : "ctr seqpacket reader", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, callback, NULL, name, SP_QUEUE, 1, NULL, NULL, NULL, sp_deliver, &r->tsfn) != napi_ok) {
    close(r->cancel_fd);
    free(r);
    napi_throw_error(env, NULL, "cannot create the reader's callback");
    return NULL;
  }
  // A blocking read must not be parked on libuv's pool (Node joins it at exit): a thread of its
  // own, with every signal blocked (Node's handlers belong to its own threads).
  pthread_attr_t attr;
  pthread_t thread;
  sigset_t all, old;
  sigfillset(&all);
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(&thread, &attr, sp_thread, r);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (err) {
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort);
    r->owners = 1;
    sp_release(r);
    return ctr_throw_error(env, "pthread_create", NULL, err);
  }
  napi_value handle, fn;
  napi_create_object(env, &handle);
  napi_wrap(env, handle, r, sp_finalize, NULL, NULL);
  napi_create_function(env, "pause", NAPI_AUTO_LENGTH, ReaderPause, r, &fn);
  napi_set_named_property(env, handle, "pause", fn);
  napi_create_function(env, "resume", NAPI_AUTO_LENGTH, ReaderResume, r, &fn);
  napi_set_named_property(env, handle, "resume", fn);
  napi_create_function(env, "cancel", NAPI_AUTO_LENGTH, ReaderCancel, r, &fn);
  napi_set_named_property(env, handle, "cancel", fn);
  return handle;
}

// seqpacketRead(fd, callback(err, packet)) -> {pause, resume, cancel}. The callback gets each
// packet as a Buffer, then (null, null) at end of file, or an error (ECANCELED after cancel).
// The fd stays the caller's: close it after the last callback.
static napi_value SeqpacketRead(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd;
  napi_get_value_int32(env, argv[0], &fd);
  return sp_start(env, argv[1], fd, SP_PACKETS);
}

// seqpacketAccept(listenFd, callback(err, fd)) -> {pause, resume, cancel}: each connection's fd
// (close-on-exec, the callback's to close), until an error (ECANCELED after cancel). The
// listening fd stays the caller's: close it after the last callback.
static napi_value SeqpacketAccept(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd;
  napi_get_value_int32(env, argv[0], &fd);
  return sp_start(env, argv[1], fd, SP_ACCEPT);
}

// pipeRead(fd, callback(err, chunk)) -> {pause, resume, cancel}: as seqpacketRead, for the read end
// of a pipe (chunks of what was written, not packets). Reading a child's output this way takes
// no Node stream code (~4 ms to load) for a command that prints nothing.
static napi_value PipeRead(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd;
  napi_get_value_int32(env, argv[0], &fd);
  return sp_start(env, argv[1], fd, SP_PIPE);
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"flock", NULL, Flock, NULL, NULL, NULL, napi_default, NULL},
      {"funlock", NULL, Funlock, NULL, NULL, NULL, napi_default, NULL},
      {"lsetxattr", NULL, Lsetxattr, NULL, NULL, NULL, napi_default, NULL},
      {"lgetxattr", NULL, Lgetxattr, NULL, NULL, NULL, napi_default, NULL},
      {"llistxattr", NULL, Llistxattr, NULL, NULL, NULL, napi_default, NULL},
      {"mknod", NULL, Mknod, NULL, NULL, NULL, napi_default, NULL},
      {"syncfs", NULL, Syncfs, NULL, NULL, NULL, napi_default, NULL},
      {"setPipeSize", NULL, SetPipeSize, NULL, NULL, NULL, napi_default, NULL},
      {"fileQueueOpen", NULL, FileQueueOpen, NULL, NULL, NULL, napi_default, NULL},
      {"fileQueuePush", NULL, FileQueuePush, NULL, NULL, NULL, napi_default, NULL},
      {"fileQueueKick", NULL, FileQueueKick, NULL, NULL, NULL, napi_default, NULL},
      {"fileQueueWait", NULL, FileQueueWait, NULL, NULL, NULL, napi_default, NULL},
      {"fileQueueClose", NULL, FileQueueClose, NULL, NULL, NULL, napi_default, NULL},
      {"seqpacketConnect", NULL, SeqpacketConnect, NULL, NULL, NULL, napi_default, NULL},
      {"seqpacketListen", NULL, SeqpacketListen, NULL, NULL, NULL, napi_default, NULL},
      {"seqpacketAccept", NULL, SeqpacketAccept, NULL, NULL, NULL, napi_default, NULL},
      {"seqpacketSend", NULL, SeqpacketSend, NULL, NULL, NULL, napi_default, NULL},
      {"seqpacketShutdown", NULL, SeqpacketShutdown, NULL, NULL, NULL, napi_default, NULL},
      {"seqpacketRead", NULL, SeqpacketRead, NULL, NULL, NULL, napi_default, NULL},
      {"pipeRead", NULL, PipeRead, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  ctr_register_console(env, exports);
  ctr_register_decompress(env, exports);
  ctr_register_userns(env, exports);
  ctr_register_sealed(env, exports);
  ctr_register_spawn(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
