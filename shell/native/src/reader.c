// The socket handle shared by packet and UDP sockets: an fd owned by a napi external, read through
// libuv (uv_poll_t, level-triggered, no busy loop) into a JS callback, with counters. The kind
// (packet.c, udp.c) supplies how one unit is read and what its errors say; this file owns the life
// cycle: startReading/stopReading/close/stats work on either kind.
//
// Lifetime: the poll handle must be closed before the fd (libuv forbids closing a polled fd) and its
// memory lives until the close callback; the handle is freed when both the JS external is finalized
// and the poll handle is closed. JS may stop or close the socket from inside its own callback, so what
// the open callback scope still uses is released when the readable callback returns.
#include "addon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Units delivered per readable event before yielding to the event loop; the poll is level-triggered,
// so anything left is reported again on the next iteration.
#define MAX_UNITS_PER_EVENT 1024

static const napi_type_tag sock_handle_tag = {0x6d6c6274706b7431ULL, 0x9b1f3c2a5e7d4e61ULL};

sock_handle *sock_handle_new(const sock_kind *kind, int fd, size_t buffer_bytes, const char *netns_path, void *data) {
  sock_handle *h = calloc(1, sizeof *h);
  unsigned char *buffer = malloc(buffer_bytes);
  if (h == NULL || buffer == NULL) {
    free(h);
    free(buffer);
    return NULL;
  }
  h->kind = kind;
  h->fd = fd;
  h->buffer = buffer;
  h->buffer_bytes = buffer_bytes;
  h->data = data;
  copy_string(h->netns_path, sizeof h->netns_path, netns_path);
  return h;
}

static void free_handle(sock_handle *h) {
  free(h->buffer);
  free(h->data);
  free(h);
}

static void on_poll_closed(uv_handle_t *poll) {
  sock_handle *h = (sock_handle *)poll->data;
  h->poll_closing = 0;
  if (h->finalized) free_handle(h);
}

static void delete_ref(napi_env env, napi_ref *ref) {
  if (*ref != NULL) {
    napi_delete_reference(env, *ref);
    *ref = NULL;
  }
}

static void release_async_context(napi_env env, sock_handle *h) {
  delete_ref(env, &h->resource);
  if (h->async_context != NULL) {
    napi_async_destroy(env, h->async_context);
    h->async_context = NULL;
  }
}

static void stop_reading_internal(napi_env env, sock_handle *h) {
  if (h->poll_initialized) uv_poll_stop(&h->poll);
  h->reading = 0;
  delete_ref(env, &h->on_data);
  delete_ref(env, &h->on_error);
  delete_ref(env, &h->self);
  if (!h->dispatching) release_async_context(env, h);
}

static void close_internal(napi_env env, sock_handle *h) {
  stop_reading_internal(env, h);
  if (h->poll_initialized) {
    h->poll_initialized = 0;
    h->poll_closing = 1;
    uv_close((uv_handle_t *)&h->poll, on_poll_closed);
  }
  if (h->fd >= 0) {
    close(h->fd);
    h->fd = -1;
  }
}

static void finalize_handle(napi_env env, void *data, void *hint) {
  (void)hint;
  sock_handle *h = (sock_handle *)data;
  close_internal(env, h);
  h->finalized = 1;
  if (!h->poll_closing) free_handle(h);
}

napi_value sock_handle_wrap(napi_env env, sock_handle *h) {
  h->env = env;
  napi_value handle;
  if (napi_create_external(env, h, finalize_handle, NULL, &handle) != napi_ok) {
    close(h->fd);
    free_handle(h);
    throw_napi_failure(env, "napi_create_external");
    return NULL;
  }
  // From here the finalizer owns `h`.
  NAPI_CALL(env, napi_type_tag_object(env, handle, &sock_handle_tag));
  return handle;
}

