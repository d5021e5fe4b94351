// Raw Ethernet frames for the L2 announcer: AF_PACKET sockets bound to one interface and one EtherType,
// optionally inside another network namespace, read through libuv (uv_poll_t, no busy loop) and written
// with sendto(2). N-API only (node_api.h + uv.h), so the binary survives Node upgrades.
//
// Namespaces: setns(2) on a network namespace changes only the calling thread. The JS thread enters the
// target namespace just long enough to create the socket, then returns to the namespace it started in
// (saved from /proc/self/task/<tid>/ns/net). A socket belongs to the namespace it was created in for its
// whole life, and interface lookups through it (ioctl, bind) resolve there, so nothing after socket(2)
// needs to run inside the target namespace.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#define FRAME_BUFFER_BYTES 65536
// Frames delivered per readable event before yielding to the event loop; poll is level-triggered, so
// anything left is reported again on the next iteration.
#define MAX_FRAMES_PER_EVENT 1024
#define MIN_FRAME_BYTES 14

static const napi_type_tag packet_handle_tag = {0x6d6c6274706b7431ULL, 0x9b1f3c2a5e7d4e61ULL};

typedef struct {
  napi_env env;
  int fd;
  int ifindex;
  uint16_t ether_type;  // host byte order
  char interface_name[IF_NAMESIZE];
  char netns_path[256];

  uv_poll_t poll;
  int poll_initialized;  // uv_poll_init succeeded and uv_close has not been requested
  int poll_closing;      // uv_close requested, close callback pending
  int reading;
  int dispatching;  // inside on_readable: the async context and resource must outlive the callback scope
  int finalized;  // the JS external is gone; free once the poll handle is closed

  napi_ref on_frame;     // function(frame: Buffer)
  napi_ref on_error;     // function(error: Error) or NULL
  napi_ref self;         // strong reference to the handle while reading, so GC cannot stop delivery
  napi_ref resource;     // async resource object for the callback scope
  napi_async_context async_context;

  uint64_t received;
  uint64_t sent;
  uint64_t errors;

  unsigned char *buffer;
} packet_handle;

// ---------------------------------------------------------------------------------------------------
// Errors

#define NAPI_CALL(env, call)                                                   \
  do {                                                                         \
    napi_status status_ = (call);                                              \
    if (status_ != napi_ok) {                                                  \
      throw_napi_failure((env), #call);                                        \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

static void throw_napi_failure(napi_env env, const char *what) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  char message[512];
  snprintf(message, sizeof message, "packet addon: %s failed: %s", what,
           info != NULL && info->error_message != NULL ? info->error_message : "unknown N-API error");
  napi_throw_error(env, "ERR_PACKET_ADDON", message);
}

static void set_string_property(napi_env env, napi_value object, const char *key, const char *value) {
  napi_value v;
  if (napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v) == napi_ok) {
    napi_set_named_property(env, object, key, v);
  }
}

// An Error shaped like Node's system errors: code = errno name, errno = -errno, syscall, plus the
// interface and namespace it concerns.
static napi_value make_system_error(napi_env env, int err, const char *syscall_name, const char *context,
                                    const char *interface_name, const char *netns_path) {
  char name[64];
  char reason[128];
  uv_err_name_r(-err, name, sizeof name);
  if (strncmp(name, "Unknown", 7) == 0) snprintf(name, sizeof name, "ERRNO_%d", err);
  uv_strerror_r(-err, reason, sizeof reason);

  char message[1024];
  if (netns_path != NULL && netns_path[0] != '\0') {
    snprintf(message, sizeof message, "%s: %s failed for interface '%s' in network namespace '%s': %s (%s)",
             context, syscall_name, interface_name, netns_path, reason, name);
  } else {
    snprintf(message, sizeof message, "%s: %s failed for interface '%s': %s (%s)", context, syscall_name,
             interface_name, reason, name);
  }

  napi_value code_value, message_value, error, errno_value;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code_value) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &message_value) != napi_ok) return NULL;
  if (napi_create_error(env, code_value, message_value, &error) != napi_ok) return NULL;
  if (napi_create_int32(env, -err, &errno_value) == napi_ok) napi_set_named_property(env, error, "errno", errno_value);
  set_string_property(env, error, "syscall", syscall_name);
  set_string_property(env, error, "interface", interface_name);
  if (netns_path != NULL && netns_path[0] != '\0') set_string_property(env, error, "netns", netns_path);
  return error;
}

