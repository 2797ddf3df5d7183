# Warnings (as errors, unless KSERDE_WERROR=OFF) for kserde's own targets only.
function(kserde_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
                                           -Wnull-dereference -Wimplicit-fallthrough)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    # RapidJSON 1.1's iterators define == and != as members taking a non-const argument, which
    # clang's C++20 rules call ambiguous at every use in our code; the headers are not ours.
    target_compile_options(${target} PRIVATE -Wno-ambiguous-reversed-operator)
  endif()
  if(KSERDE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
