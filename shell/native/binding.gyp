# The native addon (one binary, build/Release/packet.node): AF_PACKET sockets for ARP/NDP, TCP with
# MD5/TTL control for BGP, UDP with TTL reporting for BFD (Linux only). Built by `npm run build:native`.
{
  "targets": [
    {
      "target_name": "packet",
      "sources": [
        "src/addon.c",
        "src/address.c",
        "src/arguments.c",
        "src/errors.c",
        "src/netns.c",
        "src/packet.c",
        "src/reader.c",
        "src/socket_options.c",
        "src/tcp_connect.c",
        "src/tcp_listen.c",
        "src/udp.c"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-fvisibility=hidden"]
    }
  ]
}
