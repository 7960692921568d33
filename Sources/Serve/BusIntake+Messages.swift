import AMQP
import Decompression
import LDAP
import NovaDirsvc

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What becomes of the messages of one receive. Each is acknowledged only once its event is
/// safe: applied (the directory confirmed it), in the spool, or kept in failed/ with its
/// reason (it could never be applied: too large, compressed with a method nova-dirsvc cannot
/// decode, not a notification: it must not block the queue). A message whose event could be put
/// nowhere (the directory down and the spool failing) is handed back to the queue on its own,
/// and the others go on: a quorum queue counts its deliveries and, past `delivery_limit`, moves
/// it to the dead-letter queue. When nothing of a batch could be settled, receiving pauses.
extension BusIntake {
    func handle(_ deliveries: [AMQPConnection.Delivery]) {
        var counts = ServiceCounters()
        defer { counters.add(counts) }
        var batch: [(delivery: AMQPConnection.Delivery, item: EventPath.BatchItem)] = []
        var unsettled: [(delivery: AMQPConnection.Delivery, problem: any Error)] = []
        for delivery in deliveries {
            counts.received += 1
            if delivery.redelivered { counts.redelivered += 1 }
            let origin = EventOrigin(messageID: delivery.messageID)
            do {
                let body = try readableBody(delivery, origin: origin)
                let decoded = try path.decodeKeepingRejected(Data(body), origin: origin)
                switch decoded.kind {
                case .apply(let event):
                    batch.append((delivery, EventPath.BatchItem(event, origin: decoded.origin)))
                case .ignored(let eventType, let uuid):
                    counts.ignored += 1
                    if verbose { say("ignored \(eventType) \(uuid ?? "")") }
                }
            } catch let error as EventNotAppliedError where error.state == .setAside {
                counts.failed += 1
                say("message \(delivery.messageID ?? "(no id)") not applicable: \(error)")
            } catch {
                unsettled.append((delivery, error))
            }
        }
        if !batch.isEmpty {
            let start = ContinuousClock.now
            let results = writer.write(batch: batch.map(\.item))
            onBatchWritten?(.now - start)
            for ((delivery, item), result) in zip(batch, results) {
                if let problem = settle(item, result, counting: &counts) { unsettled.append((delivery, problem)) }
            }
        }
        let positions = Dictionary(uniqueKeysWithValues: deliveries.enumerated().map { ($1.deliveryTag, $0) })
        let problems = Dictionary(unsettled.map { (positions[$0.delivery.deliveryTag]!, $0.problem) }) { first, _ in first }
        let decision = Acknowledgement.decide(count: deliveries.count, unsettled: Set(problems.keys))
        do {
            switch decision.action {
            case .all:
                try bus.ack(deliveries[deliveries.count - 1], upTo: true)  // the whole batch (earlier ones are all settled)
            case .each(let ack, let requeue):
                for index in ack { try bus.ack(deliveries[index]) }
                for index in requeue {
                    let delivery = deliveries[index]
                    let count = delivery.headers["x-delivery-count"].map { ", delivered \(Int($0).map { $0 + 1 } ?? 0) times" } ?? ""
                    say(
                        "message \(delivery.messageID ?? "(no id)") could be neither applied nor kept: \(problems[index]!); "
                            + "handed back to the queue\(count)")
                    try bus.requeue(delivery)
                }
            }
        } catch {
            brokerLost(error)
            return
        }
        if !decision.pauseReceiving {
            receivePause.reset()
        } else {
            let wait = receivePause.next()
            nextReceive = .now + wait
            say("nothing of the last \(deliveries.count) messages could be applied or kept: receiving again in \(Backoff.text(wait))")
        }
    }

    /// The body as the event path reads it: whole, and decompressed as its `compression`
    /// header (oslo.messaging's `kombu_compression`) says. One larger than `max_message_bytes`,
    /// or that cannot be decompressed, is kept in failed/ as it came, with the reason (throws).
    private func readableBody(_ delivery: AMQPConnection.Delivery, origin: EventOrigin) throws -> [UInt8] {
        let limit = bus.settings.maxMessageBytes
        if delivery.isTruncated {
            try path.keepUnreadable(
                delivery.body, origin: origin,
                because: UnreadableMessage(
                    "the message is \(delivery.size) bytes, more than max_message_bytes (\(limit)): only its first "
                        + "\(delivery.body.count) bytes were read, and are kept"))
        }
        guard let method = delivery.headers["compression"] else { return delivery.body }
        do {
            return try Decompression.decompress(delivery.body, header: method, limit: limit)
        } catch {
            try path.keepUnreadable(delivery.body, origin: origin, because: UnreadableMessage("the message is \(error)"))
        }
    }

    /// Counts one event's outcome; returns the error when it is not safe to acknowledge.
    private func settle(
        _ item: EventPath.BatchItem, _ result: Result<EventPath.Outcome, any Error>,
        counting counters: inout ServiceCounters
    ) -> (any Error)? {
        let subject = "\(item.event.action) \(item.event.instanceUUID)"
        switch Acknowledgement.settlement(of: result) {
        case .stale:
            counters.stale += 1
            if verbose { say("\(subject): stale (older than what was applied)") }
        case .applied:
            counters.applied += 1
            if verbose, case .success(.applied(let outcome)) = result { say("\(subject): \(outcome.rawValue)") }
        case .queued:
            counters.queued += 1
        case .failed:
            counters.failed += 1
            if case .failure(let error) = result { say("\(subject): \(error)") }
        case .unsettled:
            if case .failure(let error) = result { return error }
            return UnreadableMessage("not settled")
        }
        return nil
    }
}

/// Why a message off the bus could not be read: its reason in failed/.
struct UnreadableMessage: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
