import Foundation
import Testing

@testable import NovaDirsvc

@Suite("JSON parser")
struct JSONParserTests {
    func parse(_ text: String) throws -> JSONValue { try JSONValue.parse(Data(text.utf8)) }

    @Test func valuesOfEveryKind() throws {
        #expect(
            try parse(#" {"a": [1, -2.5e3, true, false, null, "x\"\\\/\b\f\n\r\t\u00fc\ud83d\ude00"]} "#)
                == .object([
                    "a": .array([
                        .number(1), .number(-2500), .bool(true), .bool(false), .null,
                        .string("x\"\\/\u{08}\u{0C}\n\r\tü😀"),
                    ])
                ]))
        #expect(try parse("[]") == .array([]))
        #expect(try parse("{}") == .object([:]))
        #expect(try parse("\"é\"") == .string("é"))
    }

    @Test(arguments: [
        ("{\"a\": 1, \"a\": 2}", "appears twice"),
        ("[1e999]", "out of range"),
        ("[01]", "leading zero"),
        ("[1.]", "digits"),
        ("[\"\\ud800\"]", "surrogate"),
        ("[\"a\u{01}\"]", "control character"),
        ("[1] x", "after the JSON value"),
        ("[NaN]", "not a JSON value"),
        ("{\"a\" 1}", "expected ':'"),
        ("[1,]", "not a JSON value"),
        ("", "unexpected end"),
    ])
    func refused(text: String, reason: String) {
        #expect { try parse(text) } throws: { "\($0)".contains(reason) }
    }

    @Test("bytes 0x10-0x19 in a \\u escape are not hex digits (they were taken as 0-9)")
    func controlBytesInAUnicodeEscapeAreRefused() {
        for byte: UInt8 in 0x10...0x19 {
            let input: [UInt8] = Array("[\"\\u00".utf8) + [byte, 0x31] + Array("\"]".utf8)
            #expect(throws: JSONParser.Failure.self) { try JSONValue.parse(Data(input)) }
        }
        #expect(try! parse("[\"\\u00E9\\u00e9\"]") == .array([.string("éé")]))
    }

    @Test func invalidUTF8IsRefused() {
        #expect(throws: JSONParser.Failure.self) { try JSONValue.parse(Data([0x22, 0xFF, 0x22])) }
    }

    @Test func nestingIsLimitedAndLinear() throws {
        _ = try parse(String(repeating: "[", count: JSONParser.maxDepth) + String(repeating: "]", count: JSONParser.maxDepth))
        let deep = String(repeating: "[", count: JSONParser.maxDepth + 1) + String(repeating: "]", count: JSONParser.maxDepth + 1)
        #expect { try parse(deep) } throws: { "\($0)".contains("nested deeper") }
        // 500,000 levels are refused at once: the parser stops at the limit
        let start = ContinuousClock.now
        #expect(throws: (any Error).self) { try parse(String(repeating: "[", count: 500_000)) }
        #expect(ContinuousClock.now - start < .seconds(1))
    }

    @Test func duplicateKeysInAnEventAreRefused() {
        let text = #"{"instance_uuid": "2cb805cf-debe-43ae-a555-28a4a5d84694", "instance_uuid": "11111111-2222-3333-4444-555555555555"}"#
        #expect { try EventDecoder.decode(Data(text.utf8), for: .unregister) } throws: {
            ($0 as? InputError)?.field == "event" && "\($0)".contains("appears twice")
        }
    }
}

@Suite("names and messages")
struct ValidationTests {
    @Test func namesAreCountedInScalarsNotCharacters() throws {
        let accents = "e" + String(repeating: "\u{0301}", count: 300)
        #expect(accents.count == 1)
        #expect { try Validate.name(accents, field: "project_name") } throws: { "\($0)".contains("longer than 255") }
        #expect(try Validate.name("datanode ü1 ☃", field: "project_name") == "datanode ü1 ☃")
    }

    @Test(arguments: ["\u{202E}", "\u{200B}", "\u{2028}", "\u{2029}", "\u{FEFF}", "\u{E000}", "\u{7F}", "\u{0}"])
    func invisibleCharactersAreRefusedAndEscaped(character: String) {
        let value = "ad" + character + "min"
        #expect { try Validate.name(value, field: "user_name") } throws: { error in
            let text = "\(error)"
            return !text.unicodeScalars.contains(where: Validate.isInvisible) && text.contains("\\u{")
        }
    }
}