static void throw_system_error(napi_env env, int err, const char *syscall_name, const char *context,
                               const char *interface_name, const char *netns_path) {
  napi_value error = make_system_error(env, err, syscall_name, context, interface_name, netns_path);
  if (error != NULL) {
    napi_throw(env, error);
  } else {
    napi_throw_error(env, "ERR_PACKET_ADDON", "packet addon: could not build an error object");
  }
}

// ---------------------------------------------------------------------------------------------------
// Arguments

// Copies a NUL-terminated string the caller has already checked to fit; truncates if it does not.
static void copy_string(char *out, size_t out_size, const char *value) {
  size_t length = strnlen(value, out_size - 1);
  memcpy(out, value, length);
  out[length] = '\0';
}

static int get_string_arg(napi_env env, napi_value value, const char *what, char *out, size_t out_size) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_string) {
    char message[128];
    snprintf(message, sizeof message, "%s must be a string", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
    return -1;
  }
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return -1;
  if (length == 0 || length >= out_size) {
    char message[160];
    snprintf(message, sizeof message, "%s must be 1 to %zu bytes long (got %zu)", what, out_size - 1, length);
    napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE", message);
    return -1;
  }
  if (napi_get_value_string_utf8(env, value, out, out_size, &length) != napi_ok) return -1;
  return 0;
}

// Reads an optional string: undefined/null leaves `out` empty.
static int get_optional_string_arg(napi_env env, size_t argc, napi_value *argv, size_t index, const char *what,
                                   char *out, size_t out_size) {
  out[0] = '\0';
  if (index >= argc) return 0;
  napi_valuetype type;
  if (napi_typeof(env, argv[index], &type) != napi_ok) return -1;
  if (type == napi_undefined || type == napi_null) return 0;
  return get_string_arg(env, argv[index], what, out, out_size);
}

static packet_handle *get_handle(napi_env env, napi_value value) {
  napi_valuetype type;
  bool tagged = false;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_external ||
      napi_check_object_type_tag(env, value, &packet_handle_tag, &tagged) != napi_ok || !tagged) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a packet socket handle from openPacket()");
    return NULL;
  }
  void *data = NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok) return NULL;
  return (packet_handle *)data;
}

// ---------------------------------------------------------------------------------------------------
// Namespaces

typedef struct {
  int original_fd;
  int entered;
} netns_guard;

// Enters `netns_path` on this thread. On failure nothing has changed and an error has been thrown.
static int netns_enter(napi_env env, netns_guard *guard, const char *netns_path, const char *context,
                       const char *interface_name) {
  guard->original_fd = -1;
  guard->entered = 0;
  if (netns_path[0] == '\0') return 0;

  char self_path[64];
  snprintf(self_path, sizeof self_path, "/proc/self/task/%ld/ns/net", (long)syscall(SYS_gettid));
  guard->original_fd = open(self_path, O_RDONLY | O_CLOEXEC);
  if (guard->original_fd < 0) {
    throw_system_error(env, errno, "open", context, interface_name, self_path);
    return -1;
  }
  int target_fd = open(netns_path, O_RDONLY | O_CLOEXEC);
  if (target_fd < 0) {
    int err = errno;
    close(guard->original_fd);
    guard->original_fd = -1;
    throw_system_error(env, err, "open", context, interface_name, netns_path);
    return -1;
  }
  if (setns(target_fd, CLONE_NEWNET) != 0) {
    int err = errno;
    close(target_fd);
    close(guard->original_fd);
    guard->original_fd = -1;
    throw_system_error(env, err, "setns", context, interface_name, netns_path);
    return -1;
  }
  close(target_fd);
  guard->entered = 1;
  return 0;
}

// Returns this thread to the namespace it started in. Staying in a foreign namespace would silently
// send every later socket of the process to the wrong network, so failure here is fatal.
static void netns_leave(netns_guard *guard) {
  if (guard->entered) {
    if (setns(guard->original_fd, CLONE_NEWNET) != 0) {
      napi_fatal_error("metallb-ts packet addon", NAPI_AUTO_LENGTH,
                       "could not return to the original network namespace", NAPI_AUTO_LENGTH);
    }
    guard->entered = 0;
  }
  if (guard->original_fd >= 0) {
    close(guard->original_fd);
    guard->original_fd = -1;
  }
}

