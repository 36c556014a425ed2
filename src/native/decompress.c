// Decompressing a layer on a thread of its own, with the gzip (zlib), zstd and sha256 (OpenSSL)
// code the Node executable itself exports, into a few buffers that JavaScript lends it and hands
// back after use. Node's zlib streams make a new ArrayBuffer per output chunk, and V8 counts
// those toward its collection limits: unpacking the 121 MB Debian layer ran ten full garbage
// collections. Here the output lands in the same buffers again and again, and the tar is hashed
// here, off the JavaScript thread.
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "napi_util.h"

// zstd as the Node executable exports it (Node ships no zstd.h): the streaming decoder's calls.
typedef struct ZSTD_DCtx_s ZSTD_DStream;
typedef struct {
  const void *src;
  size_t size;
  size_t pos;
} ZSTD_inBuffer;
typedef struct {
  void *dst;
  size_t size;
  size_t pos;
} ZSTD_outBuffer;
ZSTD_DStream *ZSTD_createDStream(void);
size_t ZSTD_freeDStream(ZSTD_DStream *zds);
size_t ZSTD_initDStream(ZSTD_DStream *zds);
size_t ZSTD_decompressStream(ZSTD_DStream *zds, ZSTD_outBuffer *output, ZSTD_inBuffer *input);
unsigned ZSTD_isError(size_t code);
const char *ZSTD_getErrorName(size_t code);

enum { DC_NONE = 0, DC_GZIP = 1, DC_ZSTD = 2 };
// gzip: inside a member; after a member's end (another may follow, as Node's gunzip allows);
// after zero bytes following the last member (padding, ignored as Node ignores it).
enum { GZ_RUNNING, GZ_ENDED, GZ_PADDING };
enum { EV_CHUNK = 0, EV_END = 1, EV_ERROR = 2 };
#define DC_MAX_SLOTS 64
// A partly filled buffer goes to JavaScript once the input runs dry, if it holds at least this:
// the parser then works while the network catches up.
#define DC_MIN_EARLY (256 * 1024)

typedef struct dc_block {
  struct dc_block *next;
  size_t len, pos;
  unsigned char data[];
} dc_block;

typedef struct {
  int type;
  int slot;
  size_t len;
  size_t queued;
  int hashed;
  unsigned char digest[32];
  char code[48];
  char message[256];
} dc_event;

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int kind;
  int hash;
  dc_block *head, *tail;
  size_t queued;
  int ended, cancelled, closed, started;
  int nslots;
  size_t slot_size;
  unsigned char *slots[DC_MAX_SLOTS];
  int lent[DC_MAX_SLOTS];
  napi_ref refs[DC_MAX_SLOTS];
  napi_threadsafe_function tsfn;
  pthread_t thread;
  z_stream z;
  int z_ready;
  int gz_state;
  ZSTD_DStream *zs;
  size_t zs_left;
  EVP_MD_CTX *md;
  char code[48];
  char message[256];
} dc;

static void dc_fail(dc *d, const char *code, const char *message) {
  snprintf(d->code, sizeof d->code, "%s", code);
  snprintf(d->message, sizeof d->message, "%s", message);
}

static const char *z_code(int ret) {
  switch (ret) {
    case Z_DATA_ERROR: return "Z_DATA_ERROR";
    case Z_MEM_ERROR: return "Z_MEM_ERROR";
    case Z_NEED_DICT: return "Z_NEED_DICT";
    case Z_STREAM_ERROR: return "Z_STREAM_ERROR";
    case Z_BUF_ERROR: return "Z_BUF_ERROR";
    default: return "Z_ERRNO";
  }
}

