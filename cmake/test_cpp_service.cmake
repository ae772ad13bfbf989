# ctest cpp_service_staged_install: installs the build into a staging prefix,
# builds examples/cpp-service against it with find_package(pickleguard), and
# runs it on a safe and an unsafe pickle (file and standard input).
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -DCXX=... [-DGENERATOR=Ninja] -P test_cpp_service.cmake
include(${CMAKE_CURRENT_LIST_DIR}/test_script_steps.cmake)
require_defined(BUILD_DIR SOURCE_DIR WORK_DIR CXX)

set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

file(GLOB_RECURSE config ${prefix}/*/pickleguardConfig.cmake)
file(GLOB_RECURSE library ${prefix}/*/libpickleguard.a)
foreach(expected ${prefix}/bin/pickleguard ${prefix}/include/pickleguard/scan.hpp
                 ${prefix}/include/pickleguard/version.hpp ${prefix}/share/pickleguard/policies/default.toml
                 ${prefix}/share/pickleguard/policies/knowledge/dangerous.toml)
  if(NOT EXISTS ${expected})
    message(FATAL_ERROR "not installed: ${expected}")
  endif()
endforeach()
if(NOT config OR NOT library)
  message(FATAL_ERROR "no pickleguardConfig.cmake or libpickleguard.a under ${prefix}")
endif()

if(GENERATOR)
  set(generator -G ${GENERATOR})
endif()
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/cpp-service -B ${WORK_DIR}/build ${generator}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)

set(service ${WORK_DIR}/build/pickle_verdict)
function(expect code)
  execute_process(COMMAND ${service} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message(STATUS "pickle_verdict ${ARGN} -> ${rc}\n${out}${err}")
  if(NOT rc EQUAL code)
    message(FATAL_ERROR "expected exit ${code}, got ${rc}: pickle_verdict ${ARGN}")
  endif()
endfunction()
set(safe ${SOURCE_DIR}/examples/seed/seed_p2.pkl)
set(unsafe ${SOURCE_DIR}/examples/attacks/os_system_protocol0.pkl)
expect(0 ${safe})
expect(1 ${unsafe})
expect(1 --policy python ${SOURCE_DIR}/examples/attacks/dotted_shutil_os_system.pkl)
expect(2 --policy no-such-policy ${safe})
expect(0 - INPUT_FILE ${safe})
expect(1 - INPUT_FILE ${unsafe})
