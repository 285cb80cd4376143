# Dependencies. Host builds use Debian's -dev packages (pkg-config) and mbedTLS 3.6 built by
# tools/bootstrap.sh; the Cortex-M core compile uses the headers of the Debian source
# packages that bootstrap unpacked into the cache.

set(EVT_MBEDTLS_CONFIG "${CMAKE_SOURCE_DIR}/include/evt_mbedtls_config.h")
if(EVT_BOARD STREQUAL "mps2-an385")
  # The board's client-only profile on top of the product one (boards/mps2-an385/).
  set(EVT_MBEDTLS_CONFIG "${CMAKE_SOURCE_DIR}/boards/mps2-an385/evt_mbedtls_board.h")
endif()

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
elseif(EVT_BOARD STREQUAL "mps2-an385")
  # Cortex-M3 libraries cross-built by tools/cross-deps.sh (called by tools/bootstrap.sh) into
  # .cache/cross/cortex-m3-<key>. The key is computed exactly as that script does: the
  # SHA-256 of each input file and each source package version, one per line, hashed again.
  set(_evt_key_files include/evt_mbedtls_config.h boards/mps2-an385/evt_mbedtls_board.h
                     cmake/arm-none-eabi.cmake cmake/arm-none-eabi-cortex-m3.cmake
                     tools/cross-deps.sh ports/qrencode/evt_qrencode_alloc.h)
  set(_evt_key_in "")
  foreach(_f ${_evt_key_files})
    file(SHA256 "${CMAKE_SOURCE_DIR}/${_f}" _h)
    string(APPEND _evt_key_in "${_h}\n")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${CMAKE_SOURCE_DIR}/${_f}")
  endforeach()
  foreach(_pkg mbedtls cjson qrencode cmocka)
    set(_stamp "${EVT_CACHE_DIR}/src/${_pkg}/.evt-stamp")
    if(NOT EXISTS "${_stamp}")
      message(FATAL_ERROR "${_stamp} missing: run tools/bootstrap.sh")
    endif()
    file(STRINGS "${_stamp}" _v LIMIT_COUNT 1)
    string(APPEND _evt_key_in "${_v}\n")
  endforeach()
  string(SHA256 _evt_key "${_evt_key_in}")
  string(SUBSTRING "${_evt_key}" 0 12 _evt_key)
  set(EVT_CROSS_PREFIX "${EVT_CACHE_DIR}/cross/cortex-m3-${_evt_key}")
  if(NOT EXISTS "${EVT_CROSS_PREFIX}/.evt-stamp")
    message(FATAL_ERROR "no Cortex-M3 dependencies for these inputs (${EVT_CROSS_PREFIX}): "
                        "run tools/bootstrap.sh")
  endif()
  foreach(_lib mbedtls mbedx509 mbedcrypto everest p256m cjson qrencode cmocka)
    add_library(evt_x_${_lib} STATIC IMPORTED)
    set_target_properties(evt_x_${_lib} PROPERTIES
      IMPORTED_LOCATION "${EVT_CROSS_PREFIX}/lib/lib${_lib}.a"
      INTERFACE_INCLUDE_DIRECTORIES "${EVT_CROSS_PREFIX}/include")
  endforeach()
  # mbedTLS calls back into the core (entropy, clock hooks) and libqrencode allocates from
  # the arena through ports/qrencode: the static libraries form cycles CMake repeats.
  add_library(evt_qrencode_port STATIC "${CMAKE_SOURCE_DIR}/ports/qrencode/qrencode_alloc.c")
  target_include_directories(evt_qrencode_port PRIVATE "${CMAKE_SOURCE_DIR}/include")
  set_target_properties(evt_x_mbedcrypto PROPERTIES INTERFACE_LINK_LIBRARIES "evt_x_everest;evt_x_p256m;evt_core")
  set_target_properties(evt_x_qrencode PROPERTIES INTERFACE_LINK_LIBRARIES "evt_qrencode_port;evt_core")
  add_library(evt_mbedtls INTERFACE)
  target_link_libraries(evt_mbedtls INTERFACE evt_x_mbedtls evt_x_mbedx509 evt_x_mbedcrypto)
  target_compile_definitions(evt_mbedtls INTERFACE "MBEDTLS_USER_CONFIG_FILE=\"${EVT_MBEDTLS_CONFIG}\""
                                                   EVT_MBEDTLS_BARE_METAL)
  add_library(evt_cjson INTERFACE)
  target_link_libraries(evt_cjson INTERFACE evt_x_cjson)
  add_library(evt_qrencode INTERFACE)
  target_link_libraries(evt_qrencode INTERFACE evt_x_qrencode)
  add_library(evt_cmocka INTERFACE)
  target_link_libraries(evt_cmocka INTERFACE evt_x_cmocka)
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
