include(CMakePackageConfigHelpers)
install(TARGETS pmemstream pmemstream_static EXPORT pmemstreamTargets
	LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
	ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
	INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT pmemstreamTargets NAMESPACE pmemstream:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pmemstream)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/pmemstreamConfig.cmake.in
	${PROJECT_BINARY_DIR}/pmemstreamConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pmemstream)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/pmemstreamConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/pmemstreamConfig.cmake ${PROJECT_BINARY_DIR}/pmemstreamConfigVersion.cmake
	DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pmemstream)
# A relocatable .pc: the prefix is found relative to the .pc file's own folder.
file(RELATIVE_PATH PC_PREFIX_FROM_PCDIR "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
configure_file(${PROJECT_SOURCE_DIR}/cmake/libpmemstream.pc.in ${PROJECT_BINARY_DIR}/libpmemstream.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/libpmemstream.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
