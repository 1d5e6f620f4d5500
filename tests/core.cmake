# Core test suite (issue 2): unit tests of tensors, RNG, gemm, modules, Sequential,
# losses and optimizers (label `unit`), and gradient checks of every backward pass and
# of the checker itself (label `gradcheck`).

# One ctest test per cmocka test of `source`: the executable runs the test named by
# its argument (tu_main in common/testutil.c), so every check passes or fails alone.
function(tnn_core_cases source label)
  set_property(GLOBAL APPEND PROPERTY TNN_CASE_EXES "${source}=${CMAKE_CURRENT_SOURCE_DIR}/${source}")
  set_property(GLOBAL APPEND PROPERTY TNN_CASES_${source} ${ARGN})
  foreach(case ${ARGN})
    tnn_add_test(NAME ${case} SOURCES ${source} ARGS ${case} LABELS ${label})
  endforeach()
endfunction()

# Gradient checks, named after the layer or loss (common/gradcheck.h).
tnn_core_cases(test_gradcheck_linear.c gradcheck
  gradcheck_linear gradcheck_linear_nobias gradcheck_linear_3d_input)
tnn_core_cases(test_gradcheck_batchnorm1d.c gradcheck
  gradcheck_batchnorm1d_train_b2 gradcheck_batchnorm1d_train_b3 gradcheck_batchnorm1d_train_b8
  gradcheck_batchnorm1d_train_b16 gradcheck_batchnorm1d_train_b5_eps1e3 gradcheck_batchnorm1d_train_b2_eps
  gradcheck_batchnorm1d_train_b2_gan gradcheck_batchnorm1d_train_b8_gan gradcheck_batchnorm1d_train_b16_gan
  gradcheck_batchnorm1d_train_eps gradcheck_batchnorm1d_eval gradcheck_batchnorm1d_eval_gan
  gradcheck_batchnorm1d_eval_b1 gradcheck_batchnorm1d_noaffine_train gradcheck_batchnorm1d_untracked_eval
  gradcheck_batchnorm1d_untracked_eval_gan)
tnn_core_cases(test_gradcheck_batchnorm2d.c gradcheck
  gradcheck_batchnorm2d_train_small gradcheck_batchnorm2d_train_tail gradcheck_batchnorm2d_train_n1
  gradcheck_batchnorm2d_train_hw1 gradcheck_batchnorm2d_eval gradcheck_batchnorm2d_eval_one_value
  gradcheck_batchnorm2d_noaffine_train gradcheck_batchnorm2d_noaffine_eval gradcheck_batchnorm2d_untracked_eval)
tnn_core_cases(test_gradcheck_activation.c gradcheck
  gradcheck_leaky_relu gradcheck_relu gradcheck_tanh gradcheck_sigmoid gradcheck_elu gradcheck_elu_alpha
  gradcheck_elu_negative_alpha gradcheck_silu gradcheck_gelu gradcheck_gelu_tanh gradcheck_elu_silu_gelu_in_sequential)
tnn_core_cases(test_gradcheck_softmax.c gradcheck
  gradcheck_softmax gradcheck_log_softmax gradcheck_softmax_spread gradcheck_log_softmax_spread
  gradcheck_softmax_3d gradcheck_log_softmax_3d gradcheck_softmax_one_column gradcheck_log_softmax_one_column
  gradcheck_softmax_in_sequential)
tnn_core_cases(test_gradcheck_conv2d.c gradcheck
  gradcheck_conv2d gradcheck_conv2d_nopad gradcheck_conv2d_stride2 gradcheck_conv2d_stride2_nopad
  gradcheck_conv2d_nobias gradcheck_conv2d_batch1 gradcheck_conv2d_kernel_is_input gradcheck_conv2d_wide_pad
  gradcheck_conv2d_unbatched gradcheck_conv2d_frozen gradcheck_conv2d_accumulates gradcheck_conv2d_in_sequential)
tnn_core_cases(test_gradcheck_conv_transpose2d.c gradcheck
  gradcheck_conv_transpose2d gradcheck_conv_transpose2d_from_1x1 gradcheck_conv_transpose2d_stride1
  gradcheck_conv_transpose2d_same gradcheck_conv_transpose2d_output_padding gradcheck_conv_transpose2d_gaps
  gradcheck_conv_transpose2d_wide_pad gradcheck_conv_transpose2d_nobias gradcheck_conv_transpose2d_batch1
  gradcheck_conv_transpose2d_unbatched gradcheck_conv_transpose2d_frozen gradcheck_conv_transpose2d_accumulates
  gradcheck_conv_transpose2d_in_sequential)
