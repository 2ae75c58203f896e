import Foundation

/// A fixed set of threads that run submitted jobs in FIFO order.
final class HandlerPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var head = 0
    private var stopping = false
    private var threads: [Thread] = []
    private let group = DispatchGroup()

    init(threads count: Int, name: String) {
        for i in 0..<max(1, count) {
            group.enter()
            let t = Thread { [self] in
                self.runLoop()
                self.group.leave()
            }
            t.name = "\(name)-\(i)"
            t.stackSize = 1 << 20
            threads.append(t)
            t.start()
        }
    }

    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Runs the jobs already queued, then stops the threads.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        group.wait()
    }

    private func runLoop() {
        while true {
            condition.lock()
            while head == jobs.count && !stopping { condition.wait() }
            if head == jobs.count && stopping {
                condition.unlock()
                return
            }
            let job = jobs[head]
            head += 1
            if head > 1024 && head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job()
        }
    }
}
