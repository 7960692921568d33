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
                let results = path.submit(batch: batch.map(\.item), through: session,
                                          deadline: .now + path.configuration.timeout)
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
