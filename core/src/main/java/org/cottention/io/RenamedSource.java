package org.cottention.io;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * A view of a tensor source under other names (e.g. a checkpoint saved from HF {@code BertModel}, whose tensors lack
 * the {@code bert.} prefix of {@code BertFor*}): {@code rename} maps each stored name to the name the model asks for.
 * Two stored names that map to the same name are an error rather than a silent choice.
 */
public final class RenamedSource implements TensorSource {
    private final TensorSource src;
    private final List<String> names = new ArrayList<>();
    private final Map<String, String> toStored = new HashMap<>();

    public RenamedSource(TensorSource src, UnaryOperator<String> rename) throws IOException {
        this.src = src;
        for (String stored : src.names()) {
            String n = rename.apply(stored);
            String prev = toStored.put(n, stored);
            if (prev != null) throw new IOException(src.path() + " holds both \"" + prev + "\" and \"" + stored + "\", which both name " + n);
            names.add(n);
        }
    }

    /** The source with {@code prefix} put before every stored name that starts with one of {@code roots}. */
    public static TensorSource prefixing(TensorSource src, String prefix, String... roots) throws IOException {
        return new RenamedSource(src, n -> {
            for (String r : roots) if (n.startsWith(r)) return prefix + n;
            return n;
        });
    }

    private String stored(String name) {
        String s = toStored.get(name);
        if (s == null) throw new IllegalArgumentException("no tensor \"" + name + "\" in " + src.path());
        return s;
    }

    @Override public Path path() { return src.path(); }
    @Override public String format() { return src.format(); }
    @Override public List<String> names() { return List.copyOf(names); }
    @Override public boolean contains(String name) { return toStored.containsKey(name); }
    @Override public TensorInfo info(String name) { return src.info(stored(name)); }
    @Override public MemorySegment raw(String name) throws IOException { return src.raw(stored(name)); }
    @Override public float[] floats(String name) throws IOException { return src.floats(stored(name)); }
    @Override public void close() { src.close(); }
}
