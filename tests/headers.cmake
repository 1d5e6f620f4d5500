# public_headers_compile_alone (label docs): each public header compiles on its own, with
# -pedantic -Wall -Wextra -Werror, as C99, C11 and C17 and, if a C++ compiler is found,
# as C++11 and C++20 (docs/design.md, "Platforms, compilers and compatibility"). A
# header that needs another included first, a C11-only construct in a header, or a
# construct C++ does not take fails it.
#
# This file has two roles: included by tests/CMakeLists.txt it adds the test; run with
# `cmake -P` (by the test) it is the check itself.

if(NOT CMAKE_SCRIPT_MODE_FILE)
  find_program(TINYNN_CXX NAMES c++ g++ clang++)
  add_test(NAME public_headers_compile_alone
    COMMAND "${CMAKE_COMMAND}" "-DCC=${CMAKE_C_COMPILER}" "-DCXX=${TINYNN_CXX}"
            "-DINCLUDE_DIR=${PROJECT_SOURCE_DIR}/include" -P "${CMAKE_CURRENT_LIST_FILE}")
  set_tests_properties(public_headers_compile_alone PROPERTIES LABELS docs TIMEOUT 120)
  return()
endif()

file(GLOB headers "${INCLUDE_DIR}/tinynn/*.h")
set(failures "")
set(runs 0)
foreach(h ${headers})
  set(langs "c,c99" "c,c11" "c,c17")
  if(CXX)
    list(APPEND langs "c++,c++11" "c++,c++20")
  endif()
  foreach(pair IN LISTS langs)
    string(REPLACE "," ";" pair "${pair}")
    list(GET pair 0 lang)
    list(GET pair 1 std)
    if(lang STREQUAL "c")
      set(compiler "${CC}")
    else()
      set(compiler "${CXX}")
    endif()
    execute_process(COMMAND "${compiler}" -x ${lang} -std=${std} -pedantic -Wall -Wextra -Werror -fsyntax-only
                            "-I${INCLUDE_DIR}" "${h}"
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    math(EXPR runs "${runs} + 1")
    if(NOT rc EQUAL 0)
      get_filename_component(name "${h}" NAME)
      string(APPEND failures "  tinynn/${name} as ${std}:\n${out}\n")
    endif()
  endforeach()
endforeach()
if(failures)
  message(FATAL_ERROR "public headers that do not compile on their own:\n${failures}")
endif()
message(STATUS "${runs} compilations of the public headers, each on its own: all clean")
