# cmake --install: headers, libtinynn.a, libtinynn.so (versioned SONAME), the CMake
# package (find_package(tinynn CONFIG) -> tinynn::tinynn, tinynn::tinynn_static) and
# tinynn.pc. Private headers (src/*_impl.h) are never installed.
include(CMakePackageConfigHelpers)

set(TINYNN_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/tinynn")

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/tinynn" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        FILES_MATCHING PATTERN "*.h")
install(TARGETS tinynn_static tinynn_shared EXPORT tinynnTargets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}"
        INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(EXPORT tinynnTargets NAMESPACE tinynn:: DESTINATION "${TINYNN_CMAKE_DIR}")

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/tinynnConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/tinynnConfig.cmake" INSTALL_DESTINATION "${TINYNN_CMAKE_DIR}")
# Before 1.0 only the same minor release is compatible (see TINYNN_VERSION_MAJOR).
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(_tnn_compat SameMinorVersion)
else()
  set(_tnn_compat SameMajorVersion)
endif()
write_basic_package_version_file("${PROJECT_BINARY_DIR}/tinynnConfigVersion.cmake"
  VERSION ${PROJECT_VERSION} COMPATIBILITY ${_tnn_compat})
install(FILES "${PROJECT_BINARY_DIR}/tinynnConfig.cmake" "${PROJECT_BINARY_DIR}/tinynnConfigVersion.cmake"
              "${PROJECT_SOURCE_DIR}/cmake/TinynnFindOpenBLAS.cmake"
        DESTINATION "${TINYNN_CMAKE_DIR}")

# tinynn.pc finds its prefix relative to itself, so `cmake --install --prefix` works.
file(RELATIVE_PATH TINYNN_PC_TO_PREFIX "/root/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/root")
configure_file("${PROJECT_SOURCE_DIR}/cmake/tinynn.pc.in" "${PROJECT_BINARY_DIR}/tinynn.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/tinynn.pc" DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
