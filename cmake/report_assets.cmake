# edgesplit report's charting library (docs/report.md): Vega, Vega-Lite and
# vega-embed from npm, pinned by third_party/vega/package-lock.json and installed
# by scripts/install-deps.sh into third_party/vega/node_modules (git-ignored).
# Their minified bundles and licences are copied into the build tree (and
# installed under share/edgesplit/report). Without them the build still
# succeeds; `edgesplit report` then says what is missing and where it looked.
set(EDGESPLIT_REPORT_NPM ${PROJECT_SOURCE_DIR}/third_party/vega/node_modules)
set(EDGESPLIT_REPORT_ASSETS_DIR ${PROJECT_BINARY_DIR}/share/edgesplit/report)
set(EDGESPLIT_REPORT_ASSETS_FOUND ON)
foreach(bundle vega/build/vega.min.js vega-lite/build/vega-lite.min.js vega-embed/build/vega-embed.min.js)
  if(NOT EXISTS ${EDGESPLIT_REPORT_NPM}/${bundle})
    set(EDGESPLIT_REPORT_ASSETS_FOUND OFF)
  endif()
endforeach()
if(EDGESPLIT_REPORT_ASSETS_FOUND)
  foreach(package vega vega-lite vega-embed)
    # configure_file: a changed bundle re-copies at the next build.
    configure_file(${EDGESPLIT_REPORT_NPM}/${package}/build/${package}.min.js ${EDGESPLIT_REPORT_ASSETS_DIR}/${package}.min.js COPYONLY)
  endforeach()
  # Every package's licence (the bundles include d3 and other dependencies' code).
  file(GLOB licences ${EDGESPLIT_REPORT_NPM}/*/LICENSE* ${EDGESPLIT_REPORT_NPM}/@*/*/LICENSE*)
  foreach(licence ${licences})
    get_filename_component(package_dir ${licence} DIRECTORY)
    file(RELATIVE_PATH package ${EDGESPLIT_REPORT_NPM} ${package_dir})
    string(REPLACE "/" "__" package ${package})
    configure_file(${licence} ${EDGESPLIT_REPORT_ASSETS_DIR}/licenses/${package}.txt COPYONLY)
  endforeach()
  message(STATUS "edgesplit report: charting library from ${EDGESPLIT_REPORT_NPM}")
else()
  message(WARNING "edgesplit report: Vega, Vega-Lite and vega-embed are not in ${EDGESPLIT_REPORT_NPM} "
                  "(scripts/install-deps.sh installs them): the build goes on, and `edgesplit report` will say what is missing")
endif()
if(TARGET es_report)
  target_compile_definitions(es_report PRIVATE EDGESPLIT_REPORT_ASSETS_BUILD_DIR="${EDGESPLIT_REPORT_ASSETS_DIR}"
                             EDGESPLIT_INSTALLED_REPORT_ASSETS="${CMAKE_INSTALL_DATADIR}/edgesplit/report"
                             EDGESPLIT_INSTALL_PREFIX="${CMAKE_INSTALL_PREFIX}")
endif()
