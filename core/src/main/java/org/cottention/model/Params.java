package org.cottention.model;

import org.cottention.kernels.Embedding;
import org.cottention.kernels.Ops;
import org.cottention.kernels.SegmentMatmul;

import org.cottention.io.DType;
import org.cottention.io.SafeTensors;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * All parameters of a model in one flat float buffer, with their gradients in a second buffer of the same layout
 * (llm.c style): the optimizer, gradient clipping and checkpointing work on the flat buffers, and each layer reads
 * its weights through a named {@link View} (an offset and a shape).
 */
public final class Params {
    /** One named parameter tensor: elements [offset, offset + size) of the flat buffers. */
    public record View(String name, int offset, int[] shape, boolean decay) {
        public int size() {
            int n = 1;
            for (int d : shape) n *= d;
            return n;
        }

        public int rows() {
            return shape[0];
        }

        public int cols() {
            return shape.length == 1 ? shape[0] : size() / shape[0];
        }

        public long[] shapeLong() {
            return Arrays.stream(shape).asLongStream().toArray();
        }
    }

    /**
     * Where an off-heap parameter's values live: a row-major segment in BF16 or F32 (a view into a memory-mapped
     * checkpoint, or an off-heap copy), set once by the loader. Such a parameter has no room in {@link #data}
     * (its view's offset is -1), so the model is inference-only.
     */
    public static final class Slot {
        private java.lang.foreign.MemorySegment segment;
        private boolean bf16;
        private final boolean bf16Wanted;

        Slot(boolean bf16Wanted) {
            this.bf16Wanted = bf16Wanted;
        }

        /** The dtype the model asked for this slot: BF16 (true) or F32. */
        public boolean bf16Wanted() {
            return bf16Wanted;
        }

        public void set(java.lang.foreign.MemorySegment segment, boolean bf16) {
            this.segment = segment;
            this.bf16 = bf16;
        }

        public java.lang.foreign.MemorySegment segment() {
            if (segment == null) throw new IllegalStateException("off-heap weights were not loaded");
            return segment;
        }

        public boolean bf16() {
            return bf16;
        }
    }

    /** Collects views in order; {@link #build()} allocates the buffers. */
    public static final class Builder {
        private final List<View> views = new ArrayList<>();
        private final Map<String, Slot> slots = new LinkedHashMap<>();
        private boolean offHeapMatrices, offHeapBf16;
        private long total;

        /**
         * From now on, 2-D parameters (the matrices: embeddings and projections, nearly all the bytes) get no room in
         * the flat buffer but an off-heap {@link Slot}, for inference from memory-mapped or BF16 weights.
         */
        public Builder offHeapMatrices(boolean on, boolean bf16) {
            offHeapMatrices = on;
            offHeapBf16 = bf16;
            return this;
        }

        /** The slot of an off-heap parameter, or null for one in the flat buffer. */
        public Slot slot(View v) {
            return slots.get(v.name());
        }

        /** Adds a parameter; {@code decay} says whether AdamW's weight decay applies (matrices yes; biases, norms no). */
        public View add(String name, boolean decay, int... shape) {
            long n = 1;
            for (int d : shape) {
                if (d <= 0) throw new IllegalArgumentException("parameter " + name + " has a non-positive dimension " + Arrays.toString(shape));
                n *= d;
            }
            if (total + n > Integer.MAX_VALUE - 16)
                throw new IllegalArgumentException("model has more than 2^31 parameters; not supported by the flat-buffer trainer");
            if (offHeapMatrices && shape.length == 2) {
                View v = new View(name, -1, shape.clone(), decay);
                views.add(v);
                slots.put(name, new Slot(offHeapBf16));
                return v;
            }
            View v = new View(name, (int) total, shape.clone(), decay);
            views.add(v);
            total += n;
            return v;
        }

        public Params build() {
            Params p = new Params(views, new float[(int) total]);
            p.slots.putAll(slots);
            return p;
        }
    }

