# PyTorch parity tests (issue 4), label `parity`. They read the goldens committed under
# tests/data/parity/, written by tests/parity/gen_goldens.py (docs/parity.md); torch is
# not needed to run them. Executables that cover several components take the
# component's name as their argument, so that each is its own ctest test.

add_library(tinynn_parity STATIC ${CMAKE_CURRENT_SOURCE_DIR}/parity/parity.c)
target_include_directories(tinynn_parity PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(tinynn_parity PRIVATE TNN_TEST_DATA_DIR="${CMAKE_CURRENT_SOURCE_DIR}/data")
target_link_libraries(tinynn_parity PUBLIC tinynn tinynn::cmocka m PRIVATE tinynn_warnings)

function(tnn_add_parity_test name source)
  tnn_add_test(NAME ${name} SOURCES ${source} LABELS parity ${ARGN})
  target_link_libraries(${name} PRIVATE tinynn_parity)
endfunction()
tnn_add_parity_test(parity_linear test_parity_linear.c)
tnn_add_parity_test(parity_conv2d test_parity_conv2d.c)
tnn_add_parity_test(parity_maxpool2d test_parity_maxpool2d.c)
tnn_add_parity_test(parity_conv_transpose2d test_parity_conv_transpose2d.c)
tnn_add_parity_test(parity_upsample test_parity_upsample.c)
tnn_add_parity_test(parity_batchnorm1d test_parity_batchnorm1d.c)
foreach(act leaky_relu relu tanh sigmoid)
  tnn_add_parity_test(parity_${act} test_parity_activation.c ARGS ${act})
endforeach()
foreach(sm softmax log_softmax)
  tnn_add_parity_test(parity_${sm} test_parity_softmax.c ARGS ${sm})
endforeach()
foreach(loss bce bce_with_logits mse cross_entropy cross_entropy_with nll)
  tnn_add_parity_test(parity_${loss} test_parity_loss.c ARGS ${loss})
endforeach()
tnn_add_parity_test(parity_adam test_parity_optim.c ARGS adam)
tnn_add_parity_test(parity_sgd test_parity_optim.c ARGS sgd)
tnn_add_parity_test(parity_clip test_parity_clip.c)
tnn_add_parity_test(parity_gan_iteration test_parity_gan.c ARGS gan_iteration)
tnn_add_parity_test(parity_gan_5_iterations test_parity_gan.c ARGS gan_5_iterations)
