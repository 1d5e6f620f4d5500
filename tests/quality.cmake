# Sample quality (issue 9): the metrics behind mnist_score (label unit) and the two
# programs end to end on small files the test writes itself (labels smoke and cli).
if(TARGET tinynn_quality)
  tnn_add_test(NAME test_mnist_metrics SOURCES test_mnist_metrics.c LABELS unit)
  target_link_libraries(test_mnist_metrics PRIVATE tinynn_quality)
endif()
