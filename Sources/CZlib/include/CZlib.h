// zlib for Swift. deflateInit2 and inflateInit2 are function-like macros, which
// Swift cannot call: each gets a one-line wrapper. No logic lives here.
#ifndef CZLIB_H
#define CZLIB_H

#include <zlib.h>

// windowBits 31: gzip framing (HTTP Content-Encoding: gzip).
static inline int czlib_deflate_init_gzip(z_stream *s, int level) {
    return deflateInit2(s, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
}

// windowBits -15: raw deflate, as stored inside zip files.
static inline int czlib_inflate_init_raw(z_stream *s) {
    return inflateInit2(s, -15);
}

#endif
