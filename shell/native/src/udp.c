// UDP sockets for BFD (RFC 5881): created in a network namespace, optionally tied to one interface,
// sending with a fixed TTL / hop limit (255 for single-hop BFD) and reporting each datagram's received
// TTL / hop limit (IP_RECVTTL / IPV6_RECVHOPLIMIT), its destination address and arrival interface
// (IP_PKTINFO / IPV6_RECVPKTINFO), which Node's dgram cannot do. RFC 5881 §5 discards single-hop
// packets whose TTL is not 255; that check belongs to the caller, this file only reports the value.
// Read through the shared poll reader (reader.c); each datagram is delivered as
// { data, address, port, ttl?, destination?, interfaceIndex? }.
#include "addon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DATAGRAM_BUFFER_BYTES 65536

typedef struct {
  int family;
  char local_text[ADDRESS_TEXT_BYTES];
  int local_port;
} udp_data;

static const char *udp_handle_expected = "a UDP socket handle from udpOpen()";

static napi_value udp_kind_error(napi_env env, sock_handle *h, int err, const char *syscall_name,
                                 const char *context) {
  udp_data *data = (udp_data *)h->data;
  char prefixed[128];
  snprintf(prefixed, sizeof prefixed, "udp %s", context);
  return endpoint_error(env, err, syscall_name, prefixed, "local address", data->local_text, data->local_port,
                        h->netns_path);
}

static void set_control_properties(napi_env env, napi_value result, struct msghdr *message) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(message); c != NULL; c = CMSG_NXTHDR(message, c)) {
    if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) ||
        (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT)) {
      int ttl = 0;
      memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
      set_int_property(env, result, "ttl", ttl);
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      struct in_pktinfo info;
      memcpy(&info, CMSG_DATA(c), sizeof info);
      struct sockaddr_in destination = {.sin_family = AF_INET, .sin_addr = info.ipi_addr};
      char text[ADDRESS_TEXT_BYTES];
      int port = 0;
      format_ip((struct sockaddr *)&destination, text, sizeof text, &port);
      set_string_property(env, result, "destination", text);
      set_int_property(env, result, "interfaceIndex", info.ipi_ifindex);
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      struct in6_pktinfo info;
      memcpy(&info, CMSG_DATA(c), sizeof info);
      struct sockaddr_in6 destination = {.sin6_family = AF_INET6, .sin6_addr = info.ipi6_addr};
      char text[ADDRESS_TEXT_BYTES];
      int port = 0;
      format_ip((struct sockaddr *)&destination, text, sizeof text, &port);
      set_string_property(env, result, "destination", text);
      set_int_property(env, result, "interfaceIndex", info.ipi6_ifindex);
    }
  }
}

static int udp_read_one(napi_env env, sock_handle *h, napi_value *value) {
  struct sockaddr_storage from;
  char control[256];
  struct iovec iov = {.iov_base = h->buffer, .iov_len = h->buffer_bytes};
  struct msghdr message = {
      .msg_name = &from,
      .msg_namelen = sizeof from,
      .msg_iov = &iov,
      .msg_iovlen = 1,
      .msg_control = control,
      .msg_controllen = sizeof control,
  };
  ssize_t n = recvmsg(h->fd, &message, 0);
  if (n < 0) return -errno;
  if (message.msg_flags & MSG_TRUNC) {
    h->errors += 1;
    return 0;
  }
  napi_value result, data;
  char address[ADDRESS_TEXT_BYTES];
  int port = 0;
  if (napi_create_object(env, &result) != napi_ok ||
      napi_create_buffer_copy(env, (size_t)n, h->buffer, NULL, &data) != napi_ok ||
      napi_set_named_property(env, result, "data", data) != napi_ok) {
    return -ENOMEM;
  }
  format_ip((struct sockaddr *)&from, address, sizeof address, &port);
  set_string_property(env, result, "address", address);
  set_int_property(env, result, "port", port);
  set_control_properties(env, result, &message);
  *value = result;
  return 1;
}

static const sock_kind udp_kind = {"udp", "metallb-ts:UdpSocket", "recvmsg", udp_read_one, udp_kind_error};

// ---------------------------------------------------------------------------------------------------
// udpOpen(options) -> handle

