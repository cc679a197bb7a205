package org.cottention.io;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Conversions from a checkpoint's little-endian bytes to float32, contiguous or strided. Shared by the readers. */
final class TensorData {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private TensorData() {}

    /** Largest float[] we hand out (the JVM's array limit, a little under 2^31). */
    static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

    static int arrayLength(String name, long numel) {
        if (numel > MAX_ARRAY)
            throw new IllegalArgumentException("tensor \"" + name + "\" has " + numel + " elements, too many for one Java array");
        return (int) numel;
    }

    static void requireFloat(String name, DType dt) {
        if (!dt.isFloat()) throw new IllegalArgumentException("tensor \"" + name + "\" has dtype " + dt + ", not a float type");
    }

    /** Row-major element strides of a shape. */
    static long[] rowMajorStrides(long[] shape) {
        long[] s = new long[shape.length];
        long acc = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            s[i] = acc;
            acc *= shape[i];
        }
        return s;
    }

    /** True when the strides address the elements in row-major order without gaps (dims of size 1 don't matter). */
    static boolean isContiguous(long[] shape, long[] stride) {
        long expect = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] == 0) return true;
            if (shape[i] != 1 && stride[i] != expect) return false;
            expect *= shape[i];
        }
        return true;
    }

    /** n elements of dtype dt starting at byte {@code byteOff} of seg, converted into out[outOff..]. */
    static void convert(MemorySegment seg, DType dt, long byteOff, float[] out, int outOff, int n) {
        switch (dt) {
            case F32 -> MemorySegment.copy(seg, F32, byteOff, out, outOff, n);
            case F64 -> {
                for (int j = 0; j < n; j++) out[outOff + j] = (float) seg.get(F64, byteOff + 8L * j);
            }
            // bfloat16 is the top half of a float32: widening is exact
            case BF16 -> {
                for (int j = 0; j < n; j++) out[outOff + j] = Float.intBitsToFloat((seg.get(I16, byteOff + 2L * j) & 0xffff) << 16);
            }
            case F16 -> {
                for (int j = 0; j < n; j++) out[outOff + j] = Float.float16ToFloat(seg.get(I16, byteOff + 2L * j));
            }
            default -> throw new IllegalStateException("not a float dtype: " + dt);
        }
    }

    /** A contiguous tensor's bytes as float32. */
    static float[] floats(String name, DType dt, MemorySegment bytes) {
        requireFloat(name, dt);
        int n = arrayLength(name, bytes.byteSize() / dt.bytes);
        float[] out = new float[n];
        convert(bytes, dt, 0, out, 0, n);
        return out;
    }

    /**
     * Gathers a strided tensor into row-major order: element [i0..ik] lies at element index
     * {@code offset + sum(i_d * stride_d)} of {@code storage}. The caller has checked every index lies inside it.
     */
    static float[] gather(String name, DType dt, MemorySegment storage, long offset, long[] shape, long[] stride) {
        requireFloat(name, dt);
        long numel = 1;
        for (long d : shape) numel *= d;
        float[] out = new float[arrayLength(name, numel)];
        if (numel == 0) return out;
        int nd = shape.length;
        if (nd == 0) {
            convert(storage, dt, offset * dt.bytes, out, 0, 1);
            return out;
        }
        int inner = (int) shape[nd - 1];
        long innerStride = stride[nd - 1];
        long[] idx = new long[nd - 1];  // odometer over the outer dims
        long base = offset;
        for (int o = 0; o < out.length; o += inner) {
            if (innerStride == 1) convert(storage, dt, base * dt.bytes, out, o, inner);
            else for (int j = 0; j < inner; j++) convert(storage, dt, (base + j * innerStride) * dt.bytes, out, o + j, 1);
            for (int d = nd - 2; d >= 0; d--) {  // advance the odometer
                base += stride[d];
                if (++idx[d] < shape[d]) break;
                base -= stride[d] * shape[d];
                idx[d] = 0;
            }
        }
        return out;
    }
}
