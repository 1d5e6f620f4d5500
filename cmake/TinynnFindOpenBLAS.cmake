# Finds OpenBLAS and defines the imported target tinynn::openblas.
# Order: OpenBLAS's own CMake config, then pkg-config, then FindBLAS(BLA_VENDOR=OpenBLAS).
# Also used by the installed tinynnConfig.cmake, so it must not depend on the build tree;
# there (_tnn_openblas_optional set) a missing OpenBLAS is reported through tinynn_FOUND,
# so that an optional find_package(tinynn) does not stop the consumer's configure.
if(TARGET tinynn::openblas)
  return()
endif()

set(_tnn_blas_inc "")
set(_tnn_blas_lib "")

find_package(OpenBLAS CONFIG QUIET)
if(OpenBLAS_FOUND AND OpenBLAS_LIBRARIES)
  set(_tnn_blas_inc "${OpenBLAS_INCLUDE_DIRS}")
  set(_tnn_blas_lib "${OpenBLAS_LIBRARIES}")
else()
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(_TNN_OPENBLAS QUIET openblas)
  endif()
  if(_TNN_OPENBLAS_FOUND)
    set(_tnn_blas_inc "${_TNN_OPENBLAS_INCLUDE_DIRS}")
    find_library(_tnn_blas_lib_path NAMES openblas HINTS ${_TNN_OPENBLAS_LIBRARY_DIRS})
    set(_tnn_blas_lib "${_tnn_blas_lib_path}")
  else()
    if(DEFINED BLA_VENDOR)
      set(_tnn_saved_vendor "${BLA_VENDOR}")
    endif()
    set(BLA_VENDOR OpenBLAS)
    find_package(BLAS QUIET)
    if(DEFINED _tnn_saved_vendor)
      set(BLA_VENDOR "${_tnn_saved_vendor}")
      unset(_tnn_saved_vendor)
    else()
      unset(BLA_VENDOR)
    endif()
    if(BLAS_FOUND)
      set(_tnn_blas_lib "${BLAS_LIBRARIES}")
      find_path(_tnn_blas_inc_path cblas.h PATH_SUFFIXES openblas openblas-pthread x86_64-linux-gnu/openblas-pthread)
      set(_tnn_blas_inc "${_tnn_blas_inc_path}")
    endif()
  endif()
endif()

if(NOT _tnn_blas_lib)
  unset(_tnn_blas_inc)
  unset(_tnn_blas_lib)
  if(_tnn_openblas_optional)
    return()
  endif()
  message(FATAL_ERROR
    "libtinynn needs OpenBLAS, which was not found.\n"
    "On Debian/Ubuntu install it with:  apt-get install libopenblas-dev")
endif()

add_library(tinynn::openblas INTERFACE IMPORTED)
set_target_properties(tinynn::openblas PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "${_tnn_blas_inc}"
  INTERFACE_LINK_LIBRARIES "${_tnn_blas_lib}")
unset(_tnn_blas_inc)
unset(_tnn_blas_lib)
