// Errors the addon hands to JavaScript. System failures look like Node's own system errors (`code` is
// the errno name such as ECONNREFUSED, `errno` is negative, `syscall` names the call) so the TypeScript
// side maps them to tagged errors without parsing messages; argument mistakes are TypeError/RangeError
// with an ERR_* code, thrown before anything touches the kernel.
#include "addon.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void throw_napi_failure(napi_env env, const char *what) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  char message[512];
  snprintf(message, sizeof message, "native addon: %s failed: %s", what,
           info != NULL && info->error_message != NULL ? info->error_message : "unknown N-API error");
  napi_throw_error(env, "ERR_NATIVE_ADDON", message);
}

void set_string_property(napi_env env, napi_value object, const char *key, const char *value) {
  napi_value v;
  if (napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v) == napi_ok) napi_set_named_property(env, object, key, v);
}

void set_int_property(napi_env env, napi_value object, const char *key, int64_t value) {
  napi_value v;
  if (napi_create_int64(env, value, &v) == napi_ok) napi_set_named_property(env, object, key, v);
}

napi_value system_error(napi_env env, int err, const char *syscall_name, const char *context, const char *subject,
                        const char *netns_path) {
  char name[64];
  char reason[128];
  uv_err_name_r(-err, name, sizeof name);
  uv_strerror_r(-err, reason, sizeof reason);
  if (strncmp(name, "Unknown", 7) == 0) {
    // libuv names only the errnos it maps (not EMEDIUMTYPE, for one): ask the C library.
    const char *libc_name = strerrorname_np(err);
    if (libc_name != NULL) {
      snprintf(name, sizeof name, "%s", libc_name);
      snprintf(reason, sizeof reason, "%s", strerror(err));
    } else {
      snprintf(name, sizeof name, "ERRNO_%d", err);
    }
  }

  char subject_part[300] = "";
  char netns_part[NETNS_PATH_BYTES + 32] = "";
  if (subject != NULL && subject[0] != '\0') snprintf(subject_part, sizeof subject_part, " for %s", subject);
  if (netns_path != NULL && netns_path[0] != '\0') {
    snprintf(netns_part, sizeof netns_part, " in network namespace '%s'", netns_path);
  }
  char message[1024];
  snprintf(message, sizeof message, "%s: %s failed%s%s: %s (%s)", context, syscall_name, subject_part, netns_part,
           reason, name);

  napi_value code_value, message_value, error;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code_value) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &message_value) != napi_ok) return NULL;
  if (napi_create_error(env, code_value, message_value, &error) != napi_ok) return NULL;
  set_int_property(env, error, "errno", -err);
  set_string_property(env, error, "syscall", syscall_name);
  if (netns_path != NULL && netns_path[0] != '\0') set_string_property(env, error, "netns", netns_path);
  return error;
}

void throw_error_value(napi_env env, napi_value error) {
  if (error != NULL) {
    napi_throw(env, error);
  } else {
    napi_throw_error(env, "ERR_NATIVE_ADDON", "native addon: could not build an error object");
  }
}

void throw_type_error(napi_env env, const char *code, const char *format, ...) {
  char message[512];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  napi_throw_type_error(env, code, message);
}

void throw_range_error(napi_env env, const char *code, const char *format, ...) {
  char message[512];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  napi_throw_range_error(env, code, message);
}