// One step: decompresses what it can of in[0..in_len) into out[0..out_len); 0 on a failure.
static int dc_step(dc *d, const unsigned char *in, size_t in_len, unsigned char *out, size_t out_len, size_t *used, size_t *made) {
  if (d->kind == DC_NONE) {
    size_t n = in_len < out_len ? in_len : out_len;
    if (n) memcpy(out, in, n);
    *used = *made = n;
    return 1;
  }
  if (d->kind == DC_ZSTD) {
    ZSTD_inBuffer ib = {in, in_len, 0};
    ZSTD_outBuffer ob = {out, out_len, 0};
    while (ob.pos < ob.size) {
      size_t before = ib.pos;
      size_t r = ZSTD_decompressStream(d->zs, &ob, &ib);
      if (ZSTD_isError(r)) {
        dc_fail(d, "ZSTD_error", ZSTD_getErrorName(r));
        return 0;
      }
      // 0: a frame ended, fully flushed. A call that took no input (a flush at the end) leaves
      // that as it was: after a frame the decoder already asks for the next one's header.
      if (r == 0 || ib.pos > before) d->zs_left = r;
      // All input taken and room left: the decoder has flushed all it can.
      if (ib.pos == ib.size) break;
    }
    *used = ib.pos;
    *made = ob.pos;
    return 1;
  }
  z_stream *z = &d->z;
  z->next_in = (Bytef *)in;
  z->avail_in = (uInt)in_len;
  z->next_out = out;
  z->avail_out = (uInt)out_len;
  for (;;) {
    if (d->gz_state == GZ_PADDING) {
      z->next_in += z->avail_in;
      z->avail_in = 0;
      break;
    }
    if (d->gz_state == GZ_ENDED) {
      if (z->avail_in == 0) break;
      if (z->next_in[0] == 0) {
        d->gz_state = GZ_PADDING;
        continue;
      }
      inflateReset(z);
      d->gz_state = GZ_RUNNING;
    }
    if (z->avail_out == 0) break;
    int ret = inflate(z, Z_NO_FLUSH);
    if (ret == Z_STREAM_END) {
      d->gz_state = GZ_ENDED;
      continue;
    }
    // No progress possible: it needs more input (there is room for output here).
    if (ret == Z_BUF_ERROR) break;
    if (ret != Z_OK) {
      dc_fail(d, z_code(ret), z->msg ? z->msg : "zlib failed");
      return 0;
    }
  }
  *used = in_len - z->avail_in;
  *made = out_len - z->avail_out;
  return 1;
}

// Whether the stream ended where a whole gzip member or zstd frame ends.
static int dc_complete(dc *d) {
  if (d->kind == DC_GZIP) return d->gz_state != GZ_RUNNING;
  if (d->kind == DC_ZSTD) return d->zs_left == 0;
  return 1;
}

static void dc_emit(dc *d, int type, int slot, size_t len) {
  dc_event *ev = calloc(1, sizeof *ev);
  if (!ev) return;
  ev->type = type;
  ev->slot = slot;
  ev->len = len;
  pthread_mutex_lock(&d->mu);
  ev->queued = d->queued;
  pthread_mutex_unlock(&d->mu);
  if (type == EV_END && d->hash) {
    unsigned int n = 0;
    ev->hashed = EVP_DigestFinal_ex(d->md, ev->digest, &n) == 1 && n == 32;
  }
  if (type == EV_ERROR) {
    memcpy(ev->code, d->code, sizeof ev->code);
    memcpy(ev->message, d->message, sizeof ev->message);
  }
  // The queue is unbounded (at most a chunk per buffer and the end are ever waiting): no blocking.
  if (napi_call_threadsafe_function(d->tsfn, ev, napi_tsfn_nonblocking) != napi_ok) free(ev);
}

// A free buffer, or -1 after cancel. Called with mu held.
static int dc_take_slot(dc *d) {
  for (;;) {
    if (d->cancelled) return -1;
    for (int i = 0; i < d->nslots; i++) {
      if (!d->lent[i]) {
        d->lent[i] = 1;
        return i;
      }
    }
    pthread_cond_wait(&d->cv, &d->mu);
  }
}

