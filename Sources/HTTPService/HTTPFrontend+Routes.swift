import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import LDAP
import NIOCore
import NovaDirsvc

/// The routes. Every answer is JSON; an error is `application/problem+json` (RFC 9457) naming
/// the field and the reason. Every route but /healthz asks for the token.
///
/// | route | does | answers |
/// |---|---|---|
/// | `POST /v1/instances` | register (any event form the CLI takes; the DICT first of all) | 201 added, 200 updated/unchanged, 202 queued, 400, 403 not ours, 413, 415 |
/// | `DELETE /v1/instances/{uuid}` | unregister | 200 deleted or absent, 202 queued |
/// | `GET /v1/instances/{uuid}` | the entry (the `show --format json` form) | 200, 404 |
/// | `POST /v1/vendordata` | Nova's DynamicJSON vendordata request: register what it carries | 200 with the entry's DN, also when queued |
/// | `GET /healthz` | the directory reachable (the writer's state: its last write or look)? the spool's depth | 200 / 503 |
extension HTTPFrontend {
    func addRoutes(to router: Router<BasicRequestContext>) {
        router.add(middleware: FrameworkAnswers(frontend: self))
        router.get("healthz") { _, _ in await self.measured("/healthz", "GET") { try await self.health() } }
        router.head("healthz") { _, _ in await self.measured("/healthz", "HEAD") { Self.headOnly(try await self.health()) } }
        router.get("metrics") { request, _ in
            await self.measured("/metrics", "GET") {
                try await self.authorized(request, body: false) { _ in
                    let depth = (try? self.path.spool.pending().count) ?? 0
                    return Response(
                        status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                        body: .init(byteBuffer: ByteBuffer(string: self.metrics.text(spoolDepth: depth, counters: self.counters))))
                }
            }
        }
        router.post("v1/instances") { request, _ in
            await self.measured("/v1/instances", "POST") { try await self.authorized(request) { try await self.register($0) } }
        }
        router.post("v1/vendordata") { request, _ in
            await self.measured("/v1/vendordata", "POST") { try await self.authorized(request) { try await self.vendordata($0) } }
        }
        router.delete("v1/instances/:uuid") { request, context in
            let uuid = context.parameters.get("uuid") ?? ""
            return await self.measured("/v1/instances/{uuid}", "DELETE") {
                try await self.authorized(request, body: false) { _ in try await self.unregister(uuid) }
            }
        }
        router.get("v1/instances/:uuid") { request, context in
            let uuid = context.parameters.get("uuid") ?? ""
            return await self.measured("/v1/instances/{uuid}", "GET") {
                try await self.authorized(request, body: false) { _ in try await self.show(uuid) }
            }
        }
        router.head("v1/instances/:uuid") { request, context in
            let uuid = context.parameters.get("uuid") ?? ""
            return await self.measured("/v1/instances/{uuid}", "HEAD") {
                Self.headOnly(try await self.authorized(request, body: false) { _ in try await self.show(uuid) })
            }
        }
    }

    /// A GET's answer for HEAD: its status and headers, no body.
    static func headOnly(_ response: Response) -> Response {
        var response = response
        response.body = .init()
        return response
    }

    /// A route's answer, counted by route template and status; an error no route turned into
    /// an answer is a 500 problem (never a dropped connection).
    private func measured(_ route: String, _ method: String, _ body: () async throws -> Response) async -> Response {
        let response: Response
        do {
            response = try await body()
        } catch {
            response = problem(.internalServerError, "internal error", detail: "\(error)")
        }
        metrics.request(route: route, method: method, status: response.status.code)
        return response
    }

    // MARK: - Routes

    private func register(_ body: Data) async throws -> Response {
        try answer(
            await write { [path] in
                let decoded = try path.decode(.json(body), as: .register)
                guard let event = decoded.event else {
                    throw InputError(field: "event_type", reason: "not a register event (POST /v1/instances registers)")
                }
                return (event, decoded.dropped)
            }, created: true)
    }

