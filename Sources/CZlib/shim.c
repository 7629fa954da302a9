// Every wrapper is static inline in include/CZlib.h; SwiftPM needs one source file.
