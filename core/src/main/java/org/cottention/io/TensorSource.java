package org.cottention.io;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;

/**
 * Read-only access to the named tensors of a checkpoint (safetensors, PyTorch zip, sharded or not).
 * Implementations memory-map their files; {@link #raw} hands out views into the mapping, valid until {@link #close()}.
 * Asking for a name that is not there is an {@link IllegalArgumentException} naming it; a damaged file found while
 * reading (a CRC mismatch) is an {@link IOException}.
 */
public interface TensorSource extends AutoCloseable {
    /** The file (or index file) this source was opened from. */
    Path path();

    /** A short name of the format: "safetensors", "pytorch", or those with " (sharded, N files)". */
    String format();

    /** Tensor names in the file's order. */
    List<String> names();

    boolean contains(String name);

    TensorInfo info(String name);

    /**
     * The tensor's bytes, little-endian, row-major and contiguous, as a read-only view into the mapping (no copy);
     * null when the stored layout is not contiguous (a strided view of a larger storage): use {@link #floats} then.
     */
    MemorySegment raw(String name) throws IOException;

    /** The tensor converted to float32 (from F32, F16, BF16 or F64), gathered in row-major order onto the heap. */
    float[] floats(String name) throws IOException;

    /**
     * The tensor as float32 after checking it exists with exactly {@code expectedShape}: for model loading, where a
     * missing or mis-shaped weight is a problem of the file (IOException naming the tensor, both shapes and the file).
     */
    default float[] floats(String name, long... expectedShape) throws IOException {
        if (!contains(name)) throw new IOException("tensor \"" + name + "\" is missing from " + path());
        TensorInfo i = info(name);
        if (!java.util.Arrays.equals(i.shape(), expectedShape))
            throw new IOException("tensor \"" + name + "\" in " + path() + " has shape " + i.shapeString() + " but "
                    + java.util.Arrays.toString(expectedShape) + " is expected");
        if (!i.dtype().isFloat()) throw new IOException("tensor \"" + name + "\" in " + path() + " has dtype " + i.dtype() + ", not a float type");
        return floats(name);
    }

    /** Releases the mapping; segments from {@link #raw} must not be used afterwards. */
    @Override
    void close();
}