    private func unregister(_ uuid: String) async throws -> Response {
        try answer(
            await write { [path] in
                guard let event = try path.decode(.instanceUUID(uuid), as: .unregister).event else {
                    throw InputError(field: "instance_uuid", reason: "missing")
                }
                return (event, [])
            }, created: false)
    }

    /// What the writer did with one request's event, and the values left out of it.
    struct Written: Sendable {
        let instanceUUID: String
        let outcome: EventPath.Outcome
        /// Unusable but not needed (a bad MAC address, ...): the event went on without them.
        let leftOut: [InputError]
    }

    /// Decodes an event and has the writer apply it, counted in flight: nil when busy.
    private func write(_ decode: @Sendable () throws -> (InstanceEvent, [InputError])) async -> Result<Written, any Error>? {
        await admitted { () -> Result<Written, any Error> in
            let event: InstanceEvent
            let leftOut: [InputError]
            do { (event, leftOut) = try decode() } catch { return .failure(error) }
            let start = ContinuousClock.now
            let outcome = await writer.write(EventPath.BatchItem(event))
            metrics.operation(event.action, took: .now - start)
            return outcome.map { Written(instanceUUID: event.instanceUUID, outcome: $0, leftOut: leftOut) }
        }
    }

    /// Nova's DynamicJSON vendordata request: `{"project-id", "instance-id", "image-id",
    /// "user-data", "hostname", "metadata", "boot-roles"}`. What it carries is registered (no
    /// MAC address there: an existing one is left alone); the answer is what the instance
    /// finds in vendor_data2.json. Nova calls this on the instance's first metadata request and
    /// caches it: it must not fail because the directory is down (the event is queued).
    private func vendordata(_ body: Data) async throws -> Response {
        let record: InstanceRecord
        do {
            record = try VendordataRequest.record(from: body)
        } catch {
            return problem(error)
        }
        let dn = EntryMapping(baseDN: path.configuration.baseDN).dn(for: record.instanceUUID).string
        guard let outcome = await write({ (.register(record), []) }) else { return busy() }
        var document: [String: JSONValue] = ["dn": .string(dn), "instance_uuid": .string(record.instanceUUID)]
        switch outcome {
        case .success(let written): document["outcome"] = .string(Self.word(written.outcome))
        case .failure(let error as EventNotAppliedError) where error.state == .queued: document["outcome"] = .string("queued")
        case .failure(let error): return problem(error)
        }
        return json(.ok, .object(document))
    }

    private func show(_ uuid: String) async throws -> Response {
        let found = try await admitted {
            try await read("show") { [path] session -> Result<Entry?, any Error> in
                Result {
                    let valid = try InstanceRecord(instanceUUID: uuid).validated().instanceUUID
                    return try session.run(before: .now + path.configuration.timeout) { connection in
                        try Registrar(connection: connection, mapping: EntryMapping(baseDN: path.configuration.baseDN)).show(valid)
                    }
                }
            }
        }
        guard let found else { return busy() }
        switch found {
        case .success(let entry?): return json(.ok, LDIF.json(entry))
        case .success(nil): return problem(.notFound, "not registered", detail: "\(Validate.escaped(uuid)) is not registered")
        case .failure(let error): return problem(error)
        }
    }

    /// From the writer's state, never from a directory call of its own (a hung directory must
    /// not make health checks queue, nor their queue starve the other requests), and without a
    /// word about the directory's settings: the reason is in serve's log, not for anyone who asks.
    private func health() async throws -> Response {
        let depth = (try? path.spool.pending().count) ?? -1
        let up = writer.state.queueingReason == nil
        let document: [String: JSONValue] = ["spool_depth": .number(Double(depth)), "directory": .string(up ? "ok" : "unavailable")]
        return json(up ? .ok : .serviceUnavailable, .object(document))
    }

    // MARK: - Answers