static void *dc_thread(void *arg) {
  dc *d = arg;
  int cur = -1;
  size_t fill = 0;
  for (;;) {
    pthread_mutex_lock(&d->mu);
    if (cur < 0) {
      cur = dc_take_slot(d);
      fill = 0;
    }
    while (!d->cancelled && !d->head && !d->ended) pthread_cond_wait(&d->cv, &d->mu);
    if (d->cancelled) {
      pthread_mutex_unlock(&d->mu);
      break;
    }
    dc_block *b = d->head;
    pthread_mutex_unlock(&d->mu);
    const unsigned char *in = b ? b->data + b->pos : NULL;
    size_t in_len = b ? b->len - b->pos : 0;
    size_t used = 0, made = 0;
    int ok = dc_step(d, in, in_len, d->slots[cur] + fill, d->slot_size - fill, &used, &made);
    if (made && d->hash) EVP_DigestUpdate(d->md, d->slots[cur] + fill, made);
    fill += made;
    int dry = 0;
    if (b) {
      pthread_mutex_lock(&d->mu);
      b->pos += used;
      d->queued -= used;
      if (b->pos == b->len) {
        d->head = b->next;
        if (!d->head) d->tail = NULL;
        free(b);
      }
      dry = d->head == NULL && !d->ended;
      pthread_mutex_unlock(&d->mu);
    }
    if (!ok) {
      dc_emit(d, EV_ERROR, -1, 0);
      break;
    }
    if (fill == d->slot_size || (dry && fill >= DC_MIN_EARLY)) {
      dc_emit(d, EV_CHUNK, cur, fill);
      cur = -1;
      continue;
    }
    if (!b) {
      // No more input, and room left in the buffer: everything is out.
      if (!dc_complete(d)) {
        dc_fail(d, d->kind == DC_ZSTD ? "ZSTD_error" : "Z_BUF_ERROR", "unexpected end of file");
        dc_emit(d, EV_ERROR, -1, 0);
        break;
      }
      if (fill) dc_emit(d, EV_CHUNK, cur, fill);
      dc_emit(d, EV_END, -1, 0);
      break;
    }
    if (used == 0 && made == 0) {
      dc_fail(d, d->kind == DC_ZSTD ? "ZSTD_error" : "Z_STREAM_ERROR", "the decompressor made no progress");
      dc_emit(d, EV_ERROR, -1, 0);
      break;
    }
  }
  napi_release_threadsafe_function(d->tsfn, napi_tsfn_release);
  return NULL;
}

static void dc_deliver(napi_env env, napi_value js_cb, void *context, void *data) {
  dc_event *ev = data;
  if (env == NULL) {
    free(ev);
    return;
  }
  napi_value args[5], undefined;
  napi_get_undefined(env, &undefined);
  napi_create_int32(env, ev->type, &args[0]);
  napi_create_int32(env, ev->slot, &args[1]);
  napi_create_double(env, (double)ev->len, &args[2]);
  napi_create_double(env, (double)ev->queued, &args[3]);
  if (ev->type == EV_END && ev->hashed) {
    void *copy;
    napi_create_buffer_copy(env, sizeof ev->digest, ev->digest, &copy, &args[4]);
  } else if (ev->type == EV_ERROR) {
    napi_value code, message;
    napi_create_string_utf8(env, ev->code, NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, ev->message, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, code, message, &args[4]);
    napi_set_named_property(env, args[4], "code", code);
  } else {
    napi_get_null(env, &args[4]);
  }
  free(ev);
  napi_call_function(env, undefined, js_cb, 5, args, NULL);
}

// Stops the thread and frees what it used; the buffers go back to JavaScript's collector.
static void dc_close(napi_env env, dc *d) {
  if (d->closed) return;
  d->closed = 1;
  pthread_mutex_lock(&d->mu);
  d->cancelled = 1;
  pthread_cond_broadcast(&d->cv);
  pthread_mutex_unlock(&d->mu);
  if (d->started) pthread_join(d->thread, NULL);
  while (d->head) {
    dc_block *next = d->head->next;
    free(d->head);
    d->head = next;
  }
  d->tail = NULL;
  for (int i = 0; i < d->nslots; i++) {
    if (d->refs[i]) napi_delete_reference(env, d->refs[i]);
    d->refs[i] = NULL;
  }
  if (d->z_ready) inflateEnd(&d->z);
  d->z_ready = 0;
  if (d->zs) ZSTD_freeDStream(d->zs);
  d->zs = NULL;
  if (d->md) EVP_MD_CTX_free(d->md);
  d->md = NULL;
}

