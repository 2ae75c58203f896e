/// The named n-dimensional arrays of one data-set file, whatever its format. The format is told
/// from the first bytes, never from the file name: a zip archive of `.npy` entries is an `.npz`,
/// a zip of IDX files is the MNIST layout, a header length followed by `{` is safetensors.
struct ArrayBundle {
    let format: DatasetFileFormat
    /// The arrays by name.
    let arrays: [String: NDArray]

    static let notADataSet = "not a data-set file: expected a NumPy .npz, a safetensors file or a zip of IDX files"

    /// Reads every array of the mapped file; an archive whose entries would decode to more than
    /// `maxDecodedBytes` together is refused before any is inflated (a zip bomb).
    static func read(_ file: ByteRegion, maxDecodedBytes: Int = .max) throws -> ArrayBundle {
        if ZipArchive.looksLikeZip(file) {
            let archive = try ZipArchive(file)
            let files = archive.entries.filter { !IDXArrays.isIgnorable($0) }
            var total = 0
            for entry in files {
                let (sum, overflow) = total.addingReportingOverflow(entry.uncompressedSize)
                guard !overflow, sum <= maxDecodedBytes else {
                    throw DatasetError("the archive's entries would decode to more than \(maxDecodedBytes) bytes, the most a data set may take")
                }
                total = sum
            }
            if files.contains(where: { $0.name.hasSuffix(".npy") }) {
                return try ArrayBundle(format: .npz, arrays: readNPZ(archive, files: files))
            }
            if files.contains(where: { IDXArrays.looksLikeIDX($0.name) }) {
                return try ArrayBundle(format: .idx, arrays: IDXArrays.read(archive))
            }
            throw DatasetError("\(notADataSet) (this zip archive holds neither .npy arrays nor IDX files)")
        }
        if SafetensorsArrays.looksLikeSafetensors(file) {
            return try ArrayBundle(format: .safetensors, arrays: SafetensorsArrays.read(file))
        }
        if file.starts(with: NumPyArray.magic) {
            throw DatasetError("\(notADataSet) (this is a single .npy array; save x_train, y_train, x_test and y_test together with numpy.savez)")
        }
        throw DatasetError(notADataSet)
    }

    private init(format: DatasetFileFormat, arrays: [NDArray]) throws {
        var byName: [String: NDArray] = [:]
        for array in arrays {
            guard byName.updateValue(array, forKey: array.name) == nil else {
                throw DatasetError("\(array.name): the file holds two arrays of this name")
            }
        }
        self.format = format
        self.arrays = byName
    }

    /// The `.npy` entries of an `.npz`, each named by its entry name without `.npy` (as `numpy.load` does).
    private static func readNPZ(_ archive: ZipArchive, files: [ZipArchive.Entry]) throws -> [NDArray] {
        let limit = 12 + NumPyArray.maxHeaderBytes + 8 * DatasetFile.maxValuesPerArray
        return try files.map { entry in
            guard entry.name.hasSuffix(".npy") else {
                throw DatasetError("zip entry \(entry.name) is not a .npy array; an .npz holds only .npy arrays")
            }
            let name = String(entry.name.dropLast(4))
            return try NumPyArray.read(archive.contents(of: entry, limit: limit), name: name)
        }
    }
}
