// The addon's entry point: one binary (build/Release/packet.node) for every socket the shell needs
// beyond Node's own: AF_PACKET frames for ARP/NDP (packet.c), TCP with MD5 and TTL control for BGP
// (tcp_connect.c, tcp_listen.c, socket_options.c) and UDP with TTL reporting for BFD (udp.c). Packet and
// UDP handles share startReading/stopReading/close/stats (reader.c).
#include "addon.h"

static napi_value init(napi_env env, napi_value exports) {
  napi_status (*registrations[])(napi_env, napi_value) = {
      reader_register, packet_register, socket_options_register, tcp_connect_register, tcp_listen_register,
      udp_register,
  };
  for (size_t i = 0; i < sizeof registrations / sizeof registrations[0]; i++) {
    NAPI_CALL(env, registrations[i](env, exports));
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
