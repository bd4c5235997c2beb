# The Debian package: `cpack -G DEB` in a built tree makes sendgrid-source_<version>_amd64.deb.
#
# Three install components keep `cmake --install` and the package apart:
#   runtime  the binary, the docs and the man page: both install them (relative paths);
#   local    the unit for `cmake --install` (under the prefix, e.g. /usr/local/lib/systemd);
#   deb      only in the package (EXCLUDE_FROM_ALL, absolute paths): the unit in
#            /lib/systemd/system (where Debian 12 keeps units) with ExecStart=/usr/bin/...,
#            the example configuration as the conffile /etc/sendgrid-source/config.toml,
#            copyright and changelog.gz.
# `cmake --install` therefore never writes /etc, and the package never holds /usr/local paths.
# The maintainer scripts, conffiles list, copyright and changelog live in systemd/debian/.

set(SGS_DEB_DIR ${PROJECT_SOURCE_DIR}/systemd/debian)
set(SGS_DEB_BUILD_DIR ${PROJECT_BINARY_DIR}/packaging)

# The unit as the package installs it: the same template, with the package's paths. (A function,
# so the overridden install paths stay local to it.)
function(sgs_configure_packaged_unit)
  set(CMAKE_INSTALL_FULL_BINDIR /usr/bin)
  set(CMAKE_INSTALL_FULL_DOCDIR /usr/share/doc/${PROJECT_NAME})
  set(CMAKE_INSTALL_FULL_MANDIR /usr/share/man)
  configure_file(${PROJECT_SOURCE_DIR}/systemd/sendgrid-source.service.in
                 ${SGS_DEB_BUILD_DIR}/sendgrid-source.service @ONLY)
endfunction()
sgs_configure_packaged_unit()

# The changelog's top entry must name this version, or the package would describe another one.
file(STRINGS ${SGS_DEB_DIR}/changelog sgs_changelog_top LIMIT_COUNT 1)
if(NOT sgs_changelog_top MATCHES "^${PROJECT_NAME} \\(${PROJECT_VERSION}\\) ")
  message(FATAL_ERROR "systemd/debian/changelog starts with '${sgs_changelog_top}': add an entry "
                      "for version ${PROJECT_VERSION} (the version in CMakeLists.txt) at the top")
endif()

# The version has no Debian revision (the project packages itself: a native package), so the
# changelog is changelog.gz; changelog.Debian.gz would be lintian's
# wrong-name-for-changelog-of-native-package. gzip -n (no name or time stamp): reproducible.
add_custom_command(
  OUTPUT ${SGS_DEB_BUILD_DIR}/changelog.gz
  COMMAND gzip -9nc ${SGS_DEB_DIR}/changelog > ${SGS_DEB_BUILD_DIR}/changelog.gz
  DEPENDS ${SGS_DEB_DIR}/changelog
  COMMENT "Compressing the Debian changelog"
  VERBATIM)

# sendgrid-source(1), generated from --help and --version by help2man. (In an ASan build the
# binary runs here too: a leak report at exit must not fail the build.)
find_program(HELP2MAN_PROGRAM help2man)
set(sgs_outputs ${SGS_DEB_BUILD_DIR}/changelog.gz)
if(HELP2MAN_PROGRAM)
  add_custom_command(
    OUTPUT ${SGS_DEB_BUILD_DIR}/sendgrid-source.1.gz
    COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=0
            ${HELP2MAN_PROGRAM} --no-info --section=1 --name=${SGS_MAN_NAME}
            --include=${PROJECT_SOURCE_DIR}/systemd/sendgrid-source.h2m
            --output=${SGS_DEB_BUILD_DIR}/sendgrid-source.1 $<TARGET_FILE:sendgrid-source>
    COMMAND gzip -9nf ${SGS_DEB_BUILD_DIR}/sendgrid-source.1
    DEPENDS sendgrid-source ${PROJECT_SOURCE_DIR}/systemd/sendgrid-source.h2m
    COMMENT "Generating the man page sendgrid-source(1) with help2man"
    VERBATIM)
  list(APPEND sgs_outputs ${SGS_DEB_BUILD_DIR}/sendgrid-source.1.gz)
  install(FILES ${SGS_DEB_BUILD_DIR}/sendgrid-source.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
          COMPONENT runtime)
else()
  message(WARNING "help2man not found: no man page, and the Debian package will lack it "
                  "(scripts/install-deps.sh installs help2man)")
endif()
add_custom_target(sgs_packaging_files ALL DEPENDS ${sgs_outputs})

install(FILES ${SGS_DEB_BUILD_DIR}/sendgrid-source.service DESTINATION /lib/systemd/system
        COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/config.toml.example DESTINATION /etc/sendgrid-source
        RENAME config.toml PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
        COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${SGS_DEB_DIR}/copyright ${SGS_DEB_BUILD_DIR}/changelog.gz
        DESTINATION /usr/share/doc/${PROJECT_NAME} COMPONENT deb EXCLUDE_FROM_ALL)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ${PROJECT_NAME})
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "sendgrid-source developers")
# Whoever publishes the package sets a real address (lintian refuses hosts like *.local).
set(SGS_DEB_MAINTAINER "sendgrid-source developers <sendgrid-source@example.com>"
    CACHE STRING "The Debian package's Maintainer field")
set(CPACK_PACKAGE_CONTACT "${SGS_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "SendGrid Event Webhook receiver and API sync into SQLite")
set(CPACK_PACKAGE_DESCRIPTION
    "A daemon that turns SendGrid accounts into a local SQLite warehouse. It\n"
    "receives SendGrid's Event Webhook and appends every event, exactly once, to\n"
    "per-type tables, and every few hours syncs lists, segments, campaigns and\n"
    "contacts from the SendGrid API into object tables. It runs as the systemd\n"
    "service sendgrid-source, which installing the package does not enable or start.")
# (No ';' in these lines: CMake splits lists there, and JOIN would drop it.)
string(JOIN "" CPACK_PACKAGE_DESCRIPTION ${CPACK_PACKAGE_DESCRIPTION})
# Installed with DESTDIR, so the absolute destinations above land in the package's tree, and
# with the prefix /usr whatever CMAKE_INSTALL_PREFIX the build directory was configured with.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_CMAKE_PROJECTS
    "${PROJECT_BINARY_DIR};${PROJECT_NAME};runtime;/"
    "${PROJECT_BINARY_DIR};${PROJECT_NAME};deb;/")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The libraries come from dpkg-shlibdeps; procps has /bin/kill, the unit's ExecReload (a
# minbase system lacks it, and systemd does not depend on it).
set(CPACK_DEBIAN_PACKAGE_DEPENDS procps)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${SGS_DEB_DIR}/conffiles ${SGS_DEB_DIR}/postinst ${SGS_DEB_DIR}/prerm ${SGS_DEB_DIR}/postrm)
include(CPack)
