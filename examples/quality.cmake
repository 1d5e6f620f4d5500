# Sample quality (issue 9): the MNIST classifier and the scorer built on it, included
# from examples/CMakeLists.txt.
#   tinynn_quality    the Frechet distance / Inception-style score / coverage math
#                     (mnist_metrics.h) and the classifier's network (classifier_model.h),
#                     shared with tests/test_mnist_metrics.c
#   mnist_classifier  trains the classifier
#   mnist_score       scores an IDX file of images with it
add_library(tinynn_quality STATIC ${CMAKE_CURRENT_LIST_DIR}/mnist_metrics.c ${CMAKE_CURRENT_LIST_DIR}/classifier_model.c)
target_include_directories(tinynn_quality PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(tinynn_quality PUBLIC tinynn tinynn_flags m PRIVATE tinynn_warnings)

add_executable(mnist_classifier ${CMAKE_CURRENT_LIST_DIR}/mnist_classifier.c)
target_link_libraries(mnist_classifier PRIVATE tinynn_quality tinynn_gan tinynn_flags tinynn_warnings)
target_compile_definitions(mnist_classifier PRIVATE TNN_DEFAULT_DATA_DIR="${PROJECT_SOURCE_DIR}/data/mnist")

add_executable(mnist_score ${CMAKE_CURRENT_LIST_DIR}/mnist_score.c)
target_link_libraries(mnist_score PRIVATE tinynn_quality tinynn_flags tinynn_warnings)
target_compile_definitions(mnist_score PRIVATE TNN_DEFAULT_DATA_DIR="${PROJECT_SOURCE_DIR}/data/mnist")
