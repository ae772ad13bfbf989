# Writes one of the files `pickleguard` generates from its own option
# definitions (the man page, a completion script) at build time:
#   cmake -DEXE=pickleguard -DOPTION=--generate-completion -DVALUE=bash -DOUT=file -P generate_manual.cmake
# A failed run leaves no file behind, so the next build tries again.
# In a sanitizer build the tool is instrumented; LeakSanitizer needs ptrace,
# which a build sandbox may deny, and a run that prints text leaks nothing
# worth failing the build for.
if(NOT DEFINED ENV{ASAN_OPTIONS})
  set(ENV{ASAN_OPTIONS} detect_leaks=0)
endif()
execute_process(COMMAND ${EXE} ${OPTION} ${VALUE} OUTPUT_FILE ${OUT}.tmp RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE ${OUT}.tmp)
  message(FATAL_ERROR "${EXE} ${OPTION} ${VALUE} failed: ${rc}")
endif()
file(RENAME ${OUT}.tmp ${OUT})
