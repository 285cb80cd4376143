# lwIP 2.2 (Debian trixie source package, unpacked by tools/bootstrap.sh into the cache) with
# the terminal's configuration (hal/lwip/include/lwipopts.h) and the lwIP drivers of hal/lwip.
#
#   evt_add_lwip(<target> [LOOPBACK])
#
# makes one static library: the parts of lwIP the terminal uses (IPv4, ARP/Ethernet, DHCP,
# DNS, TCP, UDP, SNTP), the port, the hal_net driver and the LAN9118 netif driver. LOOPBACK builds the loopback interface
# in, for the host unit test of the driver (tests/unit/test_net_lwip.c).

set(EVT_LWIP_DIR "${EVT_CACHE_DIR}/src/lwip")

function(evt_add_lwip target)
  cmake_parse_arguments(ARG "LOOPBACK" "" "" ${ARGN})
  if(NOT EXISTS "${EVT_LWIP_DIR}/.evt-stamp")
    message(FATAL_ERROR "${EVT_LWIP_DIR} missing: run tools/bootstrap.sh first")
  endif()
  set(_l "${EVT_LWIP_DIR}/src")
  set(_lwip_sources
      ${_l}/core/init.c ${_l}/core/def.c ${_l}/core/dns.c ${_l}/core/inet_chksum.c
      ${_l}/core/ip.c ${_l}/core/mem.c ${_l}/core/memp.c ${_l}/core/netif.c ${_l}/core/pbuf.c
      ${_l}/core/stats.c ${_l}/core/sys.c ${_l}/core/tcp.c ${_l}/core/tcp_in.c
      ${_l}/core/tcp_out.c ${_l}/core/timeouts.c ${_l}/core/udp.c
      ${_l}/core/ipv4/acd.c ${_l}/core/ipv4/dhcp.c ${_l}/core/ipv4/etharp.c
      ${_l}/core/ipv4/icmp.c ${_l}/core/ipv4/ip4.c ${_l}/core/ipv4/ip4_addr.c
      ${_l}/core/ipv4/ip4_frag.c ${_l}/netif/ethernet.c ${_l}/apps/sntp/sntp.c)
  add_library(${target} STATIC ${_lwip_sources}
              "${CMAKE_SOURCE_DIR}/hal/lwip/lwip_port.c" "${CMAKE_SOURCE_DIR}/hal/lwip/net_lwip.c"
              "${CMAKE_SOURCE_DIR}/hal/lwip/lan9118.c")
  target_include_directories(${target} PUBLIC "${CMAKE_SOURCE_DIR}/hal/lwip/include")
  target_include_directories(${target} SYSTEM PUBLIC "${_l}/include")
  target_link_libraries(${target} PUBLIC evt_core)
  if(ARG_LOOPBACK)
    target_compile_definitions(${target} PUBLIC EVT_LWIP_LOOPBACK)
  endif()
  # lwIP's own sources are third-party: build them without the project's warning set.
  set_source_files_properties(${_lwip_sources} TARGET_DIRECTORY ${target}
                              PROPERTIES COMPILE_OPTIONS "-w")
endfunction()
