# Sample quality (issue 9): the metrics behind mnist_score (label unit), and
# mnist_classifier and mnist_score end to end on small files the test writes itself
# (labels smoke and cli; each case is its own ctest test, a few seconds each).
if(TARGET tinynn_quality)
  tnn_add_test(NAME test_mnist_metrics SOURCES test_mnist_metrics.c LABELS unit)
  target_link_libraries(test_mnist_metrics PRIVATE tinynn_quality)
endif()

if(TARGET mnist_classifier AND TARGET mnist_score)
  add_executable(test_mnist_quality_smoke test_mnist_quality_smoke.c)
  target_link_libraries(test_mnist_quality_smoke PRIVATE tinynn_testutil tinynn_quality tinynn_warnings)
  add_dependencies(test_mnist_quality_smoke mnist_classifier mnist_score)
  foreach(_case smoke_train_and_score cli_score_bad_input cli_classifier_bad_input cli_score_damaged_files
                cli_classifier_damaged_files cli_classifier_signal_in_write)
    string(REGEX MATCH "^[a-z]+" _label ${_case})
    add_test(NAME ${_case} COMMAND test_mnist_quality_smoke ${_case}
             $<TARGET_FILE:mnist_classifier> $<TARGET_FILE:mnist_score>)
    set_tests_properties(${_case} PROPERTIES LABELS ${_label} TIMEOUT 60 ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
  endforeach()
endif()