// Creates a socket inside `netns_path` (or here when empty). Returns the fd, or -1 with an error thrown.
static int socket_in_netns(napi_env env, int domain, int type, int protocol, const char *netns_path,
                           const char *context, const char *interface_name) {
  netns_guard guard;
  if (netns_enter(env, &guard, netns_path, context, interface_name) != 0) return -1;
  int fd = socket(domain, type, protocol);
  int err = errno;
  netns_leave(&guard);
  if (fd < 0) {
    throw_system_error(env, err, "socket", context, interface_name, netns_path);
    return -1;
  }
  return fd;
}

static int interface_ioctl(napi_env env, int fd, unsigned long request, const char *request_name,
                           struct ifreq *ifr, const char *interface_name, const char *netns_path,
                           const char *context) {
  memset(ifr, 0, sizeof *ifr);
  copy_string(ifr->ifr_name, sizeof ifr->ifr_name, interface_name);
  if (ioctl(fd, request, ifr) != 0) {
    char syscall_name[64];
    snprintf(syscall_name, sizeof syscall_name, "ioctl(%s)", request_name);
    throw_system_error(env, errno, syscall_name, context, interface_name, netns_path);
    return -1;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------------
// interfaceInfo(name, netnsPath?) -> { index, mac, mtu }

static napi_value interface_info(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char interface_name[IF_NAMESIZE];
  char netns_path[256];
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "interfaceInfo(name, netnsPath?) needs an interface name");
    return NULL;
  }
  if (get_string_arg(env, argv[0], "interface name", interface_name, sizeof interface_name) != 0) return NULL;
  if (get_optional_string_arg(env, argc, argv, 1, "netnsPath", netns_path, sizeof netns_path) != 0) return NULL;

  const char *context = "interfaceInfo";
  int fd = socket_in_netns(env, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0, netns_path, context, interface_name);
  if (fd < 0) return NULL;

  struct ifreq index_req, hw_req, mtu_req;
  int ok = interface_ioctl(env, fd, SIOCGIFINDEX, "SIOCGIFINDEX", &index_req, interface_name, netns_path, context) == 0 &&
           interface_ioctl(env, fd, SIOCGIFHWADDR, "SIOCGIFHWADDR", &hw_req, interface_name, netns_path, context) == 0 &&
           interface_ioctl(env, fd, SIOCGIFMTU, "SIOCGIFMTU", &mtu_req, interface_name, netns_path, context) == 0;
  close(fd);
  if (!ok) return NULL;

  napi_value result, index, mac, mtu;
  NAPI_CALL(env, napi_create_object(env, &result));
  NAPI_CALL(env, napi_create_int32(env, index_req.ifr_ifindex, &index));
  NAPI_CALL(env, napi_create_buffer_copy(env, ETH_ALEN, hw_req.ifr_hwaddr.sa_data, NULL, &mac));
  NAPI_CALL(env, napi_create_int32(env, mtu_req.ifr_mtu, &mtu));
  NAPI_CALL(env, napi_set_named_property(env, result, "index", index));
  NAPI_CALL(env, napi_set_named_property(env, result, "mac", mac));
  NAPI_CALL(env, napi_set_named_property(env, result, "mtu", mtu));
  return result;
}

// ---------------------------------------------------------------------------------------------------
// Handle lifetime

static void free_handle(packet_handle *h) {
  free(h->buffer);
  free(h);
}

static void on_poll_closed(uv_handle_t *poll) {
  packet_handle *h = (packet_handle *)poll->data;
  h->poll_closing = 0;
  if (h->finalized) free_handle(h);
}

static void delete_ref(napi_env env, napi_ref *ref) {
  if (*ref != NULL) {
    napi_delete_reference(env, *ref);
    *ref = NULL;
  }
}

static void release_async_context(napi_env env, packet_handle *h) {
  delete_ref(env, &h->resource);
  if (h->async_context != NULL) {
    napi_async_destroy(env, h->async_context);
    h->async_context = NULL;
  }
}

