// A sealed in-memory copy of an executable (the OCI runtime), made on a thread of its own.
//
// runc and crun guard against a container overwriting the runtime's binary through
// /proc/self/exe (CVE-2019-5736): each time one of their processes is about to enter a container,
// it copies its own binary into a memfd, seals it against writes and executes it again, unless
// /proc/self/exe already is such a sealed memfd. Started from a copy made like this, they skip
// the copy and the second exec (~10 ms of every `runc run` here), and the copy is made while ctr
// does its other work. The seals are the ones the runtimes look for: nothing can change the copy.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "napi_util.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

// What runc's and crun's is_self_cloned() compare F_GET_SEALS against.
#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

typedef struct {
  char *path;
  char *name;
  int fd;
  int err;
  const char *what; // what failed, for the message
  napi_threadsafe_function tsfn;
} sealed_copy_t;

static int copy_into(sealed_copy_t *c, int src, int dst) {
  struct stat st;
  if (fstat(src, &st) < 0) return c->what = "stat", -1;
  // A script started as /proc/self/fd/N would see that as its $0: only programs are copied.
  char magic[4];
  if (pread(src, magic, sizeof magic, 0) != sizeof magic || memcmp(magic, "\x7f" "ELF", 4) != 0) return errno = ENOEXEC, c->what = "copy (not an ELF program)", -1;
  off_t done = 0;
  while (done < st.st_size) {
    ssize_t n = sendfile(dst, src, NULL, (size_t)(st.st_size - done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return c->what = "copy", -1;
    if (n == 0) break;
    done += n;
  }
  // A file that shrank while it was copied (an upgrade of the runtime) is no copy of it.
  if (done != st.st_size) return errno = EAGAIN, c->what = "copy", -1;
  if (fcntl(dst, F_ADD_SEALS, SEALS) < 0) return c->what = "seal the copy of", -1;
  return 0;
}

static void *sealed_copy_thread(void *data) {
  sealed_copy_t *c = data;
  c->fd = -1;
  int src = open(c->path, O_RDONLY | O_CLOEXEC);
  if (src < 0) {
    c->err = errno;
    c->what = "open";
  } else {
    // MFD_EXEC says that the copy is to be executed (kernels from 6.3 on warn, or refuse, without it); older kernels reject the flag.
    int fd = memfd_create(c->name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (fd < 0 && errno == EINVAL) fd = memfd_create(c->name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
      c->err = errno;
      c->what = "create a memory file for";
    } else if (copy_into(c, src, fd) < 0) {
      c->err = errno;
      close(fd);
    } else {
      c->fd = fd;
    }
    close(src);
  }
  napi_threadsafe_function tsfn = c->tsfn;
  napi_call_threadsafe_function(tsfn, c, napi_tsfn_blocking);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  return NULL;
}

static void sealed_copy_free(sealed_copy_t *c) {
  free(c->path);
  free(c->name);
  free(c);
}

static void sealed_copy_deliver(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  sealed_copy_t *c = data;
  if (env != NULL) {
    napi_value undefined, args[2];
    napi_get_undefined(env, &undefined);
    if (c->err) {
      args[0] = ctr_make_error(env, c->what, c->path, c->err);
      napi_get_undefined(env, &args[1]);
    } else {
      napi_get_null(env, &args[0]);
      napi_create_int32(env, c->fd, &args[1]);
    }
    napi_call_function(env, undefined, callback, 2, args, NULL);
  } else if (c->fd >= 0) {
    close(c->fd);
  }
  sealed_copy_free(c);
}

// sealedCopy(path, name, callback(err, fd)): fd is a close-on-exec memfd called name holding
// path's content, sealed with F_SEAL_SEAL|F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_WRITE.
static napi_value SealedCopy(napi_env env, napi_callback_info info) {
  ARGS(3);
  sealed_copy_t *c = calloc(1, sizeof *c);
  if (!c) return ctr_throw_error(env, "allocate", NULL, ENOMEM);
  c->path = ctr_string_arg(env, argv[0]);
  c->name = ctr_string_arg(env, argv[1]);
  if (!c->path || !c->name) {
    sealed_copy_free(c);
    napi_throw_type_error(env, NULL, "sealedCopy needs a path and a name");
    return NULL;
  }
  int err = ctr_start_reporting_thread(env, argv[2], "ctr sealed copy", sealed_copy_deliver, &c->tsfn, sealed_copy_thread, c);
  if (err) {
    sealed_copy_free(c);
    return ctr_throw_error(env, "start a thread to copy", NULL, err);
  }
  return NULL;
}

void ctr_register_sealed(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sealedCopy", NULL, SealedCopy, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
