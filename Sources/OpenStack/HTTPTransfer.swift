import CCurl
import Glibc

/// A blocking HTTP(S) client over one libcurl easy handle (kept: connections are reused between
/// requests to the same host). TLS is verified (peer and host name) against `caFile` or the
/// system's bundle unless `verifyTLS` is false; redirects are not followed (an OpenStack API
/// never needs them, and a redirect must not carry the token elsewhere); bodies are capped.
/// One thread at a time.
package final class HTTPTransfer {
    package struct Configuration: Sendable {
        package var caFile: String?
        package var verifyTLS = true
        /// For the whole of one request (connecting included).
        package var timeout: Duration = .seconds(30)
        /// A response body larger than this is refused.
        package var maxBodyBytes = 64 << 20
        package init() {}
    }

    package struct Response: Sendable {
        package let status: Int
        /// Names lower-cased; the last value of a repeated header.
        package let headers: [String: String]
        package let body: [UInt8]
    }

    package let configuration: Configuration
    private let handle: UnsafeMutableRawPointer

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    package init(_ configuration: Configuration) throws(OpenStackError) {
        _ = Self.globalInit
        guard let handle = curl_easy_init() else {
            throw OpenStackError(.transport, "libcurl could not make a handle")
        }
        self.handle = handle
        self.configuration = configuration
    }

    deinit { curl_easy_cleanup(handle) }

    /// One request; `headers` as name/value pairs (never logged: they may carry a token).
    package func request(
        _ method: String, _ url: String, headers: [(String, String)] = [], body: [UInt8]? = nil
    ) throws(OpenStackError) -> Response {
        curl_easy_reset(handle)
        var list: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(list) }
        for (name, value) in headers { list = curl_slist_append(list, "\(name): \(value)") }
        let sink = Sink(limit: configuration.maxBodyBytes)
        let context = Unmanaged.passUnretained(sink).toOpaque()
        // an option libcurl refuses ends the request as a transport failure, in its words
        func set(_ code: CURLcode) throws(OpenStackError) {
            guard code == CURLE_OK else { throw Self.failure(code, method, url) }
        }
        try set(ccurl_setopt_string(handle, CURLOPT_URL, url))
        try set(ccurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method))
        try set(ccurl_setopt_pointer(handle, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(list)))
        try set(ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        try set(ccurl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0))
        try set(ccurl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"))
        try set(ccurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Self.milliseconds(configuration.timeout)))
        try set(ccurl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, configuration.verifyTLS ? 1 : 0))
        try set(ccurl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, configuration.verifyTLS ? 2 : 0))
        if let caFile = configuration.caFile { try set(ccurl_setopt_string(handle, CURLOPT_CAINFO, caFile)) }
        try set(
            ccurl_setopt_write_callback(handle, CURLOPT_WRITEFUNCTION) { data, size, count, context in
                Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue().take(data, size * count)
            })
        try set(ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, context))
        try set(
            ccurl_setopt_write_callback(handle, CURLOPT_HEADERFUNCTION) { data, size, count, context in
                Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue().header(data, size * count)
            })
        try set(ccurl_setopt_pointer(handle, CURLOPT_HEADERDATA, context))
        let payload = body ?? []
        let result: CURLcode = payload.withUnsafeBufferPointer { bytes in
            if body != nil {
                var code = ccurl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, bytes.count)
                if code == CURLE_OK {
                    code = ccurl_setopt_pointer(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress))
                }
                if code != CURLE_OK { return code }
            }
            return curl_easy_perform(handle)
        }
        if sink.tooLarge {
            throw OpenStackError(
                .badResponse, "\(method) \(Self.withoutQuery(url)): the answer is larger than \(configuration.maxBodyBytes) bytes")
        }
        guard result == CURLE_OK else { throw Self.failure(result, method, url) }
        var status = 0
        _ = ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return Response(status: status, headers: sink.headers, body: sink.body)
    }

    /// A libcurl failure in its own words: TLS's kind apart (the certificate, the CA file).
    private static func failure(_ code: CURLcode, _ method: String, _ url: String) -> OpenStackError {
        let text = String(cString: curl_easy_strerror(code))
        let kind: OpenStackError.Kind =
            [CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CONNECT_ERROR].contains(code) ? .tls : .transport
        return OpenStackError(kind, "\(method) \(withoutQuery(url)): \(text)")
    }

    /// A URL as it may be shown (no query: a marker is harmless, but keep it short).
    static func withoutQuery(_ url: String) -> String {
        String(url.prefix { $0 != "?" })
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }

    /// Where libcurl's callbacks put the answer.
    private final class Sink {
        let limit: Int
        var body: [UInt8] = []
        var headers: [String: String] = [:]
        var tooLarge = false
        init(limit: Int) { self.limit = limit }

        func take(_ data: UnsafeMutablePointer<CChar>?, _ count: Int) -> Int {
            guard let data, count > 0 else { return 0 }
            guard body.count + count <= limit else {
                tooLarge = true
                return 0  // libcurl stops the transfer
            }
            data.withMemoryRebound(to: UInt8.self, capacity: count) {
                body.append(contentsOf: UnsafeBufferPointer(start: $0, count: count))
            }
            return count
        }

        func header(_ data: UnsafeMutablePointer<CChar>?, _ count: Int) -> Int {
            guard let data, count > 0 else { return 0 }
            let line = data.withMemoryRebound(to: UInt8.self, capacity: count) {
                String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self)
            }
            if line.hasPrefix("HTTP/") { headers = [:] }  // a new response (after a 100 Continue)
            if let colon = line.firstIndex(of: ":") {
                let name = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: " \t\r\n")
                headers[name] = value
            }
            return count
        }
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        let blank = Set(set)
        guard let first = firstIndex(where: { !blank.contains($0) }), let last = lastIndex(where: { !blank.contains($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
