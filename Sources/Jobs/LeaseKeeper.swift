import Foundation
import Storage

/// Renews one run's lease every second on a thread of its own, whatever the training thread is
/// doing — building the session (fetching a large data set), writing a checkpoint to an object
/// store that is slow to answer, or training. Each renewal carries the attempt (the fencing
/// token) and the progress the training thread last reported, and reads the cancel flag. Once
/// the store refuses a renewal (the run was taken over or ended) the keeper stops and says so.
final class LeaseKeeper: @unchecked Sendable {
    private let store: Store
    private let run: RunRecord
    private let owner: String
    private let leaseSeconds: Double
    private let interval: Double
    private let condition = NSCondition()
    private var completed: Int
    private var total: Int
    private var stopping = false
    private var exited = false
    private var canceled = false
    private var lost = false

    init(store: Store, run: RunRecord, owner: String, leaseSeconds: Double, interval: Double = 1) {
        self.store = store
        self.run = run
        self.owner = owner
        self.leaseSeconds = leaseSeconds
        self.interval = interval
        completed = run.progressCompleted
        total = run.progressTotal
    }

    func start() {
        let thread = Thread { [self] in loop() }
        thread.name = "lease-\(run.id)"
        thread.start()
    }

    /// The progress the next renewal writes.
    func report(completed: Int, total: Int) {
        condition.lock()
        self.completed = completed
        self.total = total
        condition.unlock()
    }

    /// A cancel was requested (read with the last renewal).
    var cancelRequested: Bool { condition.lock(); defer { condition.unlock() }; return canceled }

    /// The store refused a renewal: another worker holds the run now, or it ended.
    var leaseLost: Bool { condition.lock(); defer { condition.unlock() }; return lost }

    /// Stops renewing and waits for the thread (a renewal in flight completes first).
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !exited { condition.wait() }
        condition.unlock()
    }

    private func loop() {
        condition.lock()
        while !stopping {
            _ = condition.wait(until: Date().addingTimeInterval(interval))
            if stopping { break }
            let (done, of) = (completed, total)
            condition.unlock()
            var fenced = false, cancel = false
            do {
                cancel = try store.heartbeat(runID: run.id, owner: owner, attempt: run.attempt, leaseSeconds: leaseSeconds,
                                             completed: done, total: of)
            } catch StoreError.fenced {
                fenced = true
            } catch {
                // The database is busy or down: try again at the next tick (the lease has slack).
            }
            condition.lock()
            if cancel { canceled = true }
            if fenced { lost = true; break }
        }
        exited = true
        condition.broadcast()
        condition.unlock()
    }
}
