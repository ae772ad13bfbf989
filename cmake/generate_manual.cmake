# Writes one of the files `pickleguard` generates from its own option
# definitions (the man page, a completion script) at build time:
#   cmake -DEXE=pickleguard -DOPTION=--generate-completion -DVALUE=bash -DOUT=file -P generate_manual.cmake
# A failed run leaves no file behind, so the next build tries again.
execute_process(COMMAND ${EXE} ${OPTION} ${VALUE} OUTPUT_FILE ${OUT}.tmp RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE ${OUT}.tmp)
  message(FATAL_ERROR "${EXE} ${OPTION} ${VALUE} failed: ${rc}")
endif()
file(RENAME ${OUT}.tmp ${OUT})