    /// 201/200/202 from an outcome; the problem for an error.
    private func answer(_ outcome: Result<Written, any Error>?, created: Bool) throws -> Response {
        guard let outcome else { return busy() }
        switch outcome {
        case .success(let written):
            let (uuid, result) = (written.instanceUUID, written.outcome)
            let status: HTTPResponse.Status
            switch result {
            case .applied(.added) where created: status = .created
            case .applied, .appliedFromSpool: status = .ok
            case .queued: status = .accepted
            }
            var document: [String: JSONValue] = ["instance_uuid": .string(uuid), "outcome": .string(Self.word(result))]
            if case .queued(let reason) = result { document["reason"] = .string(reason) }
            if !written.leftOut.isEmpty {
                // what the log and stderr say, in the answer too: the caller sent them
                document["left_out"] = .array(
                    written.leftOut.map {
                        .object(["field": .string($0.field), "reason": .string($0.reason)])
                    })
            }
            return json(status, .object(document))
        case .failure(let error as EventNotAppliedError) where error.state == .queued:
            // a problem on this side (credentials, the base DN): durably queued all the same
            return json(.accepted, .object(["outcome": .string("queued"), "reason": .string("\(error)")]))
        case .failure(let error):
            return problem(error)
        }
    }

    static func word(_ outcome: EventPath.Outcome) -> String {
        switch outcome {
        case .applied(let result): return result.rawValue
        case .appliedFromSpool: return "applied"
        case .queued: return "queued"
        }
    }

    /// The `type` of every problem serve answers: `urn:nova-dirsvc:problem:bad-input`, ...
    static let problemTypePrefix = "urn:nova-dirsvc:problem:"

    func json(_ status: HTTPResponse.Status, _ value: JSONValue, type: String = "application/json") -> Response {
        Response(
            status: status, headers: [.contentType: type],
            body: .init(byteBuffer: ByteBuffer(string: value.text + "\n")))
    }

    func problem(
        _ status: HTTPResponse.Status, _ title: String, detail: String, field: String? = nil,
        headers: HTTPFields = [:]
    ) -> Response {
        // `type` says the answer is serve's own (the hook falls back to the CLI on any other 4xx)
        let slug = title.split(whereSeparator: { !$0.isLetter && !$0.isNumber }).joined(separator: "-").lowercased()
        var document: [String: JSONValue] = [
            "type": .string(Self.problemTypePrefix + slug), "status": .number(Double(status.code)),
            "title": .string(title), "detail": .string(detail),
        ]
        if let field { document["field"] = .string(field) }
        var response = json(status, .object(document), type: "application/problem+json")
        response.headers.append(contentsOf: headers)
        return response
    }

    /// The problem for an error, by what it means (the same rule as the CLI's exit statuses).
    func problem(_ error: any Error) -> Response {
        let inner = (error as? EventNotAppliedError)?.error ?? error
        switch inner {
        case let input as InputError:
            return problem(.badRequest, "bad input", detail: "\(input)", field: input.field)
        case is ForeignEntryError:
            return problem(.forbidden, "not an entry nova-dirsvc owns", detail: "\(error)")
        default:
            switch ExitStatus(for: error) {
            case .unavailable:
                return problem(.serviceUnavailable, "the directory is unavailable", detail: "\(error)", headers: [.retryAfter: "5"])
            case .noPermission:
                return problem(.forbidden, "refused by the directory", detail: "\(error)")
            case .usage:
                return problem(.internalServerError, "the service's configuration", detail: "\(error)")
            default:
                return problem(.unprocessableContent, "refused by the directory", detail: "\(error)")
            }
        }
    }

    func busy() -> Response {
        problem(
            .serviceUnavailable, "busy", detail: "\(settings.maxInFlight) requests are being worked on; try again",
            headers: [.retryAfter: "1"])
    }
}

/// What the framework answers by itself (no such route: 404; a method the route does not take:
/// 405; a request it cannot read), in serve's own problem+json like every other refusal (so that
/// the hook can tell serve's answers from something else's on the port).
struct FrameworkAnswers: RouterMiddleware {
    typealias Context = BasicRequestContext
    let frontend: HTTPFrontend

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let title = error.status.reasonPhrase.lowercased()
            var response = frontend.problem(
                error.status, title.isEmpty ? "refused" : title,
                detail: error.body ?? "\(request.method) \(request.uri.path): \(error.status.reasonPhrase)",
                headers: error.headers)
            if request.method == .head { response.body = .init() }
            return response
        }
    }
}
