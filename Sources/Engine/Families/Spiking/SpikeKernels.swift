import CSpikeKernels

/// The spiking engine's C kernels (`CSpikeKernels`): event-driven input products and the fused
/// LIF recursion with its surrogate gradient, compiled for AVX-512, AVX2 and portable C and
/// chosen once at run time from the CPU (`NEUROMOD_ISA=avx512|avx2|portable` asks for less).
/// The three paths do the same operations per element in the same order: bit-identical results.
public enum SpikeKernels {
    public enum InstructionSet: Int, CaseIterable, Sendable, CustomStringConvertible {
        case portable = 0, avx2 = 1, avx512 = 2
        public var description: String { ["portable", "avx2", "avx512"][rawValue] }
    }

    /// The instruction set the kernels use now.
    public static var instructionSet: InstructionSet { InstructionSet(rawValue: Int(nm_spike_isa())) ?? .portable }

    /// Every instruction set this CPU can run.
    public static var available: [InstructionSet] {
        let now = nm_spike_isa()
        let best = nm_spike_set_isa(-1)
        nm_spike_set_isa(now)
        return InstructionSet.allCases.filter { $0.rawValue <= Int(best) }
    }

    /// Uses `isa` (at most what the CPU has; nil: the best it has) and returns what is in use.
    @discardableResult
    public static func use(_ isa: InstructionSet?) -> InstructionSet {
        InstructionSet(rawValue: Int(nm_spike_set_isa(Int32(isa?.rawValue ?? -1)))) ?? .portable
    }

    /// Below this input density the input layer runs event-driven (sums of the weight rows of the
    /// inputs that spiked, and the weight gradient by input); above it, two dense GEMMs.
    static var eventDensityLimit: Double { 0.5 }

    /// `out[r, :] = (bias + Σ_{k ∈ events(r)} w[indices[k], :]) · gain` (arrays, for tests).
    public static func eventsForward(indices: [Int32], rowStart: [Int32], weights: [Float], bias: [Float], columns n: Int, gain: Float = 1) -> [Float] {
        let rows = rowStart.count - 1
        var out = [Float](repeating: 0, count: rows * n)
        out.withUnsafeMutableBufferPointer { o in
            nm_events_forward(indices, rowStart, rows, weights, bias, n, gain, o.baseAddress!)
        }
        return out
    }

    /// `gradW[i, :] = Σ_{r : i ∈ events(r)} delta[r, :]` (arrays, for tests).
    public static func eventsWeightGradient(indices: [Int32], rowStart: [Int32], delta: [Float], columns n: Int, inputs: Int) -> [Float] {
        let rows = rowStart.count - 1
        var colRows = [Int32](repeating: 0, count: max(indices.count, 1)), colStart = [Int32](repeating: 0, count: inputs + 1)
        var gw = [Float](repeating: .nan, count: inputs * n)
        colRows.withUnsafeMutableBufferPointer { cr in
            colStart.withUnsafeMutableBufferPointer { cs in
                nm_events_transpose(indices, rowStart, rows, inputs, cr.baseAddress!, cs.baseAddress!)
                gw.withUnsafeMutableBufferPointer { g in
                    nm_events_weight_gradient(cr.baseAddress!, cs.baseAddress!, inputs, delta, rows, n, g.baseAddress!)
                }
            }
        }
        return gw
    }
}
