# Dependencies. Host builds use Debian's -dev packages (pkg-config) and mbedTLS 3.6 built by
# tools/bootstrap.sh; the Cortex-M core compile uses the headers of the Debian source
# packages that bootstrap unpacked into the cache.

set(EVT_MBEDTLS_CONFIG "${CMAKE_SOURCE_DIR}/include/evt_mbedtls_config.h")

if(EVT_BOARD STREQUAL "sim")
  find_package(PkgConfig REQUIRED)
  find_package(MbedTLS 3.6 CONFIG REQUIRED
               PATHS "${EVT_CACHE_DIR}/host/mbedtls" NO_DEFAULT_PATH)
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