sock_handle *sock_handle_get(napi_env env, napi_value value, const sock_kind *kind, const char *expected) {
  napi_valuetype type;
  bool tagged = false;
  void *data = NULL;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_external ||
      napi_check_object_type_tag(env, value, &sock_handle_tag, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, value, &data) != napi_ok ||
      (kind != NULL && ((sock_handle *)data)->kind != kind)) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected %s", expected);
    return NULL;
  }
  return (sock_handle *)data;
}

static const char *any_handle = "a socket handle from openPacket() or udpOpen()";

// ---------------------------------------------------------------------------------------------------
// Reading

static void report_error(napi_env env, sock_handle *h, int err, const char *syscall_name) {
  h->errors += 1;
  napi_value on_error, error, undefined;
  if (h->on_error == NULL || napi_get_reference_value(env, h->on_error, &on_error) != napi_ok) return;
  error = h->kind->make_error(env, h, err, syscall_name, "socket read");
  napi_get_undefined(env, &undefined);
  if (error != NULL && napi_call_function(env, undefined, on_error, 1, &error, NULL) != napi_ok) {
    napi_value exception;
    if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) napi_fatal_exception(env, exception);
  }
}

static void on_readable(uv_poll_t *poll, int status, int events) {
  (void)events;
  sock_handle *h = (sock_handle *)poll->data;
  if (!h->reading || h->fd < 0) return;
  napi_env env = h->env;

  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value resource = NULL;
  napi_callback_scope callback_scope = NULL;
  if (napi_get_reference_value(env, h->resource, &resource) != napi_ok ||
      napi_open_callback_scope(env, resource, h->async_context, &callback_scope) != napi_ok) {
    napi_close_handle_scope(env, scope);
    return;
  }
  h->dispatching = 1;

  if (status < 0) {
    // The poll itself failed (rare: a bad fd). Report it and stop: a failing poll would fire again at once.
    report_error(env, h, -status, "uv_poll");
    stop_reading_internal(env, h);
  }

  for (int count = 0; status >= 0 && count < MAX_UNITS_PER_EVENT && h->reading && h->fd >= 0; count++) {
    napi_value value = NULL;
    int rc = h->kind->read_one(env, h, &value);
    if (rc == -EAGAIN || rc == -EWOULDBLOCK) break;
    if (rc == -EINTR || rc == 0) continue;
    if (rc < 0) {
      // The kernel reports a socket error once (e.g. ENETDOWN, or ECONNREFUSED from an ICMP error on UDP);
      // keep draining what else is queued.
      bool pending = false;
      report_error(env, h, -rc, h->kind->read_syscall);
      napi_is_exception_pending(env, &pending);
      if (pending) break;
      continue;
    }
    h->received += 1;
    napi_value on_data, undefined;
    if (napi_get_reference_value(env, h->on_data, &on_data) != napi_ok) break;
    napi_get_undefined(env, &undefined);
    if (napi_call_function(env, undefined, on_data, 1, &value, NULL) != napi_ok) {
      napi_value exception;
      if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) napi_fatal_exception(env, exception);
      break;
    }
  }

  napi_close_callback_scope(env, callback_scope);
  napi_close_handle_scope(env, scope);
  h->dispatching = 0;
  if (!h->reading) release_async_context(env, h);
}

