# Tests of the data and image code (src/idx.c, src/image.c) and of the GAN example
# (issue 3). Each executable holds several cases and runs the one named by its first
# argument, so that every case is its own ctest test while the source is compiled once.

# tnn_example_cases(EXE exe LABEL label [ARGS extra...] CASES case...)
function(tnn_example_cases)
  cmake_parse_arguments(C "" "EXE;LABEL" "ARGS;CASES" ${ARGN})
  set_property(GLOBAL APPEND PROPERTY TNN_CASES_${C_EXE} ${C_CASES})
  foreach(case ${C_CASES})
    add_test(NAME ${case} COMMAND ${C_EXE} ${case} ${C_ARGS})
    set_tests_properties(${case} PROPERTIES LABELS ${C_LABEL} TIMEOUT 120 ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
  endforeach()
endfunction()

function(tnn_example_test_exe name source)
  set_property(GLOBAL APPEND PROPERTY TNN_CASE_EXES "${name}=${CMAKE_CURRENT_SOURCE_DIR}/${source}")
  add_executable(${name} ${source})
  target_link_libraries(${name} PRIVATE tinynn_testutil tinynn_warnings ${ARGN})
  target_compile_definitions(${name} PRIVATE TNN_TEST_DATA_DIR="${CMAKE_CURRENT_SOURCE_DIR}/data")
endfunction()

tnn_example_test_exe(test_idx test_idx.c ZLIB::ZLIB)
tnn_example_cases(EXE test_idx LABEL unit CASES
  idx_roundtrip_plain idx_roundtrip_gz idx_roundtrip_1d_and_4d idx_gzip_multi_member idx_gzip_through_allocator_hooks
  idx_missing_file
  idx_wrong_magic idx_zero_dim idx_truncated idx_corrupt_gzip idx_absurd_counts idx_endless_input idx_large_files idx_pixel_formula
  idx_images_to_tensor_order idx_images_to_tensor_threads idx_images_to_tensor_channels idx_images_to_tensor_resize)
target_compile_definitions(test_idx PRIVATE TNN_MNIST_DIR="${PROJECT_SOURCE_DIR}/data/mnist")

# The bundled MNIST (label `data`: kept out of the valgrind stage, which runs `unit`).
tnn_example_cases(EXE test_idx LABEL data CASES idx_bundled_mnist)
find_program(TNN_SHA256SUM sha256sum)
if(TNN_SHA256SUM)
  add_test(NAME data_mnist_sha256 COMMAND ${TNN_SHA256SUM} --quiet -c SHA256SUMS
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}/data/mnist)
  set_tests_properties(data_mnist_sha256 PROPERTIES LABELS data)
endif()

tnn_example_test_exe(test_image test_image.c)
tnn_example_cases(EXE test_image LABEL unit CASES
  grid_geometry grid_pixels grid_refuses_rows_of_another_size grid_normalisation grid_three_channels
  grid_png_readback png_gray_and_rgba
  grid_two_and_four_channels
  resize_pil_bilinear grid_matches_torchvision resize_matches_pil)