// Safe to call from inside a frame callback (JS may stop or close the socket there): what the open
// callback scope still uses is released when on_readable returns.
static void stop_reading_internal(napi_env env, packet_handle *h) {
  if (h->poll_initialized) uv_poll_stop(&h->poll);
  h->reading = 0;
  delete_ref(env, &h->on_frame);
  delete_ref(env, &h->on_error);
  delete_ref(env, &h->self);
  if (!h->dispatching) release_async_context(env, h);
}

// Stops polling and closes the socket. The poll handle must be closed before the fd (libuv forbids
// closing a polled fd); its memory is released in on_poll_closed.
static void close_internal(napi_env env, packet_handle *h) {
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
  packet_handle *h = (packet_handle *)data;
  close_internal(env, h);
  h->finalized = 1;
  if (!h->poll_closing) free_handle(h);
}

// ---------------------------------------------------------------------------------------------------
// openPacket(interfaceName, etherType, netnsPath?) -> handle

static napi_value open_packet(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "openPacket(interfaceName, etherType, netnsPath?) needs two arguments");
    return NULL;
  }
  char interface_name[IF_NAMESIZE];
  char netns_path[256];
  if (get_string_arg(env, argv[0], "interface name", interface_name, sizeof interface_name) != 0) return NULL;
  napi_valuetype type;
  NAPI_CALL(env, napi_typeof(env, argv[1], &type));
  double ether_type_number = -1;
  if (type == napi_number) NAPI_CALL(env, napi_get_value_double(env, argv[1], &ether_type_number));
  if (type != napi_number || ether_type_number < 1 || ether_type_number > 0xffff ||
      ether_type_number != (double)(uint32_t)ether_type_number) {
    napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE", "etherType must be an integer from 1 to 0xffff (ETH_P_ALL is 3)");
    return NULL;
  }
  uint16_t ether_type = (uint16_t)ether_type_number;
  if (get_optional_string_arg(env, argc, argv, 2, "netnsPath", netns_path, sizeof netns_path) != 0) return NULL;

  const char *context = "openPacket";
  // Protocol 0 at creation: the socket receives nothing until bind() names both interface and protocol,
  // so no frame from another interface can slip in between.
  int fd = socket_in_netns(env, AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, netns_path, context,
                           interface_name);
  if (fd < 0) return NULL;

  struct ifreq ifr;
  if (interface_ioctl(env, fd, SIOCGIFINDEX, "SIOCGIFINDEX", &ifr, interface_name, netns_path, context) != 0) {
    close(fd);
    return NULL;
  }
  struct sockaddr_ll address;
  memset(&address, 0, sizeof address);
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ether_type);
  address.sll_ifindex = ifr.ifr_ifindex;
  if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) {
    int err = errno;
    close(fd);
    throw_system_error(env, err, "bind", context, interface_name, netns_path);
    return NULL;
  }

  packet_handle *h = calloc(1, sizeof *h);
  unsigned char *buffer = malloc(FRAME_BUFFER_BYTES);
  if (h == NULL || buffer == NULL) {
    free(h);
    free(buffer);
    close(fd);
    throw_system_error(env, ENOMEM, "malloc", context, interface_name, netns_path);
    return NULL;
  }
  h->env = env;
  h->fd = fd;
  h->ifindex = ifr.ifr_ifindex;
  h->ether_type = ether_type;
  h->buffer = buffer;
  copy_string(h->interface_name, sizeof h->interface_name, interface_name);
  copy_string(h->netns_path, sizeof h->netns_path, netns_path);

  napi_value handle;
  if (napi_create_external(env, h, finalize_handle, NULL, &handle) != napi_ok) {
    close(fd);
    free_handle(h);
    throw_napi_failure(env, "napi_create_external");
    return NULL;
  }
  NAPI_CALL(env, napi_type_tag_object(env, handle, &packet_handle_tag));
  return handle;
}

// ---------------------------------------------------------------------------------------------------
// Reading

static void deliver_exception(napi_env env) {
  napi_value exception;
  if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) napi_fatal_exception(env, exception);
}