static void dc_finalize(napi_env env, void *data, void *hint) {
  dc *d = data;
  dc_close(env, d);
  pthread_mutex_destroy(&d->mu);
  pthread_cond_destroy(&d->cv);
  free(d);
}

static dc *get_dc(napi_env env, napi_value v) {
  dc *d = ctr_external(env, v, "decompressor");
  if (!d) return NULL;
  if (d->closed) {
    napi_throw_error(env, NULL, "the decompressor is closed");
    return NULL;
  }
  return d;
}

// decompressOpen(kind, hash, buffers, onEvent(type, slot, length, queued, extra)) -> handle.
// kind: 0 none, 1 gzip, 2 zstd. The thread fills the buffers (all the same size) one at a time
// and passes each on as (0, slot, length, queued, null); the buffer is the thread's again after
// decompressRelease(handle, slot). At the end: (1, -1, 0, queued, sha256 or null); on a
// failure: (2, -1, 0, queued, Error with code Z_... or ZSTD_...), after which nothing follows.
static napi_value DecompressOpen(napi_env env, napi_callback_info info) {
  ARGS(4);
  int32_t kind;
  bool hash, is_array;
  uint32_t count;
  napi_get_value_int32(env, argv[0], &kind);
  napi_get_value_bool(env, argv[1], &hash);
  napi_is_array(env, argv[2], &is_array);
  if (!is_array || napi_get_array_length(env, argv[2], &count) != napi_ok || count == 0 || count > DC_MAX_SLOTS) {
    napi_throw_type_error(env, NULL, "decompressOpen needs 1 to 64 buffers");
    return NULL;
  }
  if (kind < DC_NONE || kind > DC_ZSTD) {
    napi_throw_type_error(env, NULL, "unknown compression");
    return NULL;
  }
  dc *d = calloc(1, sizeof *d);
  if (!d) return ctr_throw_error(env, "calloc", NULL, ENOMEM);
  pthread_mutex_init(&d->mu, NULL);
  pthread_cond_init(&d->cv, NULL);
  d->kind = kind;
  d->hash = hash;
  d->nslots = (int)count;
  napi_value handle;
  napi_create_external(env, d, dc_finalize, NULL, &handle);
  for (uint32_t i = 0; i < count; i++) {
    napi_value buf;
    void *data;
    size_t len;
    bool is_buffer;
    napi_get_element(env, argv[2], i, &buf);
    if (napi_is_buffer(env, buf, &is_buffer) != napi_ok || !is_buffer || napi_get_buffer_info(env, buf, &data, &len) != napi_ok || len == 0 ||
        (i > 0 && len != d->slot_size)) {
      dc_close(env, d);
      napi_throw_type_error(env, NULL, "decompressOpen needs buffers of one size");
      return NULL;
    }
    d->slot_size = len;
    d->slots[i] = data;
    napi_create_reference(env, buf, 1, &d->refs[i]);
  }
  const char *failed = NULL;
  if (hash && (!(d->md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(d->md, EVP_sha256(), NULL) != 1)) failed = "EVP_DigestInit_ex";
  if (!failed && kind == DC_GZIP) {
    // 15 + 16: a gzip wrapper, as Node's createGunzip reads it.
    if (inflateInit2(&d->z, 15 + 16) != Z_OK) failed = "inflateInit2";
    else d->z_ready = 1;
  }
  if (!failed && kind == DC_ZSTD) {
    d->zs = ZSTD_createDStream();
    if (!d->zs || ZSTD_isError(ZSTD_initDStream(d->zs))) failed = "ZSTD_initDStream";
    d->zs_left = 1;
  }
  if (failed) {
    dc_close(env, d);
    return ctr_throw_error(env, failed, NULL, ENOMEM);
  }
  napi_value name;
  napi_create_string_utf8(env, "ctr decompressor", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[3], NULL, name, 0, 1, NULL, NULL, NULL, dc_deliver, &d->tsfn) != napi_ok) {
    dc_close(env, d);
    napi_throw_error(env, NULL, "cannot create the decompressor's callback");
    return NULL;
  }
  // A thread of its own with every signal blocked (Node's handlers belong to its own threads).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(&d->thread, NULL, dc_thread, d);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err) {
    napi_release_threadsafe_function(d->tsfn, napi_tsfn_abort);
    dc_close(env, d);
    return ctr_throw_error(env, "pthread_create", NULL, err);
  }
  d->started = 1;
  return handle;
}

