import Foundation

/// Input spikes for serving a spiking network: the same rate and latency codes as training, but
/// each image's random draws come from a generator seeded by the run's seed and the image's own
/// bits. A given image therefore always gets the same spikes — and the same prediction — whatever
/// else shares its batch (micro-batching must not change an answer).
enum ServingEncoder {
    /// Fills `network`'s input events for `rows` (each `snn.steps` steps, time-major).
    static func encode(_ rows: [[Float]], snn: SpikingSpec, seed: UInt64, into network: SpikingNetwork) {
        let T = snn.steps, count = rows.count
        network.prepare(batch: count)
        var indices: [Int32] = []
        var starts: [Int32] = []
        starts.reserveCapacity(T * count + 1)
        switch snn.encoding {
        case .rate:
            var generators = rows.map { RandomSource(seed: seed ^ fingerprint($0), stream: 77) }
            let scale: Float = 0x1p-32
            for _ in 0..<T {
                for b in 0..<count {
                    starts.append(Int32(indices.count))
                    let row = rows[b]
                    for j in row.indices where Float(UInt32(truncatingIfNeeded: generators[b].next())) * scale < row[j] {
                        indices.append(Int32(j))
                    }
                }
            }
        case .latency:
            let thr = Float(snn.latencyThreshold), span = max(1 - thr, 1e-6)
            let when = rows.map { row in
                row.map { p in p >= thr && p > 0 ? min(T - 1, max(0, Int((((1 - p) / span) * Float(T - 1)).rounded()))) : -1 }
            }
            for t in 0..<T {
                for b in 0..<count {
                    starts.append(Int32(indices.count))
                    for (j, w) in when[b].enumerated() where w == t { indices.append(Int32(j)) }
                }
            }
        case .sequence:
            // Each sample's own generator for each slice, as for rate codes; only analog values draw.
            let prints = rows.map(fingerprint)
            for t in 0..<T {
                for b in 0..<count {
                    var g = RandomSource(seed: seed ^ prints[b], stream: 78 + UInt64(t))
                    let channels = rows[b].count / T
                    starts.append(Int32(indices.count))
                    rows[b].withUnsafeBufferPointer { p in
                        SequenceCode.appendSlice(p.baseAddress! + t * channels, channels: channels, to: &indices) { g.unitFloat() }
                    }
                }
            }
        }
        starts.append(Int32(indices.count))
        network.eventIndices = indices
        network.eventRowStart = starts
    }

    /// FNV-1a over the row's float bits.
    static func fingerprint(_ row: [Float]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for v in row {
            h ^= UInt64(v.bitPattern)
            h = h &* 0x100_0000_01b3
        }
        return h
    }
}

/// The spiking family's forward pass for serving: class probabilities are the mean over steps of
/// each step's softmax of the output spikes (or the softmax of the leaky readout), with inputs
/// encoded by ``ServingEncoder`` so an image's answer never depends on its batch.
final class SpikingServable: ServableNetwork {
    let spec: ExperimentSpec
    let snn: SpikingSpec
    let network: SpikingNetwork
    var taskCount: Int { 0 }
    var requiresTask: Bool { false }
    var parameterBytes: Int { network.parameters.reduce(0) { $0 + $1.count * 4 } }

    init(spec: ExperimentSpec, file: Safetensors.File) throws {
        guard let snn = spec.model.snn else { throw CheckpointError("the spec of a spiking checkpoint lacks model.snn") }
        self.spec = spec
        self.snn = snn
        var rng = RandomSource(seed: 0)
        network = SpikingNetwork(spec: snn, sizes: spec.model.layers, rng: &rng)
        for (name, buffer) in zip(network.parameterNames, network.parameters) { try file.load(name, into: buffer) }
        for l in 0..<network.hiddenCount {
            try file.load("layers.\(l).beta", into: network.beta[l])
            try file.load("layers.\(l).threshold", into: network.theta[l])
        }
    }

    func forward(_ inputs: [[Float]], task: Int?) -> [[Float]] {
        let k = spec.model.layers.last!
        ServingEncoder.encode(inputs, snn: snn, seed: spec.seed, into: network)
        let p = network.probabilities(scores: network.forward(batch: inputs.count))
        return (0..<inputs.count).map { r in Array(p[(r * k)..<((r + 1) * k)]) }
    }
}
