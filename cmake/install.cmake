# Installation: headers, the static module libraries, the CLI, the profiles (under
# share/edgesplit), a CMake package (find_package(edgesplit) -> edgesplit::edgesplit
# and one edgesplit::<module> per library), edgesplit.pc, the man page, and CPack
# for a .deb. Every installed path is relative to the prefix, so the tree can be
# installed (cmake --install --prefix) or unpacked anywhere.
include(CMakePackageConfigHelpers)

set(EDGESPLIT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/edgesplit)
foreach(t ${EDGESPLIT_MODULES})
  string(REGEX REPLACE "^es_" "" short ${t})
  set_target_properties(${t} PROPERTIES EXPORT_NAME ${short})
  add_library(edgesplit::${short} ALIAS ${t})
endforeach()
set_target_properties(edgesplit_lib PROPERTIES EXPORT_NAME edgesplit)
set_target_properties(es_segment_schema PROPERTIES EXPORT_NAME segment_schema)
# A project that pulls edgesplit in with add_subdirectory gets the same
# edgesplit:: targets, and no install rules or packaging of its own.
option(EDGESPLIT_INSTALL "Generate edgesplit's install rules and CPack packaging" ${PROJECT_IS_TOP_LEVEL})
if(NOT EDGESPLIT_INSTALL)
  return()
endif()

install(TARGETS ${EDGESPLIT_MODULES} edgesplit_lib es_segment_schema EXPORT edgesplitTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
install(TARGETS edgesplit RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cli)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/edgesplit DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/profiles/ DESTINATION ${CMAKE_INSTALL_DATADIR}/edgesplit/profiles COMPONENT cli)
if(EDGESPLIT_REPORT_ASSETS_FOUND)  # the report's charting library (cmake/report_assets.cmake)
  install(DIRECTORY ${EDGESPLIT_REPORT_ASSETS_DIR}/ DESTINATION ${CMAKE_INSTALL_DATADIR}/edgesplit/report COMPONENT cli)
endif()
install(EXPORT edgesplitTargets NAMESPACE edgesplit:: DESTINATION ${EDGESPLIT_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/edgesplitConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/edgesplitConfig.cmake INSTALL_DESTINATION ${EDGESPLIT_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/edgesplitConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/edgesplitConfig.cmake ${PROJECT_BINARY_DIR}/edgesplitConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/FindSodium.cmake
        DESTINATION ${EDGESPLIT_CMAKE_DIR} COMPONENT dev)

# pkg-config: prefix from the .pc file's own place (relocatable). Static
# libraries, dependents first; -u keeps the oneDNN backend's registration.
set(EDGESPLIT_PC_LIBS "")
foreach(m report runtime eval codec_host codec net delivery crypto segment_file segment wire quant plan cost io models onnx onednn exec kernels graph)
  if(TARGET es_${m})
    string(APPEND EDGESPLIT_PC_LIBS " -les_${m}")
  endif()
endforeach()
file(RELATIVE_PATH EDGESPLIT_PC_TO_PREFIX /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)  # ../.. or ../../..
configure_file(${PROJECT_SOURCE_DIR}/cmake/edgesplit.pc.in ${PROJECT_BINARY_DIR}/edgesplit.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/edgesplit.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

# Man page from --help (help2man); skipped with a warning where it is missing.
find_program(HELP2MAN_EXECUTABLE help2man)
if(HELP2MAN_EXECUTABLE)
  add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/edgesplit.1
                     COMMAND ${HELP2MAN_EXECUTABLE} --no-info --no-discard-stderr --version-string=${PROJECT_VERSION}
                             --name=split\ inference\ of\ CNNs -o ${PROJECT_BINARY_DIR}/edgesplit.1 $<TARGET_FILE:edgesplit>
                     DEPENDS edgesplit COMMENT "help2man: edgesplit.1")
  add_custom_target(edgesplit_man ALL DEPENDS ${PROJECT_BINARY_DIR}/edgesplit.1)
  install(FILES ${PROJECT_BINARY_DIR}/edgesplit.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT cli)
else()
  message(WARNING "help2man not found: the edgesplit man page is not built (apt-get install help2man)")
endif()

set(CPACK_PACKAGE_NAME edgesplit)
set(CPACK_PACKAGE_CONTACT "edgesplit maintainers <edgesplit@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Split inference of CNNs across a microcontroller, its radio and edge devices")
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # run-time libraries (oneDNN, protobuf, ONNX, libsodium) from dpkg-shlibdeps
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
include(CPack)