// startReading(handle, onData(value), onError?(error))
static napi_value start_reading(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    throw_type_error(env, "ERR_MISSING_ARGS", "startReading(handle, onData, onError?) needs a handle and a callback");
    return NULL;
  }
  sock_handle *h = sock_handle_get(env, argv[0], NULL, any_handle);
  if (h == NULL) return NULL;
  napi_valuetype type;
  NAPI_CALL(env, napi_typeof(env, argv[1], &type));
  if (type != napi_function) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", "startReading: onData must be a function");
    return NULL;
  }
  int has_on_error = 0;
  if (argc >= 3 && !is_absent(env, argv[2])) {
    NAPI_CALL(env, napi_typeof(env, argv[2], &type));
    if (type != napi_function) {
      throw_type_error(env, "ERR_INVALID_ARG_TYPE", "startReading: onError must be a function");
      return NULL;
    }
    has_on_error = 1;
  }
  if (h->fd < 0) {
    throw_error_value(env, h->kind->make_error(env, h, EBADF, "startReading", "socket is closed"));
    return NULL;
  }
  if (h->reading) {
    napi_throw_error(env, "ERR_ALREADY_READING", "startReading: this socket is already being read; call stopReading first");
    return NULL;
  }

  if (!h->poll_initialized) {
    uv_loop_t *loop = NULL;
    NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
    int rc = uv_poll_init(loop, &h->poll, h->fd);
    if (rc != 0) {
      throw_error_value(env, h->kind->make_error(env, h, -rc, "uv_poll_init", "startReading"));
      return NULL;
    }
    h->poll.data = h;
    h->poll_initialized = 1;
  }

  // A context left over from a stop inside a callback is still valid: reuse it.
  if (h->async_context == NULL) {
    napi_value resource, resource_name;
    NAPI_CALL(env, napi_create_object(env, &resource));
    NAPI_CALL(env, napi_create_string_utf8(env, h->kind->resource_name, NAPI_AUTO_LENGTH, &resource_name));
    NAPI_CALL(env, napi_async_init(env, resource, resource_name, &h->async_context));
    NAPI_CALL(env, napi_create_reference(env, resource, 1, &h->resource));
  }
  NAPI_CALL(env, napi_create_reference(env, argv[1], 1, &h->on_data));
  if (has_on_error) NAPI_CALL(env, napi_create_reference(env, argv[2], 1, &h->on_error));
  NAPI_CALL(env, napi_create_reference(env, argv[0], 1, &h->self));

  int rc = uv_poll_start(&h->poll, UV_READABLE, on_readable);
  if (rc != 0) {
    stop_reading_internal(env, h);
    throw_error_value(env, h->kind->make_error(env, h, -rc, "uv_poll_start", "startReading"));
    return NULL;
  }
  h->reading = 1;
  return NULL;
}

static sock_handle *single_handle_arg(napi_env env, napi_callback_info info, const char *usage) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    throw_napi_failure(env, "napi_get_cb_info");
    return NULL;
  }
  if (argc < 1) {
    throw_type_error(env, "ERR_MISSING_ARGS", "%s needs a handle", usage);
    return NULL;
  }
  return sock_handle_get(env, argv[0], NULL, any_handle);
}

static napi_value stop_reading(napi_env env, napi_callback_info info) {
  sock_handle *h = single_handle_arg(env, info, "stopReading(handle)");
  if (h != NULL) stop_reading_internal(env, h);
  return NULL;
}

static napi_value close_handle(napi_env env, napi_callback_info info) {
  sock_handle *h = single_handle_arg(env, info, "close(handle)");
  if (h != NULL) close_internal(env, h);
  return NULL;
}

static napi_value stats(napi_env env, napi_callback_info info) {
  sock_handle *h = single_handle_arg(env, info, "stats(handle)");
  if (h == NULL) return NULL;
  napi_value result, received, sent, errors, is_open, is_reading;
  NAPI_CALL(env, napi_create_object(env, &result));
  NAPI_CALL(env, napi_create_double(env, (double)h->received, &received));
  NAPI_CALL(env, napi_create_double(env, (double)h->sent, &sent));
  NAPI_CALL(env, napi_create_double(env, (double)h->errors, &errors));
  NAPI_CALL(env, napi_get_boolean(env, h->fd >= 0, &is_open));
  NAPI_CALL(env, napi_get_boolean(env, h->reading != 0, &is_reading));
  NAPI_CALL(env, napi_set_named_property(env, result, "received", received));
  NAPI_CALL(env, napi_set_named_property(env, result, "sent", sent));
  NAPI_CALL(env, napi_set_named_property(env, result, "errors", errors));
  NAPI_CALL(env, napi_set_named_property(env, result, "open", is_open));
  NAPI_CALL(env, napi_set_named_property(env, result, "reading", is_reading));
  return result;
}

napi_status reader_register(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"startReading", NULL, start_reading, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stopReading", NULL, stop_reading, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, close_handle, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, stats, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
}
