# Install rules: the libraries, the headers, a CMake package (find_package(pmemstream)) and
# two pkg-config files, libpmemstream (C flags; C and C++ alike) and libpmemstream++ (the C++
# API: adds the standard its headers need).

# The C++ headers need C++20 (defaulted operator==, std::span). CMAKE_CXX_STANDARD covers
# this build only, so the requirement is put on the targets (defined in src/) where it reaches
# consumers through the exported targets and through add_subdirectory() alike, and on the
# objects so that a parent project's older CMAKE_CXX_STANDARD cannot build them with less.
# The internal targets are guarded: src/ may rename or merge them.
if(TARGET pmemstream_objects)
	target_compile_features(pmemstream_objects PRIVATE cxx_std_20)
endif()
foreach(t pmemstream pmemstream_static pmemstream_internal)
	if(TARGET ${t})
		target_compile_features(${t} INTERFACE cxx_std_20)
	endif()
endforeach()

include(CMakePackageConfigHelpers)
# Components, one per Debian package (cmake/package.cmake): lib (the shared library that
# programs load), dev (what building against it needs) and tools (the CLI, installed by
# tools/CMakeLists.txt).
install(TARGETS pmemstream pmemstream_static EXPORT pmemstreamTargets
	LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT lib NAMELINK_COMPONENT dev
	ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
	INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
install(EXPORT pmemstreamTargets NAMESPACE pmemstream:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pmemstream
	COMPONENT dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/pmemstreamConfig.cmake.in
	${PROJECT_BINARY_DIR}/pmemstreamConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pmemstream)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/pmemstreamConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/pmemstreamConfig.cmake ${PROJECT_BINARY_DIR}/pmemstreamConfigVersion.cmake
	DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pmemstream COMPONENT dev)

# A static link by a C program (pkg-config --static) must add the C++ runtime that the C
# compiler driver does not: the libraries the C++ driver links implicitly and the C driver
# does not (-lstdc++ -lm with GCC, -lc++ ... with libc++).
# The same list goes on the static target for a link step in C: CMake links the archive with
# the C++ driver when the consumer enabled CXX, but a project with LANGUAGES C has no C++
# driver to use and would get hundreds of undefined references.
set(PC_CXX_RUNTIME "")
foreach(lib ${CMAKE_CXX_IMPLICIT_LINK_LIBRARIES})
	if(lib IN_LIST CMAKE_C_IMPLICIT_LINK_LIBRARIES)
		continue()
	endif()
	if(IS_ABSOLUTE "${lib}" OR lib MATCHES "^-")
		string(APPEND PC_CXX_RUNTIME " ${lib}")
	else()
		string(APPEND PC_CXX_RUNTIME " -l${lib}")
	endif()
	target_link_libraries(pmemstream_static INTERFACE "$<$<NOT:$<LINK_LANGUAGE:CXX>>:${lib}>")
endforeach()
# A relocatable .pc: the prefix is found relative to the .pc file's own folder.
file(RELATIVE_PATH PC_PREFIX_FROM_PCDIR "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
configure_file(${PROJECT_SOURCE_DIR}/cmake/libpmemstream.pc.in ${PROJECT_BINARY_DIR}/libpmemstream.pc @ONLY)
configure_file(${PROJECT_SOURCE_DIR}/cmake/libpmemstream++.pc.in ${PROJECT_BINARY_DIR}/libpmemstream++.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/libpmemstream.pc ${PROJECT_BINARY_DIR}/libpmemstream++.pc
	DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)