static void on_readable(uv_poll_t *poll, int status, int events) {
  (void)events;
  packet_handle *h = (packet_handle *)poll->data;
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
    // The poll itself failed (rare: a bad fd). Report it; the socket stays as it is.
    h->errors += 1;
    napi_value on_error, error, undefined;
    if (h->on_error != NULL && napi_get_reference_value(env, h->on_error, &on_error) == napi_ok) {
      error = make_system_error(env, -status, "uv_poll", "packet socket read", h->interface_name, h->netns_path);
      napi_get_undefined(env, &undefined);
      if (error != NULL && napi_call_function(env, undefined, on_error, 1, &error, NULL) != napi_ok) {
        deliver_exception(env);
      }
    }
    // A failing poll would fire again at once; stop rather than spin.
    stop_reading_internal(env, h);
  }

  for (int count = 0; status >= 0 && count < MAX_FRAMES_PER_EVENT && h->reading && h->fd >= 0; count++) {
    struct sockaddr_ll from;
    socklen_t from_length = sizeof from;
    ssize_t n = recvfrom(h->fd, h->buffer, FRAME_BUFFER_BYTES, MSG_TRUNC, (struct sockaddr *)&from, &from_length);
    if (n < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      if (err == EINTR) continue;
      h->errors += 1;
      napi_value on_error, error, undefined;
      if (h->on_error != NULL && napi_get_reference_value(env, h->on_error, &on_error) == napi_ok) {
        error = make_system_error(env, err, "recvfrom", "packet socket read", h->interface_name, h->netns_path);
        napi_get_undefined(env, &undefined);
        if (error != NULL && napi_call_function(env, undefined, on_error, 1, &error, NULL) != napi_ok) {
          deliver_exception(env);
          break;
        }
      }
      // The kernel reports a socket error once (e.g. ENETDOWN); keep draining what else is queued.
      continue;
    }
    if (from.sll_pkttype == PACKET_OUTGOING) continue;
    if (n > FRAME_BUFFER_BYTES) {
      // Larger than any frame we handle (MSG_TRUNC gave the real length): count and drop it.
      h->errors += 1;
      continue;
    }
    h->received += 1;
    napi_value frame, on_frame, undefined;
    if (napi_create_buffer_copy(env, (size_t)n, h->buffer, NULL, &frame) != napi_ok) break;
    if (napi_get_reference_value(env, h->on_frame, &on_frame) != napi_ok) break;
    napi_get_undefined(env, &undefined);
    if (napi_call_function(env, undefined, on_frame, 1, &frame, NULL) != napi_ok) {
      deliver_exception(env);
      break;
    }
  }

  napi_close_callback_scope(env, callback_scope);
  napi_close_handle_scope(env, scope);
  h->dispatching = 0;
  if (!h->reading) release_async_context(env, h);
}

// startReading(handle, onFrame(frame), onError?(error))
static napi_value start_reading(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "startReading(handle, onFrame, onError?) needs a handle and a callback");
    return NULL;
  }
  packet_handle *h = get_handle(env, argv[0]);
  if (h == NULL) return NULL;
  napi_valuetype type;
  NAPI_CALL(env, napi_typeof(env, argv[1], &type));
  if (type != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "startReading: onFrame must be a function");
    return NULL;
  }
  int has_on_error = 0;
  if (argc >= 3) {
    napi_valuetype error_type;
    NAPI_CALL(env, napi_typeof(env, argv[2], &error_type));
    if (error_type == napi_function) {
      has_on_error = 1;
    } else if (error_type != napi_undefined && error_type != napi_null) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "startReading: onError must be a function");
      return NULL;
    }
  }
  if (h->fd < 0) {
    throw_system_error(env, EBADF, "startReading", "packet socket is closed", h->interface_name, h->netns_path);
    return NULL;
  }
  if (h->reading) {
    napi_throw_error(env, "ERR_ALREADY_READING", "startReading: this packet socket is already being read; call stopReading first");
    return NULL;
  }

  if (!h->poll_initialized) {
    uv_loop_t *loop = NULL;
    NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
    int rc = uv_poll_init(loop, &h->poll, h->fd);
    if (rc != 0) {
      throw_system_error(env, -rc, "uv_poll_init", "startReading", h->interface_name, h->netns_path);
      return NULL;
    }
    h->poll.data = h;
    h->poll_initialized = 1;
  }

  // A context left over from a stop inside a frame callback is still valid: reuse it.
  if (h->async_context == NULL) {
    napi_value resource, resource_name;
    NAPI_CALL(env, napi_create_object(env, &resource));
    NAPI_CALL(env, napi_create_string_utf8(env, "metallb-ts:PacketSocket", NAPI_AUTO_LENGTH, &resource_name));
    NAPI_CALL(env, napi_async_init(env, resource, resource_name, &h->async_context));
    NAPI_CALL(env, napi_create_reference(env, resource, 1, &h->resource));
  }
  NAPI_CALL(env, napi_create_reference(env, argv[1], 1, &h->on_frame));
  if (has_on_error) NAPI_CALL(env, napi_create_reference(env, argv[2], 1, &h->on_error));
  NAPI_CALL(env, napi_create_reference(env, argv[0], 1, &h->self));

  int rc = uv_poll_start(&h->poll, UV_READABLE, on_readable);
  if (rc != 0) {
    stop_reading_internal(env, h);
    throw_system_error(env, -rc, "uv_poll_start", "startReading", h->interface_name, h->netns_path);
    return NULL;
  }
  h->reading = 1;
  return NULL;
}