typedef struct {
  ip_address address;
  int64_t ttl;
  int receive_ttl;
  int v6_only;
  char interface_name[IF_NAMESIZE];
  char netns_path[NETNS_PATH_BYTES];
} udp_options;

static int read_options(napi_env env, napi_value options, udp_options *o) {
  memset(o, 0, sizeof *o);
  o->v6_only = 1;
  int64_t port = 0;
  napi_value value;
  int found = get_option(env, options, "address", &value);
  if (found != 0) {
    if (found > 0) throw_type_error(env, "ERR_MISSING_OPTION", "option address is required");
    return -1;
  }
  if (get_integer_option(env, options, "port", 1, 0, 65535, &port) != 0) return -1;
  if (get_ip_arg(env, value, "address", (uint16_t)port, &o->address) != 0) return -1;
  if (get_integer_option(env, options, "ttl", 0, 1, 255, &o->ttl) < 0) return -1;
  if (get_boolean_option(env, options, "receiveTtl", &o->receive_ttl) < 0) return -1;
  if (get_boolean_option(env, options, "v6Only", &o->v6_only) < 0) return -1;
  if (get_string_option(env, options, "interfaceName", 0, o->interface_name, sizeof o->interface_name) < 0) return -1;
  if (get_string_option(env, options, "netnsPath", 0, o->netns_path, sizeof o->netns_path) < 0) return -1;
  return 0;
}

static int set_flag(int fd, int level, int option, int value, const char *name, const char **syscall_name) {
  *syscall_name = name;
  return setsockopt(fd, level, option, &value, sizeof value) == 0 ? 0 : errno;
}

static int prepare(int fd, udp_options *o, const char **syscall_name) {
  int err;
  int v6 = o->address.family == AF_INET6;
  if (v6 && (err = set_flag(fd, IPPROTO_IPV6, IPV6_V6ONLY, o->v6_only, "setsockopt(IPV6_V6ONLY)", syscall_name)) != 0) {
    return err;
  }
  if (o->interface_name[0] != '\0') {
    *syscall_name = "setsockopt(SO_BINDTODEVICE)";
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, o->interface_name, (socklen_t)strlen(o->interface_name)) != 0) {
      return errno;
    }
  }
  if (o->ttl > 0 && (err = set_ttl(fd, o->address.family, (int)o->ttl, syscall_name)) != 0) return err;
  if (o->receive_ttl) {
    err = v6 ? set_flag(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1, "setsockopt(IPV6_RECVHOPLIMIT)", syscall_name)
             : set_flag(fd, IPPROTO_IP, IP_RECVTTL, 1, "setsockopt(IP_RECVTTL)", syscall_name);
    if (err != 0) return err;
    // A dual-stack socket receives IPv4 too; those report their TTL through the IPv4 option.
    if (v6 && !o->v6_only) (void)set_flag(fd, IPPROTO_IP, IP_RECVTTL, 1, "setsockopt(IP_RECVTTL)", syscall_name);
  }
  err = v6 ? set_flag(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "setsockopt(IPV6_RECVPKTINFO)", syscall_name)
           : set_flag(fd, IPPROTO_IP, IP_PKTINFO, 1, "setsockopt(IP_PKTINFO)", syscall_name);
  if (err != 0) return err;
  if (v6 && !o->v6_only) (void)set_flag(fd, IPPROTO_IP, IP_PKTINFO, 1, "setsockopt(IP_PKTINFO)", syscall_name);
  *syscall_name = "ioctl(SIOCGIFINDEX)";
  if ((err = resolve_scope(fd, &o->address)) != 0) return err;
  *syscall_name = "bind";
  if (bind(fd, (struct sockaddr *)&o->address.storage, o->address.length) != 0) return errno;
  return 0;
}

