# Learning-rate changes on a live optimizer.
tnn_add_test(NAME test_optim_lr SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_optim_lr.c LABELS unit)
