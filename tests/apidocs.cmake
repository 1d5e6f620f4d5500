# api_docs_complete (label docs): every public symbol of include/tinynn/*.h is documented.
#
# Doxygen runs over the public headers and docs/ with warnings turned into a failure:
# an undocumented function, type, macro or struct member is a warning, and so is a bad
# Doxygen command or a @param naming no parameter. Doxygen before 1.9.5 has no warning
# for an undocumented enum value, so this file then reads Doxygen's XML output and fails
# on any enum value without a description. Settings: docs/Doxyfile (the Doxyfile the
# test runs is written into this build folder by tnn_doxyfile, cmake/TinynnDocs.cmake).
# Without doxygen the test is not added (apt-get install doxygen).
#
# This file has two roles: included by tests/CMakeLists.txt it adds the test; run with
# `cmake -P` (by the test) it is the check itself.

if(NOT CMAKE_SCRIPT_MODE_FILE)
  include(TinynnDocs)
  if(DOXYGEN_FOUND)
    # FAIL_ON_WARNINGS (doxygen >= 1.9.0) reports every warning, then fails; YES stops
    # at the first one.
    if(DOXYGEN_VERSION VERSION_LESS 1.9.0)
      set(_tnn_warn_as_error YES)
    else()
      set(_tnn_warn_as_error FAIL_ON_WARNINGS)
    endif()
    set(_tnn_apidocs "${CMAKE_CURRENT_BINARY_DIR}/apidocs")
    tnn_doxyfile("${CMAKE_CURRENT_BINARY_DIR}/Doxyfile.apidocs" "${_tnn_apidocs}"
      "WARN_AS_ERROR = ${_tnn_warn_as_error}" "GENERATE_TREEVIEW = NO" "SEARCHENGINE = NO"
      "GENERATE_XML = YES" "XML_OUTPUT = xml")
    add_test(NAME api_docs_complete
      COMMAND "${CMAKE_COMMAND}" "-DDOXYGEN=${DOXYGEN_EXECUTABLE}"
              "-DDOXYFILE=${CMAKE_CURRENT_BINARY_DIR}/Doxyfile.apidocs"
              "-DSOURCE_DIR=${PROJECT_SOURCE_DIR}" "-DXML_DIR=${_tnn_apidocs}/xml"
              -P "${CMAKE_CURRENT_LIST_FILE}")
    set_tests_properties(api_docs_complete PROPERTIES LABELS docs TIMEOUT 120)
  endif()
  return()
endif()

# ---- the check (cmake -P) ----
cmake_minimum_required(VERSION 3.20)  # script mode starts with no policies set
file(REMOVE_RECURSE "${XML_DIR}")  # no stale XML from an earlier run
execute_process(COMMAND "${DOXYGEN}" "${DOXYFILE}" WORKING_DIRECTORY "${SOURCE_DIR}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "doxygen reported the problems above (exit status ${rc})")
endif()

file(GLOB xml_files "${XML_DIR}/*.xml")
if(NOT xml_files)
  message(FATAL_ERROR "doxygen wrote no XML into ${XML_DIR}")
endif()
set(undocumented "")
foreach(f IN LISTS xml_files)
  file(READ "${f}" x)
  while(TRUE)
    string(FIND "${x}" "<enumvalue " p)
    if(p EQUAL -1)
      break()
    endif()
    string(SUBSTRING "${x}" ${p} -1 x)
    string(FIND "${x}" "</enumvalue>" e)
    string(SUBSTRING "${x}" 0 ${e} ev)
    string(SUBSTRING "${x}" ${e} -1 x)
    if(NOT ev MATCHES "<para>")
      string(REGEX MATCH "<name>([^<]*)</name>" _ "${ev}")
      list(APPEND undocumented "${CMAKE_MATCH_1}")
    endif()
  endwhile()
endforeach()
if(undocumented)
  list(REMOVE_DUPLICATES undocumented)
  string(REPLACE ";" ", " undocumented "${undocumented}")
  message(FATAL_ERROR "enum values without documentation: ${undocumented}")
endif()