static napi_value udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], options;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (get_options_arg(env, argc, argv, "udpOpen", &options) != 0) return NULL;
  udp_options o;
  if (read_options(env, options, &o) != 0) return NULL;
  char address_text[ADDRESS_TEXT_BYTES];
  int port = 0;
  format_ip((struct sockaddr *)&o.address.storage, address_text, sizeof address_text, &port);

  netns_failure failure;
  int fd = socket_in_netns(o.address.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP, o.netns_path,
                           &failure);
  const char *syscall_name = NULL;
  int err = fd < 0 ? failure.err : prepare(fd, &o, &syscall_name);
  if (fd < 0) syscall_name = failure.syscall_name;
  if (err != 0) {
    if (fd >= 0) close(fd);
    const char *netns = fd < 0 && failure.path[0] != '\0' ? failure.path : o.netns_path;
    throw_error_value(env, endpoint_error(env, err, syscall_name, "udpOpen", "address", address_text, port, netns));
    return NULL;
  }

  // The bound port, when the kernel chose it.
  struct sockaddr_storage bound;
  socklen_t bound_length = sizeof bound;
  if (getsockname(fd, (struct sockaddr *)&bound, &bound_length) == 0) {
    format_ip((struct sockaddr *)&bound, address_text, sizeof address_text, &port);
  }
  udp_data *data = calloc(1, sizeof *data);
  sock_handle *h = data == NULL ? NULL : sock_handle_new(&udp_kind, fd, DATAGRAM_BUFFER_BYTES, o.netns_path, data);
  if (h == NULL) {
    free(data);
    close(fd);
    throw_error_value(env, endpoint_error(env, ENOMEM, "malloc", "udpOpen", "address", address_text, port, o.netns_path));
    return NULL;
  }
  data->family = o.address.family;
  data->local_port = port;
  copy_string(data->local_text, sizeof data->local_text, address_text);
  return sock_handle_wrap(env, h);
}

// ---------------------------------------------------------------------------------------------------
// sendTo(handle, data, address, port) -> bytesSent

static napi_value send_to(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    throw_type_error(env, "ERR_MISSING_ARGS", "sendTo(handle, data, address, port) needs four arguments");
    return NULL;
  }
  sock_handle *h = sock_handle_get(env, argv[0], &udp_kind, udp_handle_expected);
  if (h == NULL) return NULL;
  udp_data *data = (udp_data *)h->data;
  void *payload = NULL;
  size_t length = 0;
  int64_t port = 0;
  ip_address to;
  if (get_buffer_arg(env, argv[1], "sendTo: data", &payload, &length) != 0) return NULL;
  if (get_integer_arg(env, argv[3], "port", 1, 65535, &port) != 0) return NULL;
  if (get_ip_arg(env, argv[2], "address", (uint16_t)port, &to) != 0) return NULL;
  char to_text[ADDRESS_TEXT_BYTES];
  int to_port = 0;
  format_ip((struct sockaddr *)&to.storage, to_text, sizeof to_text, &to_port);
  int err = h->fd < 0 ? EBADF : adapt_to_family(&to, data->family);
  const char *syscall_name = "sendto";
  if (err == 0 && (err = resolve_scope(h->fd, &to)) != 0) syscall_name = "ioctl(SIOCGIFINDEX)";
  ssize_t n = -1;
  if (err == 0) {
    do {
      n = sendto(h->fd, payload, length, 0, (struct sockaddr *)&to.storage, to.length);
    } while (n < 0 && errno == EINTR);
    if (n < 0) err = errno;
  }
  if (err != 0) {
    throw_error_value(env, endpoint_error(env, err, syscall_name, "sendTo", "peer", to_text, to_port, h->netns_path));
    return NULL;
  }
  h->sent += 1;
  napi_value result;
  NAPI_CALL(env, napi_create_int64(env, (int64_t)n, &result));
  return result;
}

// udpLocalAddress(handle) -> { address, port }
static napi_value local_address(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    throw_type_error(env, "ERR_MISSING_ARGS", "udpLocalAddress(handle) needs a handle");
    return NULL;
  }
  sock_handle *h = sock_handle_get(env, argv[0], &udp_kind, udp_handle_expected);
  if (h == NULL) return NULL;
  udp_data *data = (udp_data *)h->data;
  napi_value result;
  NAPI_CALL(env, napi_create_object(env, &result));
  set_string_property(env, result, "address", data->local_text);
  set_int_property(env, result, "port", data->local_port);
  return result;
}

napi_status udp_register(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"udpOpen", NULL, udp_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendTo", NULL, send_to, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpLocalAddress", NULL, local_address, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
}
