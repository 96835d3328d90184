# Debian packages with CPack (`make package`, or `cpack -G DEB` in a build folder), one per
# install component:
#  libpmemstream0     lib    the shared library (with a shlibs file and the ldconfig trigger)
#  libpmemstream-dev  dev    headers, static library, .so link, pkg-config and CMake package,
#                            manual pages of sections 3 and 7
#  pmemstream-tools   tools  the pmemstream command, its manual page and bash completion
# Runtime dependencies (libpmem2, libstdc++6, libc6, libgcc-s1) come from dpkg-shlibdeps, so
# they name the versions the binaries were linked against. tests/package/package_test.sh
# builds these from a configured tree, installs them and builds programs against them.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME pmemstream)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "pmemstream")
set(CPACK_PACKAGE_CONTACT "pmemstream developers <pmemstream@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "persistent-memory-optimised append-only log")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL lib dev tools)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_COMPRESSION_TYPE gzip)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_LIB_PACKAGE_NAME libpmemstream0)
set(CPACK_DEBIAN_LIB_PACKAGE_SECTION libs)
set(CPACK_COMPONENT_LIB_DESCRIPTION "persistent-memory-optimised append-only log - shared library
 pmemstream keeps an append-only log in one mapped file (persistent memory, CXL memory or an
 ordinary file), divided into independently appendable regions that hold entries of any size,
 each with a stream-wide timestamp. One fence per append, lock-free readers, crash-safe.
 .
 This package holds the shared library libpmemstream.so.0.")
# The shlibs control file: programs linked against libpmemstream.so.0 depend on
# libpmemstream0 (>= this version).
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libpmemstream-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEV_DEPENDS lib)
# ... which CPack turns into "Depends: libpmemstream0 (= <version>)".
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
# The .pc file requires libpmem2 and the CMake package finds it through pkg-config.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libpmem2-dev, pkgconf | pkg-config")
set(CPACK_COMPONENT_DEV_DESCRIPTION "persistent-memory-optimised append-only log - development files
 pmemstream keeps an append-only log in one mapped file, divided into regions that hold
 entries of any size.
 .
 This package holds the C and C++ headers, the static library, the pkg-config files
 (libpmemstream, libpmemstream++), the CMake package (find_package(pmemstream)) and the
 manual pages libpmemstream(7) and pmemstream_*(3).")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME pmemstream-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION utils)
set(CPACK_COMPONENT_TOOLS_DESCRIPTION "persistent-memory-optimised append-only log - command-line tool
 pmemstream(1) creates, inspects, appends to, follows and checks pmemstream files
 (create, info, region add/ls/rm, append, cat, dump, tail -f, check, bench).")

include(CPack)
