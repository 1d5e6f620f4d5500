# Build-time dependencies of libtinynn besides OpenBLAS: zlib (gzipped IDX files),
# stb_image_write (PNG grids), cmocka (tests). Each missing one stops configuration
# with the Debian package that provides it.
find_package(ZLIB QUIET)
if(NOT ZLIB_FOUND)
  message(FATAL_ERROR "libtinynn needs zlib, which was not found.\n"
                      "On Debian/Ubuntu install it with:  apt-get install zlib1g-dev")
endif()

find_path(TINYNN_STB_INCLUDE_DIR stb_image_write.h PATH_SUFFIXES stb)
if(NOT TINYNN_STB_INCLUDE_DIR)
  message(FATAL_ERROR "libtinynn needs stb_image_write.h, which was not found.\n"
                      "On Debian/Ubuntu install it with:  apt-get install libstb-dev")
endif()

if(TINYNN_BUILD_TESTS)
  find_package(cmocka CONFIG QUIET)
  if(NOT cmocka_FOUND)
    message(FATAL_ERROR "The tests need cmocka, which was not found.\n"
                        "On Debian/Ubuntu install it with:  apt-get install libcmocka-dev\n"
                        "(or configure with -DTINYNN_BUILD_TESTS=OFF)")
  endif()
  if(NOT TARGET tinynn::cmocka)
    add_library(tinynn::cmocka INTERFACE IMPORTED)
    set_target_properties(tinynn::cmocka PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${CMOCKA_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "${CMOCKA_LIBRARIES}")
  endif()
endif()
