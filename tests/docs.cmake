# The code in docs/custom_module.md is compiled and exercised, so the page cannot rot.
file(READ "${PROJECT_SOURCE_DIR}/docs/custom_module.md" _tnn_doc)
string(REGEX MATCH "```c\n(.*)\n```\n\nOnce written" _tnn_m "${_tnn_doc}")
if(NOT CMAKE_MATCH_1)
  message(FATAL_ERROR "tests/docs.cmake: no C code block found in docs/custom_module.md")
endif()
file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/doc_custom_module.c" "${CMAKE_MATCH_1}\n")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/docs/custom_module.md")
tnn_add_test(NAME test_doc_custom_module
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_doc_custom_module.c ${CMAKE_CURRENT_BINARY_DIR}/doc_custom_module.c
  LABELS unit)
