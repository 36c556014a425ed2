// What every native file of the addon shares: errors that name the operation and the object
// (with Node's errno code names), and argument unpacking.
#ifndef CTR_NAPI_UTIL_H
#define CTR_NAPI_UTIL_H

#include <errno.h>
#include <node_api.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline napi_value ctr_make_error(napi_env env, const char *op, const char *object, int err) {
  char msg[4096 + 256];
  if (object)
    snprintf(msg, sizeof msg, "%s %s: %s", op, object, strerror(err));
  else
    snprintf(msg, sizeof msg, "%s: %s", op, strerror(err));
  const char *name = strerrorname_np(err);
  napi_value code, message, error, errnoValue;
  napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, err, &errnoValue);
  napi_set_named_property(env, error, "errno", errnoValue);
  napi_set_named_property(env, error, "code", code);
  return error;
}

// Starts a detached thread running fn(data); 0 or the error number.
static inline int ctr_start_thread(void *(*fn)(void *), void *data) {
  pthread_attr_t attr;
  pthread_t thread;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int err = pthread_create(&thread, &attr, fn, data);
  pthread_attr_destroy(&attr);
  return err;
}

// Starts fn(data) on a detached thread that reports to the JS callback through a threadsafe
// function, stored in *tsfn before the thread starts (the thread calls and releases it); 0, or
// the error number with the threadsafe function aborted.
static inline int ctr_start_reporting_thread(napi_env env, napi_value callback, const char *name, napi_threadsafe_function_call_js deliver,
                                             napi_threadsafe_function *tsfn, void *(*fn)(void *), void *data) {
  napi_value resource_name;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name);
  if (napi_create_threadsafe_function(env, callback, NULL, resource_name, 0, 1, NULL, NULL, NULL, deliver, tsfn) != napi_ok) return EINVAL;
  int err = ctr_start_thread(fn, data);
  if (err) napi_release_threadsafe_function(*tsfn, napi_tsfn_abort);
  return err;
}

static inline napi_value ctr_throw_error(napi_env env, const char *op, const char *object, int err) {
  napi_throw(env, ctr_make_error(env, op, object, err));
  return NULL;
}

// A malloc'd copy of a JS string (the caller frees it), or NULL when v is not a string or memory is short.
static inline char *ctr_string_arg(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (s) napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

// The pointer an external handle wraps, or NULL with a TypeError "not a <what>" thrown.
static inline void *ctr_external(napi_env env, napi_value v, const char *what) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || !data) {
    char msg[128];
    snprintf(msg, sizeof msg, "not a %s", what);
    napi_throw_type_error(env, NULL, msg);
    return NULL;
  }
  return data;
}

#define ARGS(n)                                                              \
  size_t argc = n;                                                           \
  napi_value argv[n];                                                        \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);                      \
  if (argc < n) {                                                            \
    napi_throw_type_error(env, NULL, "missing arguments");                   \
    return NULL;                                                             \
  }

#endif