// decompressPush(handle, data) -> bytes waiting: data is copied (the caller may reuse it).
static napi_value DecompressPush(napi_env env, napi_callback_info info) {
  ARGS(2);
  dc *d = get_dc(env, argv[0]);
  if (!d) return NULL;
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "decompressPush needs a buffer");
    return NULL;
  }
  size_t queued;
  if (len > 0) {
    dc_block *b = malloc(sizeof *b + len);
    if (!b) return ctr_throw_error(env, "malloc", NULL, ENOMEM);
    b->next = NULL;
    b->len = len;
    b->pos = 0;
    memcpy(b->data, data, len);
    pthread_mutex_lock(&d->mu);
    if (d->ended) {
      pthread_mutex_unlock(&d->mu);
      free(b);
      napi_throw_error(env, NULL, "decompressPush after decompressEnd");
      return NULL;
    }
    if (d->tail) d->tail->next = b;
    else d->head = b;
    d->tail = b;
    d->queued += len;
    pthread_cond_broadcast(&d->cv);
    queued = d->queued;
    pthread_mutex_unlock(&d->mu);
  } else {
    pthread_mutex_lock(&d->mu);
    queued = d->queued;
    pthread_mutex_unlock(&d->mu);
  }
  napi_value out;
  napi_create_double(env, (double)queued, &out);
  return out;
}

// decompressEnd(handle): no more input.
static napi_value DecompressEnd(napi_env env, napi_callback_info info) {
  ARGS(1);
  dc *d = get_dc(env, argv[0]);
  if (!d) return NULL;
  pthread_mutex_lock(&d->mu);
  d->ended = 1;
  pthread_cond_broadcast(&d->cv);
  pthread_mutex_unlock(&d->mu);
  return NULL;
}

// decompressRelease(handle, slot): the buffer is the thread's to fill again.
static napi_value DecompressRelease(napi_env env, napi_callback_info info) {
  ARGS(2);
  dc *d = get_dc(env, argv[0]);
  if (!d) return NULL;
  int32_t slot;
  napi_get_value_int32(env, argv[1], &slot);
  if (slot < 0 || slot >= d->nslots) {
    napi_throw_range_error(env, NULL, "no such decompressor buffer");
    return NULL;
  }
  pthread_mutex_lock(&d->mu);
  d->lent[slot] = 0;
  pthread_cond_broadcast(&d->cv);
  pthread_mutex_unlock(&d->mu);
  return NULL;
}

// decompressClose(handle): stops the thread; events still on their way are dropped by the caller.
static napi_value DecompressClose(napi_env env, napi_callback_info info) {
  ARGS(1);
  dc *d = ctr_external(env, argv[0], "decompressor");
  if (d) dc_close(env, d);
  return NULL;
}

void ctr_register_decompress(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"decompressOpen", NULL, DecompressOpen, NULL, NULL, NULL, napi_default, NULL},
      {"decompressPush", NULL, DecompressPush, NULL, NULL, NULL, napi_default, NULL},
      {"decompressEnd", NULL, DecompressEnd, NULL, NULL, NULL, napi_default, NULL},
      {"decompressRelease", NULL, DecompressRelease, NULL, NULL, NULL, napi_default, NULL},
      {"decompressClose", NULL, DecompressClose, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
