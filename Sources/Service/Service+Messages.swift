#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AMQP
import LDAP
import NovaDirsvc

/// What becomes of the messages of one receive. Each is acknowledged only once its event is
/// safe: applied (the directory confirmed it), in the spool, or kept in failed/ with its
/// reason (it could never be applied: it must not block the queue). A message whose event
/// could be put nowhere (the directory down and the spool failing) is not acknowledged: the
/// broker connection is closed so that it comes back, and the service backs off.
extension Service {
    func handle(_ deliveries: [AMQPConnection.Delivery]) {
        var batch: [(delivery: AMQPConnection.Delivery, item: EventPath.BatchItem)] = []
        var settled: [AMQPConnection.Delivery] = []
        var unsafe: (any Error)? = nil
        for delivery in deliveries {
            counters.received += 1
            if delivery.redelivered { counters.redelivered += 1 }
            do {
                let decoded = try path.decodeKeepingRejected(Data(delivery.body), origin: EventOrigin(messageID: delivery.messageID))
                switch decoded.kind {
                case .apply(let event):
                    batch.append((delivery, EventPath.BatchItem(event, origin: decoded.origin)))
                case .ignored(let eventType, let uuid):
                    counters.ignored += 1
                    settled.append(delivery)
                    if configuration.verbose { say("ignored \(eventType) \(uuid ?? "")") }
                }
            } catch let error as EventNotAppliedError where error.state == .setAside {
                counters.failed += 1
                settled.append(delivery)
                say("message \(delivery.messageID ?? "(no id)") not applicable: \(error)")
            } catch {
                unsafe = error
                break
            }
        }
        if unsafe == nil, !batch.isEmpty {
            let results = apply(batch.map(\.item))
            for ((delivery, item), result) in zip(batch, results) {
                if let problem = settle(item, result) {
                    unsafe = problem
                    break
                }
                settled.append(delivery)
            }
        }
        guard let bus else { return }
        do {
            if unsafe == nil, settled.count == deliveries.count, let last = deliveries.last {
                try bus.ack(last, upTo: true)  // the whole batch (earlier batches are all acknowledged)
            } else {
                for delivery in settled { try bus.ack(delivery) }
            }
        } catch {
            brokerLost(error)
            return
        }
        if let unsafe {
            // what was not acknowledged comes back when the service connects again
            say("an event could be neither applied nor queued: \(unsafe); its message goes back to the queue")
            brokerLost(unsafe)
        }
    }

    /// The batch through the event path: written as it comes while the directory is up, else
    /// straight to the spool (in order behind what is there).
    private func apply(_ items: [EventPath.BatchItem]) -> [Result<EventPath.Outcome, any Error>] {
        if let reason = directory.queueingReason {
            return items.map { item in Result { try path.from(item.origin).queue(item.event, because: reason) } }
        }
        return path.submit(batch: items, through: session, deadline: .now + configuration.directory.timeout)
    }

    /// Counts one event's outcome; returns the error when it is not safe to acknowledge.
    private func settle(_ item: EventPath.BatchItem, _ result: Result<EventPath.Outcome, any Error>) -> (any Error)? {
        let subject = "\(item.event.action) \(item.event.instanceUUID)"
        switch result {
        case .success(.applied(let outcome)):
            counters.applied += 1
            if configuration.verbose { say("\(subject): \(outcome.rawValue)") }
        case .success(.appliedFromSpool):
            counters.applied += 1
        case .success(.queued(let reason)):
            counters.queued += 1
            startQueueing(because: reason)
        case .failure(let error as EventNotAppliedError):
            switch error.state {
            case .setAside:
                counters.failed += 1
                say("\(subject): \(error)")
            case .queued:
                // a problem on our side (credentials, rights, the server's schema): loud, and
                // queued until it is fixed
                counters.queued += 1
                startQueueing(because: "\(error.error)")
            case .lost:
                return error
            }
        case .failure(let error as SetAsideError):
            counters.failed += 1
            say("\(subject): \(error)")
        case .failure(let error):
            return error
        }
        return nil
    }
}
