// The decompressors of the methods oslo.messaging's kombu_compression can use (kombu.compression):
// zlib (zlib1g-dev), bzip2 (libbz2-dev), xz/lzma (liblzma-dev), zstd (libzstd-dev), brotli
// (libbrotli-dev). Swift calls their streaming APIs directly; the one shim below exists only for
// what Swift cannot call: inflateInit2 is a macro.
#ifndef NOVA_DIRSVC_CCOMPRESSION_SHIM_H
#define NOVA_DIRSVC_CCOMPRESSION_SHIM_H

#include <zlib.h>
#include <bzlib.h>
#include <lzma.h>
#include <zstd.h>
#include <brotli/decode.h>

// inflateInit2 with windowBits 15 + 32: zlib or gzip framing, detected from the header (kombu's
// "application/x-gzip" is zlib.compress's output, zlib framing despite its name).
static inline int ccompression_inflate_init(z_stream *stream) {
    return inflateInit2(stream, 15 + 32);
}

#endif
