# shared_library_exports (label unit): libtinynn.so exports exactly the functions
# declared (TNN_API) in include/tinynn/*.h, each of them defined, and nothing else:
# internal helpers stay hidden (src/CMakeLists.txt compiles with hidden visibility).
#
# Included by tests/CMakeLists.txt it adds the test; run with `cmake -P` it is the check.

if(NOT CMAKE_SCRIPT_MODE_FILE)
  find_program(TNN_NM NAMES nm)
  if(TNN_NM)
    add_test(NAME shared_library_exports
      COMMAND "${CMAKE_COMMAND}" "-DNM=${TNN_NM}" "-DLIB=$<TARGET_FILE:tinynn_shared>"
              "-DHEADERS=${PROJECT_SOURCE_DIR}/include/tinynn" -P "${CMAKE_CURRENT_LIST_FILE}")
    set_tests_properties(shared_library_exports PROPERTIES LABELS unit TIMEOUT 60)
  endif()
  return()
endif()

# ---- the check (cmake -P) ----
cmake_minimum_required(VERSION 3.20)
file(GLOB headers "${HEADERS}/*.h")
set(declared "")
set(problems "")
foreach(h ${headers})
  # A function declaration starts a line (no indent; not a typedef, a static inline or a
  # comment) and names a tnn_ function before its first parenthesis; each must carry
  # TNN_API.
  file(STRINGS "${h}" decls REGEX "^[A-Za-z_][^;(]*[^A-Za-z0-9_]tnn_[a-z0-9_]+\\(")
  foreach(d ${decls})
    if(d MATCHES "^(typedef|static)")
      continue()
    endif()
    string(REGEX REPLACE "^[^(]*[^A-Za-z0-9_](tnn_[a-z0-9_]+)\\(.*" "\\1" name "${d}")
    list(APPEND declared "${name}")
    if(NOT d MATCHES "^TNN_API ")
      get_filename_component(hname "${h}" NAME)
      string(APPEND problems "\n  ${hname}: ${name} is declared without TNN_API")
    endif()
  endforeach()
endforeach()
list(LENGTH declared n_declared)
if(n_declared LESS 50)
  message(FATAL_ERROR "found only ${n_declared} function declarations in ${HEADERS}")
endif()

execute_process(COMMAND "${NM}" -D --defined-only "${LIB}" OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} -D ${LIB} failed (${rc})")
endif()
string(REPLACE "\n" ";" lines "${out}")
set(exported "")
foreach(line ${lines})
  # "<address> <type> <name>": code (T), data (D, B, R) or weak (W, V) symbols
  if(line MATCHES "^[0-9a-fA-F]* +[TDBRWVtdbrwv] +([^ @]+)")
    list(APPEND exported "${CMAKE_MATCH_1}")
  endif()
endforeach()

foreach(name ${declared})
  if(NOT name IN_LIST exported)
    string(APPEND problems "\n  declared in include/tinynn but not exported: ${name}")
  endif()
endforeach()
foreach(name ${exported})
  if(NOT name IN_LIST declared)
    string(APPEND problems "\n  exported but not declared in include/tinynn: ${name}")
  endif()
endforeach()
if(problems)
  message(FATAL_ERROR "${LIB}:${problems}")
endif()
list(LENGTH exported n)
message(STATUS "${LIB}: ${n} exported functions, all declared in include/tinynn")
