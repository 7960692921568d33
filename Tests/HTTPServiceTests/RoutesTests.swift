import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NovaDirsvc
import Serve
import Testing

@testable import HTTPService

/// serve's HTTP routes in process (HummingbirdTesting's router client): what is answered before
/// any directory work, by the route alone. The writer is made but not started: none of these
/// requests may reach it. (The routes against a real directory and real clients, keystoneauth1
/// included: Tests/cli/test_http.py.)
@Suite("HTTP routes, in process")
struct RoutesTests {
    static let token = "t0ken-\(UUID().uuidString)"

    func application() throws -> some ApplicationProtocol {
        let folder = NSTemporaryDirectory() + "nova-dirsvc-routes-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let tokenFile = folder + "/token"
        try Data((Self.token + "\n").utf8).write(to: URL(fileURLWithPath: tokenFile))
        chmod(tokenFile, 0o600)
        var flags = Configuration.Settings()
        flags[.baseDN] = "ou=Instances,dc=example,dc=com"
        flags[.uri] = "ldap://127.0.0.1:1"
        flags[.spoolDir] = folder + "/spool"
        flags[.logFile] = folder + "/events.log"
        flags[.httpListen] = "127.0.0.1:0"
        flags[.httpTokenFile] = tokenFile
        let configuration = try Configuration.resolve(flags: flags, configFile: nil, environment: [:])
        let counters = ServeCounters()
        let writer = DirectoryWriter(configuration: configuration, counters: counters, say: { _ in })
        let frontend = try HTTPFrontend(configuration: configuration, writer: writer, counters: counters, say: { _ in })
        let router = Router()
        frontend.addRoutes(to: router)
        return Application(router: router)
    }

    @Test("/healthz needs no token, answers from the writer's state, and HEAD has no body")
    func health() async throws {
        try await application().test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("\"directory\":\"ok\""))
            }
            try await client.execute(uri: "/healthz", method: .head) { response in
                #expect(response.status == .ok)
                #expect(response.body.readableBytes == 0)
            }
        }
    }

    @Test("no route, or a method the route does not take: serve's problem+json")
    func frameworkAnswers() async throws {
        try await application().test(.router) { client in
            for (uri, method) in [("/nope", HTTPRequest.Method.get), ("/healthz", .put)] {
                try await client.execute(uri: uri, method: method) { response in
                    #expect(response.status == .notFound || response.status == .methodNotAllowed)
                    #expect(response.headers[.contentType] == "application/problem+json")
                    #expect(String(buffer: response.body).contains("urn:nova-dirsvc:problem:"))
                }
            }
        }
    }

    @Test("every other route asks for the token (401, WWW-Authenticate), in any of its two headers")
    func credentials() async throws {
        try await application().test(.router) { client in
            for headers: HTTPFields in [[:], [HTTPField.Name("X-Auth-Token")!: "wrong"], [.authorization: "Bearer wrong"]] {
                try await client.execute(uri: "/v1/instances", method: .post, headers: headers, body: ByteBuffer(string: "{}")) {
                    response in
                    #expect(response.status == .unauthorized)
                    #expect(response.headers[.wwwAuthenticate] == "Bearer")
                }
            }
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(Self.token)"]) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("nova_dirsvc_spool_depth"))
            }
        }
    }

    @Test("a body that is not a record is refused before the writer: 400 naming the field, 415 for another type")
    func badBodies() async throws {
        try await application().test(.router) { client in
            let auth: HTTPFields = [HTTPField.Name("X-Auth-Token")!: Self.token, .contentType: "application/json"]
            try await client.execute(uri: "/v1/instances", method: .post, headers: auth, body: ByteBuffer(string: "{not json")) {
                response in
                #expect(response.status == .badRequest)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
            let record = #"{"instance_uuid": "not-a-uuid", "mac_address": "fa:16:3e:00:00:01"}"#
            try await client.execute(uri: "/v1/instances", method: .post, headers: auth, body: ByteBuffer(string: record)) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("instance_uuid"))
            }
            let text: HTTPFields = [HTTPField.Name("X-Auth-Token")!: Self.token, .contentType: "text/plain"]
            try await client.execute(uri: "/v1/instances", method: .post, headers: text, body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .unsupportedMediaType)
            }
        }
    }
}
