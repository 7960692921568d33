import Foundation
import NovaDirsvc
import Synchronization

/// The one writer of the HTTP side: requests hand their events here and wait; a thread of its
/// own takes whatever is waiting (up to `batchLimit`) and applies it with
/// `EventPath.submit(batch:)`, as the bus side does with what one receive brought. So
/// concurrent requests cost one spool lock and one pipelined round of adds per batch instead
/// of queueing behind each other for the lock (and through the spool), and events keep the
/// order they arrived in, per instance.
final class BatchWriter: @unchecked Sendable {
    typealias Outcome = Result<EventPath.Outcome, any Error>
    private struct Waiting {
        let item: EventPath.BatchItem
        let resume: @Sendable (Outcome) -> Void
    }

    private let path: EventPath
    private let session: DirectorySession
    private let metrics: ServiceMetrics
    private let waiting = Mutex<[Waiting]>([])
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    static let batchLimit = 64
    /// After the directory did not take a batch: until when events go straight to the spool
    /// (no attempt: each would cost the time budget), and how long the next such wait is
    /// (1 s doubling to 30 s). The service's loop drains the spool meanwhile. Writer thread only.
    private var queueingUntil: ContinuousClock.Instant?
    private var nextWait: Duration = .seconds(1)

    init(path: EventPath, configuration: Configuration, metrics: ServiceMetrics) {
        self.path = path
        self.metrics = metrics
        self.session = DirectorySession(configuration: configuration)
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "nova-dirsvc-writer"
        thread.start()
    }

    /// Applies an event (through the batch it joins) and returns what became of it.
    func submit(_ event: InstanceEvent) async -> Outcome {
        await withCheckedContinuation { continuation in
            waiting.withLock { $0.append(Waiting(item: EventPath.BatchItem(event), resume: { continuation.resume(returning: $0) })) }
            wake.signal()
        }
    }

    /// Finishes what is waiting, then ends the thread.
    func stop() {
        stopped.store(true, ordering: .sequentiallyConsistent)
        wake.signal()
        _ = finished.wait(timeout: .now() + 30)
        session.close()
    }

    private func apply(_ items: [EventPath.BatchItem]) -> [Outcome] {
        if let until = queueingUntil, ContinuousClock.now < until, (try? path.spool.pending().isEmpty) == false {
            return items.map { item in
                Result { try path.from(item.origin).queue(item.event, because: "the directory was unavailable moments ago") }
            }
        }
        let results = path.submit(batch: items, through: session, deadline: .now + path.configuration.timeout)
        if results.contains(where: { if case .success(.queued) = $0 { return true } else { return false } }) {
            queueingUntil = .now + nextWait
            nextWait = min(nextWait * 2, .seconds(30))
        } else {
            queueingUntil = nil
            nextWait = .seconds(1)
        }
        return results
    }

    private func run() {
        while true {
            wake.wait()
            while true {
                let batch: [Waiting] = waiting.withLock { all in
                    let taken = Array(all.prefix(Self.batchLimit))
                    all.removeFirst(taken.count)
                    return taken
                }
                if batch.isEmpty { break }
                let start = ContinuousClock.now
                let results = apply(batch.map(\.item))
                let took = ContinuousClock.now - start
                for (waiter, result) in zip(batch, results) {
                    metrics.operation(waiter.item.event.action, took: took)
                    waiter.resume(result)
                }
            }
            if stopped.load(ordering: .sequentiallyConsistent) {
                finished.signal()
                return
            }
        }
    }
}