if(TARGET mnist_gan AND TARGET mnist_gan_sample)
  tnn_example_test_exe(test_gan_trainer test_gan_trainer.c tinynn_gan)
  tnn_example_cases(EXE test_gan_trainer LABEL unit CASES gan_step_matches_seed_procedure gan_models_names
    gan_checkpoint_continues_exactly)

  # The example binaries run end to end: `smoke` trains a few batches on a small
  # dataset the test writes itself, `cli` feeds them bad flags, folders and files (and
  # a pseudo-terminal), `resume` stops, resumes, signals and diverges them.
  add_library(tinynn_gan_testutil STATIC test_mnist_gan_util.c)
  target_link_libraries(tinynn_gan_testutil PUBLIC tinynn_testutil PRIVATE tinynn_warnings)
  set(_tnn_bins $<TARGET_FILE:mnist_gan> $<TARGET_FILE:mnist_gan_sample>)

  # docs/mnist_gan.md's program that loads the trained generator: the smoke run checks
  # that its grid is mnist_gan_sample's, byte for byte
  tnn_doc_code(docs/mnist_gan.md "```c\n(/\\* use_generator.c[^`]*)```" doc_use_generator.c)
  add_executable(doc_use_generator ${CMAKE_CURRENT_BINARY_DIR}/doc_use_generator.c)
  target_link_libraries(doc_use_generator PRIVATE tinynn tinynn_warnings)

  tnn_example_test_exe(test_mnist_gan_smoke test_mnist_gan_smoke.c tinynn_gan tinynn_gan_testutil)
  add_dependencies(test_mnist_gan_smoke mnist_gan mnist_gan_sample doc_use_generator)
  tnn_example_cases(EXE test_mnist_gan_smoke LABEL smoke ARGS ${_tnn_bins} $<TARGET_FILE:doc_use_generator> CASES
    smoke_train_and_sample smoke_losses_and_snapshots)
  tnn_example_cases(EXE test_mnist_gan_smoke LABEL cli ARGS ${_tnn_bins} CASES
    cli_unknown_flag cli_bad_numbers cli_bad_folders cli_bad_data cli_sample_weights_files cli_write_protected_outputs
    cli_help
    cli_progress_bar_on_terminal
    cli_allocation_failures)

  tnn_example_test_exe(test_mnist_gan_resume test_mnist_gan_resume.c tinynn_gan tinynn_gan_testutil)
  add_dependencies(test_mnist_gan_resume mnist_gan mnist_gan_sample)
  tnn_example_cases(EXE test_mnist_gan_resume LABEL resume ARGS ${_tnn_bins} CASES
    resume_exact_after_sigint resume_exact_at_epoch_end_sigterm resume_exact_more_epochs
    resume_exact_after_second_sigint_during_write resume_exact_two_threads resume_exact_from_a_0_2_checkpoint
    resume_after_a_failed_final_save
    resume_notes_other_blas_kernels
    resume_notes_other_thread_count new_run_keeps_an_unfinished_checkpoint
    resume_refuses_other_runs resume_refuses_bad_checkpoint signal_sigterm_from_outside stdout_closed_mid_run one_run_per_folder
    diverge_nan_loss_keeps_checkpoint diverge_nan_parameter_before_checkpoint)

  # The loss plot and its font (fast, no binaries: label unit).
  tnn_example_test_exe(test_mnist_gan_plot test_mnist_gan_plot.c tinynn_gan)
  tnn_example_cases(EXE test_mnist_gan_plot LABEL unit CASES plot_font_and_text plot_ticks plot_lines_draws_curves)

  # examples/mnist_wgan (wgan.py): a few batches on the bundled MNIST, and refusals.
  if(TARGET mnist_wgan)
    tnn_example_test_exe(test_mnist_wgan_smoke test_mnist_wgan_smoke.c tinynn_gan tinynn_gan_testutil)
    add_dependencies(test_mnist_wgan_smoke mnist_wgan mnist_gan_sample)
    set(_tnn_wgan_bins $<TARGET_FILE:mnist_wgan> $<TARGET_FILE:mnist_gan_sample>)
    tnn_example_cases(EXE test_mnist_wgan_smoke LABEL smoke ARGS ${_tnn_wgan_bins} CASES wgan_smoke_train
      wgan_first_step_losses)
    target_compile_definitions(test_mnist_wgan_smoke PRIVATE TNN_MNIST_DIR="${PROJECT_SOURCE_DIR}/data/mnist")
    tnn_example_cases(EXE test_mnist_wgan_smoke LABEL cli ARGS ${_tnn_wgan_bins} CASES
      wgan_cli_bad_flags wgan_cli_bad_out)
  endif()
endif()
