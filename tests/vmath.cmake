# Vectorisable math and the parallel loop (private parts of the library).
tnn_add_test(NAME test_vmath SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_vmath.c LABELS unit)
target_link_libraries(test_vmath PRIVATE pthread)
