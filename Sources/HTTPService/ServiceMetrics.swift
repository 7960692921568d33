import Prometheus
import Serve
import Synchronization

/// What `GET /metrics` shows, in Prometheus's text format (swift-prometheus):
/// - `nova_dirsvc_http_requests_total{route,method,status}`: requests by route template;
/// - `nova_dirsvc_directory_operation_duration_seconds{operation}`: the time a register,
///   unregister, update (through the event path, queueing included) or read took;
/// - `nova_dirsvc_spool_depth`: events waiting in the spool, at scrape time;
/// - `nova_dirsvc_bus_messages_total{outcome}`: serve's counters (`ServeCounters`: received,
///   applied, ignored, queued, failed, redelivered, stale), read at scrape time;
/// - `nova_dirsvc_directory_operation_duration_seconds{operation="bus-batch"}`: the time the
///   writer took for one batch off the bus;
/// - `nova_dirsvc_reconcile_runs_total{outcome}`: serve's scheduled reconciles from Nova's API.
final class ServiceMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    /// What the registry has been given of serve's counters, under one lock, so that two
    /// scrapes at once never hand the registry a negative increment (a Counter traps on one).
    private let seen = Mutex(ServiceCounters())
    private static let buckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]

    // (computed: MetricNameDescriptor is not Sendable)
    private static var requests: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "nova_dirsvc", subsystem: "http", metricName: "requests", unitName: "total",
            helpText: "HTTP requests by route template, method and status")
    }
    private static var operations: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "nova_dirsvc", metricName: "directory_operation_duration", unitName: "seconds",
            helpText: "Time of an HTTP request's directory work (register, unregister, show, health), queueing included")
    }
    private static var spool: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "nova_dirsvc", metricName: "spool", unitName: "depth", helpText: "Events waiting in the spool")
    }
    private static var messages: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "nova_dirsvc", subsystem: "bus", metricName: "messages", unitName: "total",
            helpText: "Messages of the bus side by outcome")
    }

    private static var reconciles: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "nova_dirsvc", metricName: "reconcile_runs", unitName: "total",
            helpText: "Scheduled reconciles from Nova's API by outcome (done, refused, failed, skipped, claimed-elsewhere)")
    }

    func reconcile(outcome: String) {
        registry.makeCounter(descriptor: Self.reconciles, labels: [("outcome", outcome)]).increment()
    }

    func request(route: String, method: String, status: Int) {
        registry.makeCounter(
            descriptor: Self.requests,
            labels: [("route", route), ("method", method), ("status", String(status))]
        ).increment()
    }

    func operation(_ name: String, took duration: Duration) {
        registry.makeDurationHistogram(descriptor: Self.operations, labels: [("operation", name)], buckets: Self.buckets)
            .record(duration)
    }

    /// The text a scrape gets; `counters`: serve's, read now (they only grow).
    func text(spoolDepth: Int, counters: ServeCounters) -> String {
        registry.makeGauge(descriptor: Self.spool).set(Double(spoolDepth))
        let increments: [(String, Int)] = self.seen.withLock { state in
            let latest = counters.snapshot
            let seen = state
            state = latest
            return [
                ("received", latest.received - seen.received), ("applied", latest.applied - seen.applied),
                ("ignored", latest.ignored - seen.ignored), ("queued", latest.queued - seen.queued),
                ("failed", latest.failed - seen.failed), ("redelivered", latest.redelivered - seen.redelivered),
                ("stale", latest.stale - seen.stale),
            ]
        }
        for (outcome, increment) in increments {
            // made even when 0, so that every outcome is shown from the first scrape
            registry.makeCounter(descriptor: Self.messages, labels: [("outcome", outcome)]).increment(by: Int64(max(0, increment)))
        }
        return registry.emitToString()
    }
}
