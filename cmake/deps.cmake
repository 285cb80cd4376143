# Dependencies. Host builds use Debian's -dev packages (pkg-config) and mbedTLS 3.6 built by
# tools/bootstrap.sh; the Cortex-M core compile uses the headers of the Debian source
# packages that bootstrap unpacked into the cache.

set(EVT_MBEDTLS_CONFIG "${CMAKE_SOURCE_DIR}/include/evt_mbedtls_config.h")

if(EVT_BOARD STREQUAL "sim")
  find_package(PkgConfig REQUIRED)
  # tools/bootstrap.sh installs one mbedTLS per content of the config header
  # (host/mbedtls-<first 12 hex of its SHA-256>), so every tree sharing the cache links the
  # build that matches its own header, and editing the header asks for a new build.
  file(SHA256 "${EVT_MBEDTLS_CONFIG}" _evt_mbedtls_hash)
  string(SUBSTRING "${_evt_mbedtls_hash}" 0 12 _evt_mbedtls_hash)
  set(_evt_mbedtls_prefix "${EVT_CACHE_DIR}/host/mbedtls-${_evt_mbedtls_hash}")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${EVT_MBEDTLS_CONFIG}")
  if(NOT EXISTS "${_evt_mbedtls_prefix}/.evt-stamp")
    message(FATAL_ERROR "no mbedTLS built with this include/evt_mbedtls_config.h "
                        "(${_evt_mbedtls_prefix}): run tools/bootstrap.sh")
  endif()
  set(MbedTLS_DIR "${_evt_mbedtls_prefix}/lib/cmake/MbedTLS" CACHE PATH "mbedTLS for this config" FORCE)
  find_package(MbedTLS 3.6 CONFIG REQUIRED)
  # The exported targets name the config header by the path of the tree that built them; the
  # content is the same (same hash), and this tree's own path is set on evt_mbedtls below.
  foreach(_t everest p256m mbedcrypto mbedx509 mbedtls)
    set_property(TARGET MbedTLS::${_t} PROPERTY INTERFACE_COMPILE_DEFINITIONS "")
  endforeach()
  add_library(evt_mbedtls INTERFACE)
  target_link_libraries(evt_mbedtls INTERFACE MbedTLS::mbedtls MbedTLS::mbedx509 MbedTLS::mbedcrypto)
  target_compile_definitions(evt_mbedtls INTERFACE "MBEDTLS_USER_CONFIG_FILE=\"${EVT_MBEDTLS_CONFIG}\"")

  pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)
  pkg_check_modules(QRENCODE REQUIRED IMPORTED_TARGET libqrencode)
  pkg_check_modules(ZBAR REQUIRED IMPORTED_TARGET zbar)
  pkg_check_modules(PNG REQUIRED IMPORTED_TARGET libpng)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
  pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
  pkg_check_modules(GNUTLS REQUIRED IMPORTED_TARGET gnutls)
  pkg_check_modules(SQLITE REQUIRED IMPORTED_TARGET sqlite3)
  pkg_check_modules(JSONC REQUIRED IMPORTED_TARGET json-c)
  add_library(evt_cjson INTERFACE)
  target_link_libraries(evt_cjson INTERFACE PkgConfig::CJSON)
  add_library(evt_qrencode INTERFACE)
  target_link_libraries(evt_qrencode INTERFACE PkgConfig::QRENCODE)
else()
  # Cross: headers only (the core is compiled, not linked, in this configuration).
  set(_src "${EVT_CACHE_DIR}/src")
  foreach(_pkg mbedtls cjson qrencode)
    if(NOT EXISTS "${_src}/${_pkg}/.evt-stamp")
      message(FATAL_ERROR "${_src}/${_pkg} missing: run tools/bootstrap.sh first")
    endif()
  endforeach()
  # Debian installs cJSON.h as <cjson/cJSON.h>; mirror that layout for the source tree.
  file(COPY "${_src}/cjson/cJSON.h" DESTINATION "${CMAKE_BINARY_DIR}/cross-include/cjson")
  add_library(evt_mbedtls INTERFACE)
  target_include_directories(evt_mbedtls SYSTEM INTERFACE "${_src}/mbedtls/include")
  target_compile_definitions(evt_mbedtls INTERFACE "MBEDTLS_USER_CONFIG_FILE=\"${EVT_MBEDTLS_CONFIG}\""
                                                   EVT_MBEDTLS_BARE_METAL)
  add_library(evt_cjson INTERFACE)
  target_include_directories(evt_cjson SYSTEM INTERFACE "${CMAKE_BINARY_DIR}/cross-include")
  add_library(evt_qrencode INTERFACE)
  target_include_directories(evt_qrencode SYSTEM INTERFACE "${_src}/qrencode")
endif()