    private final List<View> views;
    private final Map<String, Slot> slots = new LinkedHashMap<>();
    private final Map<String, View> byName;
    public final float[] data;
    private float[] grad;

    private Params(List<View> views, float[] data) {
        this.views = Collections.unmodifiableList(new ArrayList<>(views));
        Map<String, View> m = new LinkedHashMap<>();
        for (View v : views) {
            if (m.put(v.name, v) != null) throw new IllegalArgumentException("duplicate parameter name " + v.name);
        }
        this.byName = Collections.unmodifiableMap(m);
        this.data = data;
    }

    public static Builder builder() {
        return new Builder();
    }

    public List<View> views() {
        return views;
    }

    public View view(String name) {
        View v = byName.get(name);
        if (v == null) throw new IllegalArgumentException("no parameter named " + name);
        return v;
    }

    public boolean has(String name) {
        return byName.containsKey(name);
    }

    /**
     * out[n, cols] = (or +=, with add) the rows ids of a 2-D table (embeddings), from the flat buffer or from its
     * off-heap slot; adding from a slot goes through scratch [n, cols].
     */
    public void lookup(View table, int[] ids, int n, float[] out, boolean add, float[] scratch) {
        int rows = table.shape()[0], cols = table.shape()[1];
        Slot slot = slot(table.name());
        if (slot == null) {
            if (add) Embedding.forwardAdd(out, 0, data, table.offset(), ids, 0, n, rows, cols);
            else Embedding.forward(out, 0, data, table.offset(), ids, 0, n, rows, cols);
            return;
        }
        SegmentMatmul.gatherRows(add ? scratch : out, 0, slot.segment(), slot.bf16(), ids, 0, n, rows, cols);
        if (add) Ops.addInPlace(out, 0, scratch, 0, n * cols);
    }

    /** The off-heap slot of a parameter, or null when it lives in {@link #data}. */
    public Slot slot(String name) {
        return slots.get(name);
    }

    /** True when some parameters live off-heap (memory-mapped or BF16): inference only. */
    public boolean hasOffHeap() {
        return !slots.isEmpty();
    }

    /** Bytes of parameter values: the flat buffer plus the off-heap segments. */
    public long valueBytes() {
        long b = 4L * data.length;
        for (Slot s : slots.values()) if (s.segment != null) b += s.segment.byteSize();
        return b;
    }

    private void requireOnHeap(String what) {
        if (hasOffHeap())
            throw new IllegalStateException(what + " needs f32 weights on the heap; this model was loaded with off-heap weights "
                    + "(--dtype bf16 or --mmap), which serve inference only");
    }

    public int size() {
        return data.length;
    }

    /** The gradient buffer, allocated on first use (inference never needs it). */
    public float[] grad() {
        requireOnHeap("training (gradients)");
        if (grad == null) grad = new float[data.length];
        return grad;
    }

    public boolean hasGrad() {
        return grad != null;
    }

    public void zeroGrad() {
        if (grad != null) Arrays.fill(grad, 0f);
    }

    /** A copy of one parameter's values. */
    public float[] copyOf(String name) {
        View v = view(name);
        Slot s = slots.get(name);
        if (s != null) {
            float[] out = new float[v.size()];
            org.cottention.kernels.SegmentMatmul.widen(s.segment(), s.bf16(), 0, out, 0, out.length);
            return out;
        }
        return Arrays.copyOfRange(data, v.offset, v.offset + v.size());
    }

    /** Writes all parameters (or their gradients) to a safetensors file under their names, atomically. */
    public void save(Path file, boolean gradients, DType dtype, Map<String, String> metadata) throws IOException {
        requireOnHeap("saving");
        float[] src = gradients ? grad() : data;
        List<SafeTensors.Entry> entries = new ArrayList<>();
        for (View v : views) {
            entries.add(new SafeTensors.Entry(v.name, dtype, v.shapeLong(), Arrays.copyOfRange(src, v.offset, v.offset + v.size())));
        }
        SafeTensors.write(file, entries, metadata);
    }
}
