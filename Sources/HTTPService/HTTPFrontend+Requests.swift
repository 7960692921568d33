import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import NovaDirsvc

extension HTTPFrontend {
    /// Checks the credentials (when any are configured: the token, or a Basic user), then
    /// reads the body (at most 1 MiB, JSON) and calls `handle` with it. 401 says nothing about
    /// which part was wrong; no credential is ever logged.
    func authorized(
        _ request: Request, body: Bool = true,
        _ handle: (Data) async throws -> Response
    ) async throws -> Response {
        let (token, users) = credentials
        if token != nil || users != nil {
            var accepted = token.map { Self.presents($0, request.headers) } ?? false
            if !accepted, let users, let authorization = request.headers[.authorization] {
                // hashing (crypt) takes milliseconds: not on the event loop
                accepted = try await read(nil) { _ in users.accepts(authorization) }
            }
            guard accepted else {
                return problem(
                    .unauthorized, "unauthorized",
                    detail: "valid credentials are needed (X-Auth-Token, Authorization: Bearer or Basic)",
                    headers: [.wwwAuthenticate: users != nil ? "Basic realm=\"nova-dirsvc\"" : "Bearer"])
            }
        }
        guard body else { return try await handle(Data()) }
        if let type = request.headers[.contentType], !Self.isJSON(type) {
            return problem(
                .unsupportedMediaType, "unsupported media type",
                detail: "the body must be application/json, not \(Validate.escaped(type))", field: "Content-Type")
        }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: Configuration.HTTP.maxBodySize)
        } catch is NIOTooManyBytesError {
            return problem(.contentTooLarge, "too large", detail: "the body is larger than \(Configuration.HTTP.maxBodySize) bytes")
        } catch {
            // not a size: the body could not be read as framed (a Transfer-Encoding other than
            // chunked, a connection closed before Content-Length bytes came)
            return problem(.badRequest, "bad request", detail: "the body could not be read: \(error)", field: "Transfer-Encoding")
        }
        return try await handle(Data(buffer.readableBytesView))
    }

    /// Whether the request carries the token (X-Auth-Token: what keystoneauth's admin_token
    /// plugin sends; or Authorization: Bearer), compared in constant time.
    static func presents(_ token: String, _ headers: HTTPFields) -> Bool {
        var offered: [String] = []
        if let value = headers[HTTPField.Name("X-Auth-Token")!] { offered.append(value) }
        if let value = headers[.authorization], value.lowercased().hasPrefix("bearer ") {
            offered.append(String(value.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces))
        }
        return offered.contains { constantTimeEqual(Array($0.utf8), Array(token.utf8)) }
    }

    /// Equal bytes, in a time that depends on the lengths only.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0xFF)
        }
        return difference == 0
    }

    static func isJSON(_ contentType: String) -> Bool {
        let type = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        return type == "application/json" || type.hasSuffix("+json")
    }
}

/// Nova's DynamicJSON vendordata request (nova/api/metadata/vendordata_dynamic.py): what it
/// carries, as a record to register.
enum VendordataRequest {
    static func record(from body: Data) throws -> InstanceRecord {
        let value: JSONValue
        do { value = try JSONValue.parse(body) } catch { throw InputError(field: "body", reason: "not valid JSON: \(error)") }
        guard let object = value.object else { throw InputError(field: "body", reason: "not a JSON object") }
        func string(_ key: String) throws -> String? {
            switch object[key] {
            case nil, .null?: return nil
            case .string(let text)?: return text
            default: throw InputError(field: key, reason: "must be a string")
            }
        }
        guard let uuid = try string("instance-id") else { throw InputError(field: "instance-id", reason: "missing") }
        var record = InstanceRecord(instanceUUID: try Validate.uuid(uuid, field: "instance-id"))
        record.imageUUID = try? string("image-id").flatMap { $0.isEmpty ? nil : $0 }
        record.hostname = try? string("hostname")
        record.projectID = try? string("project-id")
        // an odd value is left out (the instance still registers), as for every other form
        return record.validatedDroppingUnusable().0
    }
}
