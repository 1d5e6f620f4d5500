# Vectorisable math and the parallel loop (private parts of the library).
tnn_add_test(NAME test_vmath SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_vmath.c LABELS unit)
target_link_libraries(test_vmath PRIVATE pthread)
# The exhaustive-stride accuracy sweeps: label `math`, outside the valgrind stage.
add_test(NAME test_vmath_sweep COMMAND test_vmath sweep)
set_tests_properties(test_vmath_sweep PROPERTIES LABELS math TIMEOUT 300)
