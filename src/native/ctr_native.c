// The few system calls Node lacks: flock, xattrs, mknod. N-API only, so one build serves every Node.
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#define PATH_MAX_LEN 4096

static napi_value throw_errno(napi_env env, const char *syscall, const char *path, int err) {
  char msg[PATH_MAX_LEN + 256];
  if (path)
    snprintf(msg, sizeof msg, "%s %s: %s", syscall, path, strerror(err));
  else
    snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(err));
  napi_value code, message, error;
  const char *name = NULL;
  switch (err) {
  case ENOENT: name = "ENOENT"; break;
  case EEXIST: name = "EEXIST"; break;
  case EPERM: name = "EPERM"; break;
  case EACCES: name = "EACCES"; break;
  case EINVAL: name = "EINVAL"; break;
  case ENOTSUP: name = "ENOTSUP"; break;
  case ENODATA: name = "ENODATA"; break;
  case EWOULDBLOCK: name = "EWOULDBLOCK"; break;
  case ENOSPC: name = "ENOSPC"; break;
  case EDQUOT: name = "EDQUOT"; break;
  case ERANGE: name = "ERANGE"; break;
  case ENAMETOOLONG: name = "ENAMETOOLONG"; break;
  case EBADF: name = "EBADF"; break;
  case EINTR: name = "EINTR"; break;
  case ENOTDIR: name = "ENOTDIR"; break;
  case ELOOP: name = "ELOOP"; break;
  case EROFS: name = "EROFS"; break;
  default: name = "EUNKNOWN"; break;
  }
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_value errnoValue;
  napi_create_int32(env, err, &errnoValue);
  napi_set_named_property(env, error, "errno", errnoValue);
  napi_set_named_property(env, error, "code", code);
  napi_throw(env, error);
  return NULL;
}

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

#define ARGS(n)                                                              \
  size_t argc = n;                                                           \
  napi_value argv[n];                                                        \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);                      \
  if (argc < n) {                                                            \
    napi_throw_type_error(env, NULL, "missing arguments");                   \
    return NULL;                                                             \
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
    return throw_errno(env, "flock", NULL, errno);
  }
  napi_get_boolean(env, true, &result);
  return result;
}

static napi_value Funlock(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  napi_get_value_int32(env, argv[0], &fd);
  if (flock(fd, LOCK_UN) < 0) return throw_errno(env, "flock", NULL, errno);
  return NULL;
}

// lsetxattr(path, name, buffer)
static napi_value Lsetxattr(napi_env env, napi_callback_info info) {
  ARGS(3);
  char path[PATH_MAX_LEN], name[256];
  size_t nlen;
  void *data;
  size_t len;
  if (get_path(env, argv[0], path) < 0) return throw_errno(env, "lsetxattr", NULL, ENAMETOOLONG);
  napi_get_value_string_utf8(env, argv[1], name, sizeof name, &nlen);
  if (napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "value must be a Buffer");
    return NULL;
  }
  if (lsetxattr(path, name, data, len, 0) < 0) return throw_errno(env, "lsetxattr", path, errno);
  return NULL;
}

// lgetxattr(path, name) -> Buffer | null when absent
static napi_value Lgetxattr(napi_env env, napi_callback_info info) {
  ARGS(2);
  char path[PATH_MAX_LEN], name[256];
  size_t nlen;
  if (get_path(env, argv[0], path) < 0) return throw_errno(env, "lgetxattr", NULL, ENAMETOOLONG);
  napi_get_value_string_utf8(env, argv[1], name, sizeof name, &nlen);
  for (;;) {
    ssize_t size = lgetxattr(path, name, NULL, 0);
    napi_value result;
    if (size < 0) {
      if (errno == ENODATA || errno == ENOTSUP) {
        napi_get_null(env, &result);
        return result;
      }
      return throw_errno(env, "lgetxattr", path, errno);
    }
    void *data;
    napi_create_buffer(env, size, &data, &result);
    ssize_t got = lgetxattr(path, name, data, size);
    if (got < 0 && errno == ERANGE) continue;
    if (got < 0) return throw_errno(env, "lgetxattr", path, errno);
    if (got != size) napi_create_buffer_copy(env, got, data, NULL, &result);
    return result;
  }
}

// llistxattr(path) -> string[]
static napi_value Llistxattr(napi_env env, napi_callback_info info) {
  ARGS(1);
  char path[PATH_MAX_LEN];
  if (get_path(env, argv[0], path) < 0) return throw_errno(env, "llistxattr", NULL, ENAMETOOLONG);
  napi_value arr;
  napi_create_array(env, &arr);
  for (;;) {
    ssize_t size = llistxattr(path, NULL, 0);
    if (size < 0) {
      if (errno == ENOTSUP) return arr;
      return throw_errno(env, "llistxattr", path, errno);
    }
    if (size == 0) return arr;
    char *buf = malloc(size);
    ssize_t got = llistxattr(path, buf, size);
    if (got < 0) {
      int e = errno;
      free(buf);
      if (e == ERANGE) continue;
      return throw_errno(env, "llistxattr", path, e);
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
  if (get_path(env, argv[0], path) < 0) return throw_errno(env, "mknod", NULL, ENAMETOOLONG);
  napi_get_value_uint32(env, argv[1], &mode);
  napi_get_value_uint32(env, argv[2], &major);
  napi_get_value_uint32(env, argv[3], &minor);
  if (mknod(path, mode, makedev(major, minor)) < 0) return throw_errno(env, "mknod", path, errno);
  return NULL;
}

// syncfs(fd): flushes the whole file system holding fd, one call instead of an fsync per file.
static napi_value Syncfs(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  napi_get_value_int32(env, argv[0], &fd);
  if (syncfs(fd) < 0) return throw_errno(env, "syncfs", NULL, errno);
  return NULL;
}

void ctr_register_console(napi_env env, napi_value exports);

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"flock", NULL, Flock, NULL, NULL, NULL, napi_default, NULL},
      {"funlock", NULL, Funlock, NULL, NULL, NULL, napi_default, NULL},
      {"lsetxattr", NULL, Lsetxattr, NULL, NULL, NULL, napi_default, NULL},
      {"lgetxattr", NULL, Lgetxattr, NULL, NULL, NULL, napi_default, NULL},
      {"llistxattr", NULL, Llistxattr, NULL, NULL, NULL, napi_default, NULL},
      {"mknod", NULL, Mknod, NULL, NULL, NULL, napi_default, NULL},
      {"syncfs", NULL, Syncfs, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  ctr_register_console(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
