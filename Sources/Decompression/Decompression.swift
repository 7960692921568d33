import CCompression

/// Message bodies compressed as kombu compresses them (oslo.messaging's `kombu_compression`,
/// which puts the method's content type in the message's `compression` header). Every method
/// kombu registers is decoded; the output is bounded (`limit`), so a small message that would
/// inflate to gigabytes is refused after `limit` bytes, never held.
package enum Decompression {
    /// kombu's methods, by the content type it puts in the header.
    package enum Method: String, CaseIterable, Sendable {
        case zlib = "application/x-gzip"
        case bzip2 = "application/x-bz2"
        case lzma = "application/x-lzma"
        case zstd = "application/zstd"
        case brotli = "application/x-brotli"

        /// The method a `compression` header names: kombu sends the content type; its aliases
        /// (`gzip`, `zlib`, `bzip2`, `xz`, ...) are taken too.
        package init?(header: String) {
            let name = header.lowercased()
            if let method = Method(rawValue: name) {
                self = method
                return
            }
            switch name {
            case "gzip", "zlib": self = .zlib
            case "bzip2", "bzip", "bz2": self = .bzip2
            case "lzma", "xz": self = .lzma
            case "zstd", "zstandard": self = .zstd
            case "brotli": self = .brotli
            default: return nil
            }
        }
    }

    package enum Failure: Error, Sendable, CustomStringConvertible {
        /// The header names a method none of the libraries decodes.
        case unknownMethod(String)
        /// The output would be more than the limit.
        case tooLarge(Method, limit: Int)
        /// Not valid data of the method, or cut short.
        case damaged(Method, String)

        package var description: String {
            switch self {
            case .unknownMethod(let name):
                return "compressed with \"\(name)\", which nova-dirsvc cannot decode (it decodes "
                    + Method.allCases.map(\.rawValue).joined(separator: ", ") + ")"
            case .tooLarge(let method, let limit):
                return "compressed with \(method.rawValue), it inflates to more than \(limit) bytes (max_message_bytes)"
            case .damaged(let method, let reason):
                return "compressed with \(method.rawValue), but it cannot be decoded: \(reason)"
            }
        }
    }

    /// `input` decoded with the method named by a `compression` header, at most `limit` bytes.
    package static func decompress(_ input: [UInt8], header: String, limit: Int) throws(Failure) -> [UInt8] {
        guard let method = Method(header: header) else { throw .unknownMethod(header) }
        return try decompress(input, method: method, limit: limit)
    }

    /// `input` decoded with `method`, at most `limit` bytes.
    package static func decompress(_ input: [UInt8], method: Method, limit: Int) throws(Failure) -> [UInt8] {
        var output = Output(method: method, limit: limit)
        let problem: String? = input.withUnsafeBufferPointer { source in
            switch method {
            case .zlib: return zlib(source, &output)
            case .bzip2: return bzip2(source, &output)
            case .lzma: return lzma(source, &output)
            case .zstd: return zstd(source, &output)
            case .brotli: return brotli(source, &output)
            }
        }
        if output.overflowed { throw .tooLarge(method, limit: limit) }
        if let problem { throw .damaged(method, problem) }
        return output.bytes
    }

    /// The decoded bytes, a chunk at a time, up to the limit.
    struct Output {
        let method: Method
        let limit: Int
        var bytes: [UInt8] = []
        var overflowed = false
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)

        /// Calls `step` with the chunk to fill; keeps what it produced. False once over the limit.
        mutating func fill(_ step: (UnsafeMutableBufferPointer<UInt8>) -> Int) -> Bool {
            let produced = chunk.withUnsafeMutableBufferPointer { step($0) }
            if bytes.count + produced > limit {
                overflowed = true
                return false
            }
            bytes.append(contentsOf: chunk[0..<produced])
            return true
        }
    }

    // Each decoder below: feed all of the input, take output a chunk at a time until the stream
    // ends; nil when it ended cleanly, else why not.

    private static func zlib(_ source: UnsafeBufferPointer<UInt8>, _ output: inout Output) -> String? {
        var stream = z_stream()
        guard ccompression_inflate_init(&stream) == Z_OK else { return "zlib could not start" }
        defer { inflateEnd(&stream) }
        stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
        stream.avail_in = UInt32(source.count)
        var status = Z_OK
        while status == Z_OK {
            guard
                output.fill({ chunk in
                    stream.next_out = chunk.baseAddress
                    stream.avail_out = UInt32(chunk.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return chunk.count - Int(stream.avail_out)
                })
            else { return nil }
            if status == Z_BUF_ERROR && stream.avail_in == 0 { return "the data ends before the stream does" }
        }
        return status == Z_STREAM_END ? nil : stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
    }

    private static func bzip2(_ source: UnsafeBufferPointer<UInt8>, _ output: inout Output) -> String? {
        var stream = bz_stream()
        guard BZ2_bzDecompressInit(&stream, 0, 0) == BZ_OK else { return "bzip2 could not start" }
        defer { BZ2_bzDecompressEnd(&stream) }
        stream.next_in = UnsafeMutableRawPointer(mutating: source.baseAddress)?.assumingMemoryBound(to: CChar.self)
        stream.avail_in = UInt32(source.count)
        var status = BZ_OK
        while status == BZ_OK {
            guard
                output.fill({ chunk in
                    stream.next_out = UnsafeMutableRawPointer(chunk.baseAddress)?.assumingMemoryBound(to: CChar.self)
                    stream.avail_out = UInt32(chunk.count)
                    status = BZ2_bzDecompress(&stream)
                    return chunk.count - Int(stream.avail_out)
                })
            else { return nil }
            if status == BZ_OK && stream.avail_in == 0 && stream.avail_out > 0 { return "the data ends before the stream does" }
        }
        return status == BZ_STREAM_END ? nil : "bzip2 error \(status)"
    }

    private static func lzma(_ source: UnsafeBufferPointer<UInt8>, _ output: inout Output) -> String? {
        var stream = lzma_stream()
        // .xz or .lzma framing; the decoder's own memory bounded too (a hostile dictionary size)
        guard lzma_auto_decoder(&stream, 256 << 20, 0) == LZMA_OK else { return "liblzma could not start" }
        defer { lzma_end(&stream) }
        stream.next_in = source.baseAddress
        stream.avail_in = source.count
        var status = LZMA_OK
        while status == LZMA_OK {
            guard
                output.fill({ chunk in
                    stream.next_out = chunk.baseAddress
                    stream.avail_out = chunk.count
                    status = lzma_code(&stream, LZMA_FINISH)
                    return chunk.count - stream.avail_out
                })
            else { return nil }
        }
        switch status {
        case LZMA_STREAM_END: return nil
        case LZMA_BUF_ERROR: return "the data ends before the stream does"
        case LZMA_MEMLIMIT_ERROR: return "it needs more than 256 MiB to decode"
        default: return "liblzma error \(status.rawValue)"
        }
    }

    private static func zstd(_ source: UnsafeBufferPointer<UInt8>, _ output: inout Output) -> String? {
        guard let stream = ZSTD_createDStream() else { return "zstd could not start" }
        defer { ZSTD_freeDStream(stream) }
        // a frame may ask for a window of up to 2^27 bytes (128 MiB): refused above 2^24
        _ = ZSTD_DCtx_setParameter(stream, ZSTD_d_windowLogMax, 24)
        var input = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
        var remaining = 1  // ZSTD_decompressStream: 0 when a frame is complete
        var failure: String?
        while remaining != 0 && failure == nil {
            var produced = 0
            guard
                output.fill({ chunk in
                    var out = ZSTD_outBuffer(dst: chunk.baseAddress, size: chunk.count, pos: 0)
                    remaining = ZSTD_decompressStream(stream, &out, &input)
                    if ZSTD_isError(remaining) != 0 { failure = String(cString: ZSTD_getErrorName(remaining)) }
                    produced = out.pos
                    return out.pos
                })
            else { return nil }
            // all input taken, nothing more coming out, the frame not done: it was cut short
            if remaining != 0 && failure == nil && input.pos == input.size && produced == 0 {
                failure = "the data ends before the frame does"
            }
        }
        return failure
    }

    private static func brotli(_ source: UnsafeBufferPointer<UInt8>, _ output: inout Output) -> String? {
        guard let state = BrotliDecoderCreateInstance(nil, nil, nil) else { return "brotli could not start" }
        defer { BrotliDecoderDestroyInstance(state) }
        var availableIn = source.count
        var nextIn = source.baseAddress
        var result = BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT
        while result == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT {
            guard
                output.fill({ chunk in
                    var availableOut = chunk.count
                    var nextOut = chunk.baseAddress
                    result = BrotliDecoderDecompressStream(state, &availableIn, &nextIn, &availableOut, &nextOut, nil)
                    return chunk.count - availableOut
                })
            else { return nil }
        }
        switch result {
        case BROTLI_DECODER_RESULT_SUCCESS: return nil
        case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT: return "the data ends before the stream does"
        default: return String(cString: BrotliDecoderErrorString(BrotliDecoderGetErrorCode(state)))
        }
    }
}