tnn_core_cases(test_gradcheck_maxpool2d.c gradcheck
  gradcheck_maxpool2d gradcheck_maxpool2d_overlap gradcheck_maxpool2d_stride2_pad gradcheck_maxpool2d_batch1
  gradcheck_maxpool2d_unbatched gradcheck_maxpool2d_ceil gradcheck_maxpool2d_in_sequential)
tnn_core_cases(test_gradcheck_avgpool2d.c gradcheck
  gradcheck_avgpool2d gradcheck_avgpool2d_overlap gradcheck_avgpool2d_overlap_exclude_pad
  gradcheck_avgpool2d_stride2_pad gradcheck_avgpool2d_k5 gradcheck_avgpool2d_batch1 gradcheck_avgpool2d_unbatched
  gradcheck_avgpool2d_ceil gradcheck_avgpool2d_ceil_divisor gradcheck_avgpool2d_in_sequential
  gradcheck_adaptive_avgpool2d gradcheck_adaptive_avgpool2d_global
  gradcheck_adaptive_avgpool2d_grow gradcheck_adaptive_avgpool2d_unbatched)
tnn_core_cases(test_gradcheck_layernorm.c gradcheck
  gradcheck_layernorm gradcheck_layernorm_37 gradcheck_layernorm_2d gradcheck_layernorm_noaffine
  gradcheck_layernorm_small_spread gradcheck_layernorm_eps gradcheck_layernorm_unbatched
  gradcheck_layernorm_in_sequential)
tnn_core_cases(test_gradcheck_upsample.c gradcheck
  gradcheck_upsample gradcheck_upsample_k3 gradcheck_upsample_k1 gradcheck_upsample_k41
  gradcheck_upsample_in_sequential gradcheck_unflatten gradcheck_unflatten_in_sequential)
tnn_core_cases(test_gradcheck_dropout.c gradcheck gradcheck_dropout gradcheck_flatten
  gradcheck_dropout2d gradcheck_dropout2d_3d gradcheck_dropout2d_in_sequential)
tnn_core_cases(test_gradcheck_sequential.c gradcheck gradcheck_sequential)
tnn_core_cases(test_gradcheck_loss.c gradcheck
  gradcheck_bce gradcheck_bce_with_logits gradcheck_mse gradcheck_l1 gradcheck_smooth_l1 gradcheck_smooth_l1_beta
  gradcheck_huber gradcheck_huber_delta gradcheck_cross_entropy gradcheck_nll_after_log_softmax
  gradcheck_cross_entropy_weighted gradcheck_cross_entropy_smoothed gradcheck_cross_entropy_smoothed_weighted
  gradcheck_cross_entropy_ignore gradcheck_cross_entropy_sum gradcheck_cross_entropy_none
  gradcheck_nll_weighted_after_log_softmax gradcheck_nll_none_after_log_softmax)

# The checker itself: it must fail on wrong backward passes and pass a right one.
tnn_core_cases(test_gradcheck_harness.c gradcheck
  gradcheck_harness_passes_correct_module gradcheck_harness_detects_wrong_input_grad
  gradcheck_harness_detects_one_percent_error gradcheck_harness_detects_wrong_param_grad
  gradcheck_harness_detects_unaccumulated_grad gradcheck_harness_detects_missing_dx
  gradcheck_harness_detects_zero_vs_zero gradcheck_harness_loss_detects_wrong_grad)

# Unit tests: one executable per component, all its cmocka tests in one ctest test.
foreach(component rng gemm tensor module sequential loss optim lr_scheduler clip settings softmax conv2d conv_transpose2d maxpool2d upsample unflatten batchnorm2d dropout2d
        activation avgpool2d adaptive_avgpool2d layernorm)
  tnn_add_test(NAME test_${component} SOURCES test_${component}.c LABELS unit)
endforeach()
# test_module's 26 cases take about a minute under valgrind on a quiet 2-core machine
# (57 s measured): the default 120 s left too little room when the machine was busy.
set_tests_properties(test_module PROPERTIES TIMEOUT 300)
# ELU's, SiLU's and GELU's accuracy over every 997th float (9 x 4.3 million values,
# seconds natively): label `math`, outside the valgrind stage, as test_vmath_sweep.
add_test(NAME test_activation_sweep COMMAND test_activation sweep)
set_tests_properties(test_activation_sweep PROPERTIES LABELS math TIMEOUT 300)

# Several threads of a program using the library at once (label `threads`: run in the
# release and sanitizer stages, and under ThreadSanitizer; kept out of valgrind's, where
# three trainings on three threads take over a minute).
tnn_add_test(NAME test_threads SOURCES test_threads.c LABELS threads TIMEOUT 300)
