# Flat segment files (docs/mcu.md): flatc turns schema/segment.fbs into
# segment_generated.h in the build tree (never committed) at build time.
# Defines es_segment_schema (an interface target carrying the include path and
# the generation dependency) for es_segment and es_segment_file.
find_program(FLATC_EXECUTABLE flatc REQUIRED)
find_path(FLATBUFFERS_INCLUDE_DIR flatbuffers/flatbuffers.h REQUIRED)
set(EDGESPLIT_SCHEMA_OUT ${PROJECT_BINARY_DIR}/generated/schema)
add_custom_command(
  OUTPUT ${EDGESPLIT_SCHEMA_OUT}/segment_generated.h
  COMMAND ${FLATC_EXECUTABLE} --cpp --gen-mutable -o ${EDGESPLIT_SCHEMA_OUT} ${PROJECT_SOURCE_DIR}/schema/segment.fbs
  DEPENDS ${PROJECT_SOURCE_DIR}/schema/segment.fbs
  COMMENT "flatc: schema/segment.fbs")
add_custom_target(es_segment_schema_gen DEPENDS ${EDGESPLIT_SCHEMA_OUT}/segment_generated.h)
add_library(es_segment_schema INTERFACE)
target_include_directories(es_segment_schema INTERFACE $<BUILD_INTERFACE:${EDGESPLIT_SCHEMA_OUT}>
                                                     $<BUILD_INTERFACE:${FLATBUFFERS_INCLUDE_DIR}>)
add_dependencies(es_segment_schema es_segment_schema_gen)
