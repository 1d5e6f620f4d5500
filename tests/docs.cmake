# The C programs in the documentation are compiled and run by the test suite, so the
# pages cannot rot: docs/custom_module.md (a module, exercised by a test driver),
# docs/tutorial.md and README.md (whole programs, run as they are).

# tnn_doc_code(<markdown> <regex with one group> <output .c>)
function(tnn_doc_code md regex out)
  file(READ "${PROJECT_SOURCE_DIR}/${md}" text)
  string(REGEX MATCH "${regex}" m "${text}")
  if(NOT CMAKE_MATCH_1)
    message(FATAL_ERROR "tests/docs.cmake: no C code block found in ${md}")
  endif()
  file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/${out}" "${CMAKE_MATCH_1}\n")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/${md}")
endfunction()

tnn_doc_code(docs/custom_module.md "```c\n(#include <stdio.h>.*return &l->base;\n})\n```" doc_custom_module.c)
tnn_add_test(NAME test_doc_custom_module
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_doc_custom_module.c ${CMAKE_CURRENT_BINARY_DIR}/doc_custom_module.c
  LABELS docs unit)
# Its constructor's out-of-memory messages are tested through a calloc that can be made
# to fail, by the GNU linkers' --wrap (ld.bfd, gold and lld take it).
if(CMAKE_SYSTEM_NAME STREQUAL "Linux" AND CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_definitions(test_doc_custom_module PRIVATE TNN_TEST_WRAP_CALLOC)
  target_link_options(test_doc_custom_module PRIVATE "LINKER:--wrap=calloc")
endif()

# docs/tutorial.md's mini-batch function, included by its driver
tnn_doc_code(docs/tutorial.md "```c\n(/\\* minibatch.c[^`]*)```" doc_minibatch.c)
tnn_doc_code(docs/tutorial.md "```c\n(int order\\[N\\][^`]*)```" doc_minibatch_loop.c)
# and its checkpoints: the functions, and the loop that resumes from one
tnn_doc_code(docs/tutorial.md "```c\n(/\\* checkpoint.c[^`]*)```" doc_checkpoint.c)
tnn_doc_code(docs/tutorial.md "```c\n(int start = 0;[^`]*)```" doc_checkpoint_loop.c)
# and its learning-rate schedule, the same epochs under a StepLR
tnn_doc_code(docs/tutorial.md "```c\n(tnn_lr_scheduler \\*sched[^`]*)```" doc_lr_schedule_loop.c)
# and the summary table it shows for its model
tnn_doc_code(docs/tutorial.md "```\n(module  [^`]*)```" doc_summary.txt)
add_executable(test_doc_minibatch ${CMAKE_CURRENT_SOURCE_DIR}/test_doc_minibatch.c)
target_include_directories(test_doc_minibatch PRIVATE ${CMAKE_CURRENT_BINARY_DIR})
target_compile_definitions(test_doc_minibatch PRIVATE "DOC_SUMMARY=\"${CMAKE_CURRENT_BINARY_DIR}/doc_summary.txt\"")
target_link_libraries(test_doc_minibatch PRIVATE tinynn m)
file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/doc_minibatch_run)
add_test(NAME test_doc_minibatch COMMAND test_doc_minibatch WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/doc_minibatch_run)
set_tests_properties(test_doc_minibatch PROPERTIES LABELS docs TIMEOUT 120 ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# docs/tutorial.md's MNIST loader, run on the repository's copy of the data
tnn_doc_code(docs/tutorial.md "```c\n(/\\* mnist_load.c[^`]*)```" doc_mnist.c)
add_executable(test_doc_mnist ${CMAKE_CURRENT_SOURCE_DIR}/test_doc_mnist.c)
target_include_directories(test_doc_mnist PRIVATE ${CMAKE_CURRENT_BINARY_DIR})
target_link_libraries(test_doc_mnist PRIVATE tinynn m)
add_test(NAME test_doc_mnist COMMAND test_doc_mnist ${PROJECT_SOURCE_DIR}/data/mnist)
set_tests_properties(test_doc_mnist PROPERTIES LABELS "docs;data" TIMEOUT 120)

# docs/tutorial.md's class weights and clipping: its settings and its loop's lines, run
# in the spiral's training loop and checked against the loss and norm the text promises
tnn_doc_code(docs/tutorial.md "```c\n(/\\* weighted.c[^`]*)```" doc_weighted.c)
tnn_doc_code(docs/tutorial.md "```c\n(/\\* in the loop, after the forward[^`]*)```" doc_weighted_loop.c)
add_executable(test_doc_weighted ${CMAKE_CURRENT_SOURCE_DIR}/test_doc_weighted.c)
target_include_directories(test_doc_weighted PRIVATE ${CMAKE_CURRENT_BINARY_DIR})
target_link_libraries(test_doc_weighted PRIVATE tinynn m)
add_test(NAME test_doc_weighted COMMAND test_doc_weighted)
set_tests_properties(test_doc_weighted PROPERTIES LABELS docs TIMEOUT 120 ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# docs/tutorial.md's convolutional network, trained briefly on the repository's MNIST
tnn_doc_code(docs/tutorial.md "```c\n(/\\* cnn.c[^`]*)```" doc_cnn.c)
add_executable(test_doc_cnn ${CMAKE_CURRENT_SOURCE_DIR}/test_doc_cnn.c)
target_include_directories(test_doc_cnn PRIVATE ${CMAKE_CURRENT_BINARY_DIR})
target_link_libraries(test_doc_cnn PRIVATE tinynn m)
add_test(NAME test_doc_cnn COMMAND test_doc_cnn ${PROJECT_SOURCE_DIR}/data/mnist)
set_tests_properties(test_doc_cnn PROPERTIES LABELS "docs;data" TIMEOUT 300 ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# docs/tutorial.md's convolutional GAN (dcgan.py's networks): names, then a short training
tnn_doc_code(docs/tutorial.md "```c\n(/\\* dcgan.c[^`]*)```" doc_dcgan.c)
add_executable(test_doc_dcgan ${CMAKE_CURRENT_SOURCE_DIR}/test_doc_dcgan.c)
target_include_directories(test_doc_dcgan PRIVATE ${CMAKE_CURRENT_BINARY_DIR})
target_link_libraries(test_doc_dcgan PRIVATE tinynn m)
add_test(NAME test_doc_dcgan COMMAND test_doc_dcgan ${PROJECT_SOURCE_DIR}/data/mnist)
set_tests_properties(test_doc_dcgan PROPERTIES LABELS "docs;data" TIMEOUT 300 ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

foreach(doc tutorial readme)
  if(doc STREQUAL "tutorial")
    tnn_doc_code(docs/tutorial.md "```c\n(/\\* spiral.c.*return same && acc[^`]*)```" doc_tutorial.c)
  else()
    tnn_doc_code(README.md "```c\n(#include <stdio.h>[^`]*)```" doc_readme.c)
  endif()
  add_executable(doc_${doc} ${CMAKE_CURRENT_BINARY_DIR}/doc_${doc}.c)
  target_link_libraries(doc_${doc} PRIVATE tinynn m)
  set(dir ${CMAKE_CURRENT_BINARY_DIR}/doc_${doc}_run)
  file(MAKE_DIRECTORY ${dir})
  if(doc STREQUAL "tutorial")
    add_test(NAME test_doc_${doc} COMMAND doc_${doc} WORKING_DIRECTORY ${dir})
  else()
    # The README shows the program's output, "final loss 0.0001", and says only the last
    # digit may differ: the test holds it to that as well as to a zero exit status.
    add_test(NAME test_doc_${doc} WORKING_DIRECTORY ${dir} COMMAND sh -c
      "out=$(\"$1\") || exit 1; echo \"$out\"; case \"$out\" in 'final loss 0.000'[0-9]) exit 0 ;; esac; echo 'README.md says the program prints final loss 0.000x' >&2; exit 1"
      sh $<TARGET_FILE:doc_${doc}>)
  endif()
  set_tests_properties(test_doc_${doc} PROPERTIES LABELS docs TIMEOUT 120 ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
endforeach()
