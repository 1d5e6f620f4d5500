# Core test suite (issue 2): unit tests of tensors, RNG, gemm, modules, Sequential,
# losses and optimizers (label `unit`), and gradient checks of every backward pass
# (label `gradcheck`). Executables that hold several checks take the check's name as
# their argument, so that every check is its own ctest test.

# Gradient checks: one ctest test per check, named after the layer.
foreach(case gradcheck_linear gradcheck_linear_nobias gradcheck_linear_3d_input)
  tnn_add_test(NAME ${case} SOURCES test_gradcheck_linear.c ARGS ${case} LABELS gradcheck)
endforeach()
foreach(case gradcheck_leaky_relu gradcheck_relu gradcheck_tanh gradcheck_sigmoid)
  tnn_add_test(NAME ${case} SOURCES test_gradcheck_activation.c ARGS ${case} LABELS gradcheck)
endforeach()

# The harness itself: it must fail on wrong backward passes.
foreach(case gradcheck_harness_passes_correct_module gradcheck_harness_detects_wrong_input_grad
             gradcheck_harness_detects_one_percent_error gradcheck_harness_detects_wrong_param_grad
             gradcheck_harness_detects_unaccumulated_grad gradcheck_harness_detects_missing_dx
             gradcheck_harness_detects_zero_vs_zero gradcheck_harness_loss_detects_wrong_grad)
  tnn_add_test(NAME ${case} SOURCES test_gradcheck_harness.c ARGS ${case} LABELS gradcheck)
endforeach()
foreach(case gradcheck_batchnorm1d_train_b2 gradcheck_batchnorm1d_train_b2_eps gradcheck_batchnorm1d_train_b3
             gradcheck_batchnorm1d_train_b8 gradcheck_batchnorm1d_train_b16 gradcheck_batchnorm1d_train_eps
             gradcheck_batchnorm1d_eval gradcheck_batchnorm1d_eval_b1 gradcheck_batchnorm1d_noaffine_train
             gradcheck_batchnorm1d_untracked_eval)
  tnn_add_test(NAME ${case} SOURCES test_gradcheck_batchnorm1d.c ARGS ${case} LABELS gradcheck)
endforeach()
tnn_add_test(NAME gradcheck_dropout SOURCES test_gradcheck_dropout.c LABELS gradcheck)
tnn_add_test(NAME gradcheck_sequential SOURCES test_gradcheck_sequential.c LABELS gradcheck)
foreach(case gradcheck_bce gradcheck_bce_with_logits gradcheck_mse gradcheck_cross_entropy)
  tnn_add_test(NAME ${case} SOURCES test_gradcheck_loss.c ARGS ${case} LABELS gradcheck)
endforeach()

# Unit tests: one executable per component.
tnn_add_test(NAME test_rng SOURCES test_rng.c LABELS unit)
tnn_add_test(NAME test_gemm SOURCES test_gemm.c LABELS unit)
tnn_add_test(NAME test_tensor SOURCES test_tensor.c LABELS unit)
tnn_add_test(NAME test_module SOURCES test_module.c LABELS unit)
tnn_add_test(NAME test_sequential SOURCES test_sequential.c LABELS unit)
tnn_add_test(NAME test_loss SOURCES test_loss.c LABELS unit)
tnn_add_test(NAME test_optim SOURCES test_optim.c LABELS unit)
