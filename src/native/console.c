// Terminal support for `ctr run -t`: filled in by the console work (see src/native/console.ts).
#include <node_api.h>

void ctr_register_console(napi_env env, napi_value exports) {
  (void)env;
  (void)exports;
}
