# Consumer test: install the library, then build and run a separate project against it
# (only when the install rules exist: TINYNN_INSTALL).
if(TINYNN_INSTALL)
add_test(NAME consumer_install_find_package_pkgconfig
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run.sh ${PROJECT_BINARY_DIR}
          ${CMAKE_CURRENT_SOURCE_DIR}/consumer ${CMAKE_CURRENT_BINARY_DIR}/consumer-work ${TINYNN_STATIC_LOCAL})
set_tests_properties(consumer_install_find_package_pkgconfig PROPERTIES LABELS "install" TIMEOUT 300
  ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
endif()
