# What the ctest scripts run with `cmake -P` share (test_cpp_service.cmake,
# test_pip_install.cmake): a check of the -D values they are given, and a
# step whose failure fails the test.

# Stops, naming the script, when one of the variables is unset or empty.
function(require_defined)
  get_filename_component(script ${CMAKE_SCRIPT_MODE_FILE} NAME)
  foreach(var ${ARGN})
    if(NOT ${var})
      message(FATAL_ERROR "${script} needs -D${var}=...")
    endif()
  endforeach()
endfunction()

# Runs a command (execute_process arguments); a non-zero exit stops the script.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}")
  endif()
endfunction()
