// Every wrapper is static inline in include/CCurl.h; SwiftPM needs one source file.
