package org.cottention.model;

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

    /** Collects views in order; {@link #build()} allocates the buffers. */
    public static final class Builder {
        private final List<View> views = new ArrayList<>();
        private long total;

        /** Adds a parameter; {@code decay} says whether AdamW's weight decay applies (matrices yes; biases, norms no). */
        public View add(String name, boolean decay, int... shape) {
            long n = 1;
            for (int d : shape) {
                if (d <= 0) throw new IllegalArgumentException("parameter " + name + " has a non-positive dimension " + Arrays.toString(shape));
                n *= d;
            }
            if (total + n > Integer.MAX_VALUE - 16)
                throw new IllegalArgumentException("model has more than 2^31 parameters; not supported by the flat-buffer trainer");
            View v = new View(name, (int) total, shape.clone(), decay);
            views.add(v);
            total += n;
            return v;
        }

        public Params build() {
            return new Params(views, new float[(int) total]);
        }
    }

    private final List<View> views;
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

    public int size() {
        return data.length;
    }

    /** The gradient buffer, allocated on first use (inference never needs it). */
    public float[] grad() {
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
        return Arrays.copyOfRange(data, v.offset, v.offset + v.size());
    }

    /** Writes all parameters (or their gradients) to a safetensors file under their names, atomically. */
    public void save(Path file, boolean gradients, DType dtype, Map<String, String> metadata) throws IOException {
        float[] src = gradients ? grad() : data;
        List<SafeTensors.Entry> entries = new ArrayList<>();
        for (View v : views) {
            entries.add(new SafeTensors.Entry(v.name, dtype, v.shapeLong(), Arrays.copyOfRange(src, v.offset, v.offset + v.size())));
        }
        SafeTensors.write(file, entries, metadata);
    }
}
