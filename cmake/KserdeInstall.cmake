include(CMakePackageConfigHelpers)
install(TARGETS kserde_registry kserde_core EXPORT kserdeTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS kserde RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY registry/include/ core/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT kserdeTargets NAMESPACE kserde:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kserde)
configure_package_config_file(cmake/kserdeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/kserdeConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kserde)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/kserdeConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/kserdeConfig.cmake ${PROJECT_BINARY_DIR}/kserdeConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kserde)
# Plugin authors: find_package(kserde CONFIG) brings kserde_add_plugin (see docs/plugins.md).
install(FILES ${CMAKE_CURRENT_LIST_DIR}/KserdePlugin.cmake DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kserde)
