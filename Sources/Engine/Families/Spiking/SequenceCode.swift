import Foundation

/// Sequence input for a spiking network: a sample is T × F values (event data, or an image's
/// rows as time steps); step t feeds slice t, channel j spiking when its value is ≥ 1, never when
/// it is ≤ 0, and with probability equal to the value in between — so 0/1 event data become
/// exactly their events, and analog data a rate code within each slice.
enum SequenceCode {
    /// Appends the events of `count` samples (time-major rows: step t, then sample b) to
    /// `indices`/`starts`. `uniform` draws in [0, 1) (only for values strictly between 0 and 1).
    static func encode(_ samples: UnsafePointer<Float>, count: Int, width: Int, steps: Int, channels: Int,
                       indices: inout [Int32], starts: inout [Int32], uniform: () -> Float) {
        precondition(width == steps * channels)
        for t in 0..<steps {
            for b in 0..<count {
                starts.append(Int32(indices.count))
                appendSlice(samples + b * width + t * channels, channels: channels, to: &indices, uniform: uniform)
            }
        }
    }

    /// The spikes of one time slice (`channels` values) appended to `indices`.
    @inline(__always)
    static func appendSlice(_ slice: UnsafePointer<Float>, channels: Int, to indices: inout [Int32], uniform: () -> Float) {
        for j in 0..<channels {
            let v = slice[j]
            if v >= 1 || (v > 0 && uniform() < v) { indices.append(Int32(j)) }
        }
    }
}

extension RandomSource {
    /// Uniform in [0, 1) as a Float (24 random bits).
    mutating func unitFloat() -> Float {
        Float(next() >> 40) * 0x1p-24
    }
}
