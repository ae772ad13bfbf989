# ctest deb_package: `cpack -G DEB` from the build directory, then checks the
# package's metadata and that it holds what `cmake --install` installs.
#   cmake -DBUILD_DIR=... -DWORK_DIR=... -P test_deb_package.cmake
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
execute_process(COMMAND cpack -G DEB -B ${WORK_DIR} --config ${BUILD_DIR}/CPackConfig.cmake
                WORKING_DIRECTORY ${BUILD_DIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cpack failed: ${rc}")
endif()
file(GLOB deb ${WORK_DIR}/*.deb)
if(NOT deb)
  message(FATAL_ERROR "cpack made no .deb in ${WORK_DIR}")
endif()
execute_process(COMMAND dpkg-deb --field ${deb} Package Maintainer Depends Description OUTPUT_VARIABLE fields)
execute_process(COMMAND dpkg-deb --contents ${deb} OUTPUT_VARIABLE contents)
message(STATUS "${deb}\n${fields}")
foreach(needle "Package: pickleguard" "Maintainer: " "libre2-9" "Description: ")
  string(FIND "${fields}" "${needle}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "package metadata lacks '${needle}'")
  endif()
endforeach()
foreach(needle ./usr/bin/pickleguard ./usr/include/pickleguard/scan.hpp ./usr/include/pickleguard/version.hpp
               ./usr/share/pickleguard/policies/default.toml libpickleguard.a pickleguardConfig.cmake
               pickleguardTargets.cmake ./usr/share/man/man1/pickleguard.1.gz
               ./usr/share/bash-completion/completions/pickleguard ./usr/share/zsh/vendor-completions/_pickleguard
               ./usr/lib/systemd/system/pickleguard-serve.service)
  string(FIND "${contents}" "${needle}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "package lacks ${needle}")
  endif()
endforeach()
# The extension module (_pickleguard.cpython-*.so); zsh's completion
# function file is called _pickleguard too, and belongs.
string(REGEX MATCH "_pickleguard[^\n/]*\\.so" module "${contents}")
if(module)
  message(FATAL_ERROR "the Python module is not part of the .deb")
endif()
# The man page is gzipped (Debian policy 12.1; lintian's
# uncompressed-manual-page) and is the page the build generated; the unit
# starts the command the package installs.
set(root ${WORK_DIR}/root)
execute_process(COMMAND dpkg-deb -x ${deb} ${root} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "dpkg-deb -x failed: ${rc}")
endif()
file(GLOB plain_pages ${root}/usr/share/man/man1/*.1)
if(plain_pages)
  message(FATAL_ERROR "uncompressed man pages in the package: ${plain_pages}")
endif()
execute_process(COMMAND gzip -dc ${root}/usr/share/man/man1/pickleguard.1.gz OUTPUT_VARIABLE page RESULT_VARIABLE rc)
file(READ ${BUILD_DIR}/share/man/man1/pickleguard.1 built)
if(NOT rc EQUAL 0 OR NOT page STREQUAL built)
  message(FATAL_ERROR "usr/share/man/man1/pickleguard.1.gz is not the gzipped page the build generated (gzip: ${rc})")
endif()
file(STRINGS ${root}/usr/lib/systemd/system/pickleguard-serve.service exec REGEX "^ExecStart=")
if(NOT exec MATCHES "^ExecStart=/usr/bin/pickleguard serve" OR NOT EXISTS ${root}/usr/bin/pickleguard)
  message(FATAL_ERROR "the unit's ${exec} is not the packaged /usr/bin/pickleguard")
endif()
