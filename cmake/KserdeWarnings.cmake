# Warnings (as errors, unless KSERDE_WERROR=OFF) for kserde's own targets only.
function(kserde_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
                                           -Wnull-dereference -Wimplicit-fallthrough)
  if(KSERDE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
