// Reading JavaScript arguments in C. Every reader validates completely (type, range, length) and throws a
// TypeError or RangeError naming the argument, so no half-checked value ever reaches a system call.
#include "addon.h"

#include <math.h>
#include <string.h>

// Copies a NUL-terminated string the caller has already checked to fit; truncates if it does not.
void copy_string(char *out, size_t out_size, const char *value) {
  size_t length = strnlen(value, out_size - 1);
  memcpy(out, value, length);
  out[length] = '\0';
}

int is_absent(napi_env env, napi_value value) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok) return 0;
  return type == napi_undefined || type == napi_null;
}

int get_string_arg(napi_env env, napi_value value, const char *what, char *out, size_t out_size) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_string) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", "%s must be a string", what);
    return -1;
  }
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return -1;
  if (length == 0 || length >= out_size) {
    throw_range_error(env, "ERR_INVALID_ARG_VALUE", "%s must be 1 to %zu bytes long (got %zu)", what, out_size - 1,
                      length);
    return -1;
  }
  if (napi_get_value_string_utf8(env, value, out, out_size, &length) != napi_ok) return -1;
  return 0;
}

int get_optional_string_arg(napi_env env, size_t argc, napi_value *argv, size_t index, const char *what, char *out,
                            size_t out_size) {
  out[0] = '\0';
  if (index >= argc || is_absent(env, argv[index])) return 1;
  return get_string_arg(env, argv[index], what, out, out_size);
}

int get_integer_arg(napi_env env, napi_value value, const char *what, int64_t min, int64_t max, int64_t *out) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", "%s must be a number", what);
    return -1;
  }
  double number = 0;
  if (napi_get_value_double(env, value, &number) != napi_ok) return -1;
  if (!isfinite(number) || number != floor(number) || number < (double)min || number > (double)max) {
    throw_range_error(env, "ERR_INVALID_ARG_VALUE", "%s must be an integer from %lld to %lld (got %g)", what,
                      (long long)min, (long long)max, number);
    return -1;
  }
  *out = (int64_t)number;
  return 0;
}

int get_buffer_arg(napi_env env, napi_value value, const char *what, void **data, size_t *length) {
  bool is_buffer = false;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", "%s must be a Buffer or Uint8Array", what);
    return -1;
  }
  if (napi_get_buffer_info(env, value, data, length) != napi_ok) {
    throw_napi_failure(env, "napi_get_buffer_info");
    return -1;
  }
  return 0;
}

int get_bytes_arg(napi_env env, napi_value value, const char *what, uint8_t *out, size_t max, size_t *length) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok) return -1;
  if (type == napi_string) {
    size_t n = 0;
    if (napi_get_value_string_utf8(env, value, NULL, 0, &n) != napi_ok) return -1;
    if (n == 0 || n > max) {
      throw_range_error(env, "ERR_INVALID_ARG_VALUE", "%s must be 1 to %zu bytes long (got %zu)", what, max, n);
      return -1;
    }
    // The copy is NUL-terminated, so it needs one byte more than the key.
    char text[n + 1];
    if (napi_get_value_string_utf8(env, value, text, n + 1, &n) != napi_ok) return -1;
    memcpy(out, text, n);
    *length = n;
    return 0;
  }
  bool is_buffer = false;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", "%s must be a string or a Buffer", what);
    return -1;
  }
  void *data = NULL;
  size_t n = 0;
  if (napi_get_buffer_info(env, value, &data, &n) != napi_ok) return -1;
  if (n == 0 || n > max) {
    throw_range_error(env, "ERR_INVALID_ARG_VALUE", "%s must be 1 to %zu bytes long (got %zu)", what, max, n);
    return -1;
  }
  memcpy(out, data, n);
  *length = n;
  return 0;
}

int get_options_arg(napi_env env, size_t argc, napi_value *argv, const char *function_name, napi_value *out) {
  napi_valuetype type = napi_undefined;
  if (argc >= 1 && napi_typeof(env, argv[0], &type) != napi_ok) return -1;
  if (argc < 1 || type != napi_object) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", "%s(options) needs an options object", function_name);
    return -1;
  }
  *out = argv[0];
  return 0;
}

int get_option(napi_env env, napi_value object, const char *key, napi_value *out) {
  if (napi_get_named_property(env, object, key, out) != napi_ok) return -1;
  return is_absent(env, *out) ? 1 : 0;
}

static int missing(napi_env env, const char *key) {
  throw_type_error(env, "ERR_MISSING_OPTION", "option %s is required", key);
  return -1;
}

int get_string_option(napi_env env, napi_value object, const char *key, int required, char *out, size_t out_size) {
  out[0] = '\0';
  napi_value value;
  int found = get_option(env, object, key, &value);
  if (found != 0) return found < 0 ? -1 : required ? missing(env, key) : 1;
  return get_string_arg(env, value, key, out, out_size);
}

int get_integer_option(napi_env env, napi_value object, const char *key, int required, int64_t min, int64_t max,
                       int64_t *out) {
  napi_value value;
  int found = get_option(env, object, key, &value);
  if (found != 0) return found < 0 ? -1 : required ? missing(env, key) : 1;
  return get_integer_arg(env, value, key, min, max, out);
}

int get_boolean_option(napi_env env, napi_value object, const char *key, int *out) {
  napi_value value;
  int found = get_option(env, object, key, &value);
  if (found != 0) return found;
  napi_valuetype type;
  bool flag = false;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_boolean ||
      napi_get_value_bool(env, value, &flag) != napi_ok) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", "%s must be a boolean", key);
    return -1;
  }
  *out = flag ? 1 : 0;
  return 0;
}
