// Raw Ethernet frames for the L2 announcer: AF_PACKET sockets bound to one interface and one EtherType,
// optionally inside another network namespace (netns.c), read through the shared poll reader (reader.c)
// and written with sendto(2). For NDP the socket can also join link-layer multicast addresses
// (PACKET_MR_MULTICAST): an interface that filters multicast in hardware (or macvlan, in software) only
// passes frames for the solicited-node MACs (33:33:ff:xx:xx:xx) of addresses someone asked for, and the
// kernel asks only for the addresses it owns itself. The membership is the socket's: it ends when the
// socket closes. It adds a MAC filter only and sends no MLD report.
#include "addon.h"

#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define FRAME_BUFFER_BYTES 65536
#define MIN_FRAME_BYTES 14

typedef struct {
  int ifindex;
  uint16_t ether_type;  // host byte order
  char interface_name[IF_NAMESIZE];
} packet_data;

static const char *packet_handle_expected = "a packet socket handle from openPacket()";

// "<context>: <syscall> failed for interface '<name>'[ in network namespace '<path>']: ...", with
// `interface` (and `netns`) as properties.
static napi_value packet_error(napi_env env, int err, const char *syscall_name, const char *context,
                               const char *interface_name, const char *netns_path) {
  char subject[IF_NAMESIZE + 16];
  snprintf(subject, sizeof subject, "interface '%s'", interface_name);
  napi_value error = system_error(env, err, syscall_name, context, subject, netns_path);
  if (error != NULL) set_string_property(env, error, "interface", interface_name);
  return error;
}

static napi_value packet_kind_error(napi_env env, sock_handle *h, int err, const char *syscall_name,
                                    const char *context) {
  char prefixed[128];
  snprintf(prefixed, sizeof prefixed, "packet %s", context);
  return packet_error(env, err, syscall_name, prefixed, ((packet_data *)h->data)->interface_name, h->netns_path);
}

static int packet_read_one(napi_env env, sock_handle *h, napi_value *value) {
  struct sockaddr_ll from;
  socklen_t from_length = sizeof from;
  ssize_t n = recvfrom(h->fd, h->buffer, h->buffer_bytes, MSG_TRUNC, (struct sockaddr *)&from, &from_length);
  if (n < 0) return -errno;
  if (from.sll_pkttype == PACKET_OUTGOING) return 0;
  if ((size_t)n > h->buffer_bytes) {
    // Larger than any frame we handle (MSG_TRUNC gave the real length): count and drop it.
    h->errors += 1;
    return 0;
  }
  if (napi_create_buffer_copy(env, (size_t)n, h->buffer, NULL, value) != napi_ok) return -ENOMEM;
  return 1;
}

static const sock_kind packet_kind = {"packet", "metallb-ts:PacketSocket", "recvfrom", packet_read_one, packet_kind_error};

static int interface_ioctl(napi_env env, int fd, unsigned long request, const char *request_name, struct ifreq *ifr,
                           const char *interface_name, const char *netns_path, const char *context) {
  memset(ifr, 0, sizeof *ifr);
  copy_string(ifr->ifr_name, sizeof ifr->ifr_name, interface_name);
  if (ioctl(fd, request, ifr) != 0) {
    char syscall_name[64];
    snprintf(syscall_name, sizeof syscall_name, "ioctl(%s)", request_name);
    throw_error_value(env, packet_error(env, errno, syscall_name, context, interface_name, netns_path));
    return -1;
  }
  return 0;
}

static int packet_socket_in_netns(napi_env env, int domain, int type, const char *netns_path, const char *context,
                                  const char *interface_name) {
  netns_failure failure;
  int fd = socket_in_netns(domain, type, 0, netns_path, &failure);
  if (fd < 0) {
    throw_error_value(env, packet_error(env, failure.err, failure.syscall_name, context, interface_name, failure.path));
  }
  return fd;
}

// ---------------------------------------------------------------------------------------------------
// interfaceInfo(name, netnsPath?) -> { index, mac, mtu }

static napi_value interface_info(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char interface_name[IF_NAMESIZE];
  char netns_path[NETNS_PATH_BYTES];
  if (argc < 1) {
    throw_type_error(env, "ERR_MISSING_ARGS", "interfaceInfo(name, netnsPath?) needs an interface name");
    return NULL;
  }
  if (get_string_arg(env, argv[0], "interface name", interface_name, sizeof interface_name) != 0) return NULL;
  if (get_optional_string_arg(env, argc, argv, 1, "netnsPath", netns_path, sizeof netns_path) < 0) return NULL;

  const char *context = "interfaceInfo";
  int fd = packet_socket_in_netns(env, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, netns_path, context, interface_name);
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
// openPacket(interfaceName, etherType, netnsPath?) -> handle

static napi_value open_packet(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    throw_type_error(env, "ERR_MISSING_ARGS", "openPacket(interfaceName, etherType, netnsPath?) needs two arguments");
    return NULL;
  }
  char interface_name[IF_NAMESIZE];
  char netns_path[NETNS_PATH_BYTES];
  int64_t ether_type = 0;
  if (get_string_arg(env, argv[0], "interface name", interface_name, sizeof interface_name) != 0) return NULL;
  if (get_integer_arg(env, argv[1], "etherType (ETH_P_ALL is 3)", 1, 0xffff, &ether_type) != 0) return NULL;
  if (get_optional_string_arg(env, argc, argv, 2, "netnsPath", netns_path, sizeof netns_path) < 0) return NULL;

  const char *context = "openPacket";
  // Protocol 0 at creation: the socket receives nothing until bind() names both interface and protocol,
  // so no frame from another interface can slip in between.
  int fd = packet_socket_in_netns(env, AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, netns_path, context,
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
  address.sll_protocol = htons((uint16_t)ether_type);
  address.sll_ifindex = ifr.ifr_ifindex;
  if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) {
    int err = errno;
    close(fd);
    throw_error_value(env, packet_error(env, err, "bind", context, interface_name, netns_path));
    return NULL;
  }

  packet_data *data = calloc(1, sizeof *data);
  sock_handle *h = data == NULL ? NULL : sock_handle_new(&packet_kind, fd, FRAME_BUFFER_BYTES, netns_path, data);
  if (h == NULL) {
    free(data);
    close(fd);
    throw_error_value(env, packet_error(env, ENOMEM, "malloc", context, interface_name, netns_path));
    return NULL;
  }
  data->ifindex = ifr.ifr_ifindex;
  data->ether_type = (uint16_t)ether_type;
  copy_string(data->interface_name, sizeof data->interface_name, interface_name);
  return sock_handle_wrap(env, h);
}

