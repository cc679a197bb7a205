package org.cottention.io;

import java.util.Arrays;

/** What a checkpoint says about one tensor: its name, element type and shape (row-major, outermost first). */
public interface TensorInfo {
    String name();

    DType dtype();

    long[] shape();

    /** Number of elements (1 for a scalar); the shape was checked not to overflow when the file was opened. */
    default long numel() {
        long n = 1;
        for (long d : shape()) n *= d;
        return n;
    }

    default String shapeString() {
        return Arrays.toString(shape());
    }
}
