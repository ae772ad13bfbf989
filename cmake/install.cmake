# Installing pickleguard for C++ services and packaging it as a .deb.
#
#   cmake --install build --prefix /opt/pickleguard
#
# puts the `pickleguard` command in bin/, the shipped policies in
# share/pickleguard/policies/, the public headers in include/pickleguard/,
# the static library in lib/ and a CMake package in lib/cmake/pickleguard/,
# so that a service can write
#
#   find_package(pickleguard 0.1 REQUIRED)
#   target_link_libraries(service PRIVATE pickleguard::pickleguard)
#
# (examples/cpp-service). `cpack -G DEB` in the build directory packages the
# same tree under /usr.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(PICKLEGUARD_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/pickleguard)

target_include_directories(pickleguard_lib PUBLIC $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
set_target_properties(pickleguard_lib PROPERTIES EXPORT_NAME pickleguard)

install(TARGETS pickleguard RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS pickleguard_lib EXPORT pickleguardTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/lib/include/pickleguard DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp")
install(FILES ${PROJECT_BINARY_DIR}/lib/include/pickleguard/version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/pickleguard)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/policies/ DESTINATION ${CMAKE_INSTALL_DATADIR}/pickleguard/policies
        FILES_MATCHING PATTERN "*.toml")
install(EXPORT pickleguardTargets NAMESPACE pickleguard:: DESTINATION ${PICKLEGUARD_CMAKE_DIR})

# The library is static, so a service links what it links, private or not.
# Each dependency becomes a find_dependency (or a pkg-config look-up for the
# PkgConfig:: targets, such as re2) in pickleguardConfig.cmake: derived from
# the target, so a dependency added in lib/CMakeLists.txt is exported too.
set(PICKLEGUARD_FIND_DEPENDENCIES "")
get_target_property(pickleguard_lib_links pickleguard_lib LINK_LIBRARIES)
set(pickleguard_packages_seen "")
foreach(dep IN LISTS pickleguard_lib_links)
  if(dep MATCHES "^PkgConfig::(.+)$")
    # The modules as lib/CMakeLists.txt asked for them (FindPkgConfig keeps
    # the arguments of each pkg_check_modules call).
    set(prefix ${CMAKE_MATCH_1})
    set(module ${__pkg_config_arguments_${prefix}})
    list(REMOVE_ITEM module REQUIRED QUIET IMPORTED_TARGET GLOBAL NO_CMAKE_PATH NO_CMAKE_ENVIRONMENT_PATH)
    if(NOT module)
      set(module ${${prefix}_MODULE_NAME})
    endif()
    list(JOIN module " " module)
    string(APPEND PICKLEGUARD_FIND_DEPENDENCIES
           "if(NOT TARGET PkgConfig::${prefix})\n"
           "  find_dependency(PkgConfig)\n"
           "  pkg_check_modules(${prefix} REQUIRED QUIET IMPORTED_TARGET ${module})\n"
           "endif()\n")
  elseif(dep MATCHES "^([A-Za-z0-9_]+)::")
    set(package ${CMAKE_MATCH_1})
    if(NOT package IN_LIST pickleguard_packages_seen)
      list(APPEND pickleguard_packages_seen ${package})
      string(APPEND PICKLEGUARD_FIND_DEPENDENCIES "find_dependency(${package})\n")
    endif()
  endif()
endforeach()

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/pickleguardConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/pickleguardConfig.cmake
                              INSTALL_DESTINATION ${PICKLEGUARD_CMAKE_DIR}
                              PATH_VARS CMAKE_INSTALL_DATADIR CMAKE_INSTALL_BINDIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/pickleguardConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/pickleguardConfig.cmake ${PROJECT_BINARY_DIR}/pickleguardConfigVersion.cmake
        DESTINATION ${PICKLEGUARD_CMAKE_DIR})

# ---- cpack -G DEB ------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME pickleguard)
set(CPACK_PACKAGE_VENDOR "pickleguard")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "decides whether a Python pickle is safe to load, without running Python")
set(CPACK_PACKAGE_DESCRIPTION
    "pickleguard reads pickles (bare, in PyTorch checkpoints, numpy and joblib files) with a symbolic\n"
    "decoder that imports and calls nothing, and judges every global, call and persistent id against\n"
    "an allow-list policy. This package holds the pickleguard command, the shipped policies, and the\n"
    "C++ library with its headers and CMake package (find_package(pickleguard)).")
string(REPLACE ";" "" CPACK_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "pickleguard maintainers <pickleguard@users.noreply.github.com>")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "${PICKLEGUARD_REPOSITORY_URL}")
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# Run-time libraries of the command come from dpkg-shlibdeps (libre2-9,
# libarchive13, libstdc++6, ...) where dpkg-dev is installed, else from this
# list; the headers and the static library need the -dev packages below.
find_program(PICKLEGUARD_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(PICKLEGUARD_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
      "libc6 (>= 2.36), libstdc++6 (>= 12), libgcc-s1, libre2-9, libarchive13, libbz2-1.0, liblz4-1, liblzma5, libzstd1, zlib1g, libseccomp2")
endif()
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS
    "libboost-dev (>= 1.74), libre2-dev, nlohmann-json3-dev, pkg-config, zlib1g-dev, liblzma-dev, liblz4-dev, libzstd-dev, libarchive-dev, libbz2-dev, libseccomp-dev")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
include(CPack)

# ---- tests of the installed tree -----------------------------------------------
if(PICKLEGUARD_TESTS AND NOT PICKLEGUARD_SANITIZE AND NOT PICKLEGUARD_FUZZ)
  enable_testing()
  add_test(NAME cpp_service_staged_install
           COMMAND ${CMAKE_COMMAND} -DBUILD_DIR=${PROJECT_BINARY_DIR} -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
                   -DWORK_DIR=${PROJECT_BINARY_DIR}/cpp-service -DCXX=${CMAKE_CXX_COMPILER}
                   -DGENERATOR=${CMAKE_GENERATOR} -P ${PROJECT_SOURCE_DIR}/cmake/test_cpp_service.cmake)
  set_tests_properties(cpp_service_staged_install PROPERTIES TIMEOUT 600 LABELS install)
  find_program(PICKLEGUARD_DPKG_DEB dpkg-deb)
  if(PICKLEGUARD_DPKG_DEB)
    add_test(NAME deb_package
             COMMAND ${CMAKE_COMMAND} -DBUILD_DIR=${PROJECT_BINARY_DIR} -DWORK_DIR=${PROJECT_BINARY_DIR}/deb
                     -P ${PROJECT_SOURCE_DIR}/cmake/test_deb_package.cmake)
    set_tests_properties(deb_package PROPERTIES TIMEOUT 600 LABELS "install;slow")
  endif()
endif()