// ---------------------------------------------------------------------------------------------------
// send(handle, frame) -> bytesSent

static napi_value send_frame(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    throw_type_error(env, "ERR_MISSING_ARGS", "send(handle, frame) needs a handle and a frame");
    return NULL;
  }
  sock_handle *h = sock_handle_get(env, argv[0], &packet_kind, packet_handle_expected);
  if (h == NULL) return NULL;
  packet_data *data = (packet_data *)h->data;
  void *frame = NULL;
  size_t length = 0;
  if (get_buffer_arg(env, argv[1], "send: frame", &frame, &length) != 0) return NULL;
  if (length < MIN_FRAME_BYTES) {
    throw_range_error(env, "ERR_FRAME_TOO_SHORT",
                      "send: frame is %zu bytes; an Ethernet frame needs at least %d (destination, source, EtherType)",
                      length, MIN_FRAME_BYTES);
    return NULL;
  }
  if (h->fd < 0) {
    throw_error_value(env, packet_error(env, EBADF, "sendto", "packet socket is closed", data->interface_name, h->netns_path));
    return NULL;
  }

  struct sockaddr_ll to;
  memset(&to, 0, sizeof to);
  to.sll_family = AF_PACKET;
  to.sll_ifindex = data->ifindex;
  to.sll_protocol = htons(data->ether_type);
  to.sll_halen = ETH_ALEN;
  memcpy(to.sll_addr, frame, ETH_ALEN);

  ssize_t n;
  do {
    n = sendto(h->fd, frame, length, 0, (struct sockaddr *)&to, sizeof to);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    throw_error_value(env, packet_error(env, errno, "sendto", "send", data->interface_name, h->netns_path));
    return NULL;
  }
  h->sent += 1;
  napi_value result;
  NAPI_CALL(env, napi_create_int64(env, (int64_t)n, &result));
  return result;
}

// ---------------------------------------------------------------------------------------------------
// addMulticastMembership(handle, mac) / dropMulticastMembership(handle, mac)

static napi_value change_membership(napi_env env, napi_callback_info info, int option, const char *name) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    throw_type_error(env, "ERR_MISSING_ARGS", "%s(handle, mac) needs a handle and a MAC address", name);
    return NULL;
  }
  sock_handle *h = sock_handle_get(env, argv[0], &packet_kind, packet_handle_expected);
  if (h == NULL) return NULL;
  packet_data *data = (packet_data *)h->data;
  void *mac = NULL;
  size_t length = 0;
  if (get_buffer_arg(env, argv[1], "mac", &mac, &length) != 0) return NULL;
  if (length != ETH_ALEN || (((const uint8_t *)mac)[0] & 1) == 0) {
    throw_range_error(env, "ERR_INVALID_ARG_VALUE",
                      "%s: mac must be 6 bytes with the group bit set (a multicast MAC such as 33:33:ff:00:00:01)", name);
    return NULL;
  }
  if (h->fd < 0) {
    throw_error_value(env, packet_error(env, EBADF, "setsockopt", "packet socket is closed", data->interface_name, h->netns_path));
    return NULL;
  }
  struct packet_mreq request;
  memset(&request, 0, sizeof request);
  request.mr_ifindex = data->ifindex;
  request.mr_type = PACKET_MR_MULTICAST;
  request.mr_alen = ETH_ALEN;
  memcpy(request.mr_address, mac, ETH_ALEN);
  if (setsockopt(h->fd, SOL_PACKET, option, &request, sizeof request) != 0) {
    const char *syscall_name = option == PACKET_ADD_MEMBERSHIP ? "setsockopt(PACKET_ADD_MEMBERSHIP)"
                                                               : "setsockopt(PACKET_DROP_MEMBERSHIP)";
    throw_error_value(env, packet_error(env, errno, syscall_name, name, data->interface_name, h->netns_path));
  }
  return NULL;
}

static napi_value add_membership(napi_env env, napi_callback_info info) {
  return change_membership(env, info, PACKET_ADD_MEMBERSHIP, "addMulticastMembership");
}

static napi_value drop_membership(napi_env env, napi_callback_info info) {
  return change_membership(env, info, PACKET_DROP_MEMBERSHIP, "dropMulticastMembership");
}

napi_status packet_register(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"interfaceInfo", NULL, interface_info, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openPacket", NULL, open_packet, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, send_frame, NULL, NULL, NULL, napi_enumerable, NULL},
      {"addMulticastMembership", NULL, add_membership, NULL, NULL, NULL, napi_enumerable, NULL},
      {"dropMulticastMembership", NULL, drop_membership, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_status status = napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  if (status != napi_ok) return status;
  napi_value eth_p_all;
  status = napi_create_uint32(env, ETH_P_ALL, &eth_p_all);
  if (status != napi_ok) return status;
  return napi_set_named_property(env, exports, "ETH_P_ALL", eth_p_all);
}
