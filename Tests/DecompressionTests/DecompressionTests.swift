import Decompression
import Foundation
import Testing

/// The fixtures were made with Python's zlib, bz2 and lzma, kombu's brotli and backports.zstd:
/// the very calls kombu.compression makes (Tests/Fixtures/compression).
private func fixture(_ name: String) throws -> [UInt8] {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/compression/\(name)")
    return Array(try Data(contentsOf: url))
}

private let suffixes: [(Decompression.Method, String)] = [
    (.zlib, "zlib"), (.bzip2, "bz2"), (.lzma, "xz"), (.zstd, "zst"), (.brotli, "br"),
]

@Suite struct DecompressionTests {
    @Test("every kombu method decodes what kombu's encoder wrote", arguments: suffixes)
    func decodes(method: Decompression.Method, suffix: String) throws {
        let expected = try fixture("message.json")
        #expect(try Decompression.decompress(fixture("message.json.\(suffix)"), header: method.rawValue, limit: 1 << 20) == expected)
    }

    @Test("a small message that inflates past the limit is refused at the limit", arguments: suffixes)
    func bomb(method: Decompression.Method, suffix: String) throws {
        let input = try fixture("zeros-64MiB.\(suffix)")
        #expect(throws: Decompression.Failure.self) {
            _ = try Decompression.decompress(input, method: method, limit: 1 << 20)
        }
        do {
            _ = try Decompression.decompress(input, method: method, limit: 1 << 20)
        } catch {
            guard case .tooLarge(let named, let limit) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(named == method && limit == 1 << 20)
        }
    }

    @Test("a message cut short, or not of the method, is damaged, not decoded", arguments: suffixes)
    func damaged(method: Decompression.Method, suffix: String) throws {
        let whole = try fixture("message.json.\(suffix)")
        for input in [Array(whole.prefix(whole.count / 2)), Array("{\"plain\": \"json\"}".utf8)] {
            do {
                let output = try Decompression.decompress(input, method: method, limit: 1 << 20)
                Issue.record("\(method) decoded \(output.count) bytes from bad input")
            } catch {
                guard case .damaged(let named, _) = error else {
                    Issue.record("\(error)")
                    continue
                }
                #expect(named == method)
            }
        }
    }

    @Test func aliasesAndUnknownMethods() throws {
        #expect(Decompression.Method(header: "gzip") == .zlib)
        #expect(Decompression.Method(header: "XZ") == .lzma)
        #expect(Decompression.Method(header: "zstandard") == .zstd)
        do {
            _ = try Decompression.decompress([1, 2, 3], header: "application/x-snappy", limit: 100)
            Issue.record("an unknown method was decoded")
        } catch {
            #expect("\(error)".contains("application/x-snappy"))
        }
    }
}