static napi_value stop_reading(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "stopReading(handle) needs a handle");
    return NULL;
  }
  packet_handle *h = get_handle(env, argv[0]);
  if (h == NULL) return NULL;
  stop_reading_internal(env, h);
  return NULL;
}

// ---------------------------------------------------------------------------------------------------
// send(handle, frame) -> bytesSent

static napi_value send_frame(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "send(handle, frame) needs a handle and a frame");
    return NULL;
  }
  packet_handle *h = get_handle(env, argv[0]);
  if (h == NULL) return NULL;
  bool is_buffer = false;
  NAPI_CALL(env, napi_is_buffer(env, argv[1], &is_buffer));
  if (!is_buffer) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "send: frame must be a Buffer or Uint8Array");
    return NULL;
  }
  void *data = NULL;
  size_t length = 0;
  NAPI_CALL(env, napi_get_buffer_info(env, argv[1], &data, &length));
  if (length < MIN_FRAME_BYTES) {
    char message[160];
    snprintf(message, sizeof message,
             "send: frame is %zu bytes; an Ethernet frame needs at least %d (destination, source, EtherType)",
             length, MIN_FRAME_BYTES);
    napi_throw_range_error(env, "ERR_FRAME_TOO_SHORT", message);
    return NULL;
  }
  if (h->fd < 0) {
    throw_system_error(env, EBADF, "sendto", "packet socket is closed", h->interface_name, h->netns_path);
    return NULL;
  }

  struct sockaddr_ll to;
  memset(&to, 0, sizeof to);
  to.sll_family = AF_PACKET;
  to.sll_ifindex = h->ifindex;
  to.sll_protocol = htons(h->ether_type);
  to.sll_halen = ETH_ALEN;
  memcpy(to.sll_addr, data, ETH_ALEN);

  ssize_t n;
  do {
    n = sendto(h->fd, data, length, 0, (struct sockaddr *)&to, sizeof to);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    throw_system_error(env, errno, "sendto", "send", h->interface_name, h->netns_path);
    return NULL;
  }
  h->sent += 1;
  napi_value result;
  NAPI_CALL(env, napi_create_int64(env, (int64_t)n, &result));
  return result;
}

// ---------------------------------------------------------------------------------------------------
// close(handle), stats(handle)

static napi_value close_packet(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "close(handle) needs a handle");
    return NULL;
  }
  packet_handle *h = get_handle(env, argv[0]);
  if (h == NULL) return NULL;
  close_internal(env, h);
  return NULL;
}

static napi_value stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "stats(handle) needs a handle");
    return NULL;
  }
  packet_handle *h = get_handle(env, argv[0]);
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

// ---------------------------------------------------------------------------------------------------

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"interfaceInfo", NULL, interface_info, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openPacket", NULL, open_packet, NULL, NULL, NULL, napi_enumerable, NULL},
      {"startReading", NULL, start_reading, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stopReading", NULL, stop_reading, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, send_frame, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, close_packet, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, stats, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  NAPI_CALL(env, napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties));
  napi_value eth_p_all;
  NAPI_CALL(env, napi_create_uint32(env, ETH_P_ALL, &eth_p_all));
  NAPI_CALL(env, napi_set_named_property(env, exports, "ETH_P_ALL", eth_p_all));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
