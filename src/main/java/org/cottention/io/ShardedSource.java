package org.cottention.io;

import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A checkpoint split over several files by an HF index ({@code model.safetensors.index.json} or
 * {@code pytorch_model.bin.index.json}: {@code {"metadata": {...}, "weight_map": {"tensor": "shard file"}}}).
 * Every shard sits beside the index (plain file names only) and must hold exactly the tensors the index gives it.
 */
public final class ShardedSource implements TensorSource {
    @FunctionalInterface
    public interface Opener {
        TensorSource open(Path shard) throws IOException;
    }

    private static final ObjectMapper JSON = JsonMapper.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();
    /** An index is a few hundred bytes per tensor. */
    private static final long MAX_INDEX = 64L << 20;

    private final Path index;
    private final String format;
    private final List<TensorSource> shards;
    private final Map<String, TensorSource> byName;

    private ShardedSource(Path index, String format, List<TensorSource> shards, Map<String, TensorSource> byName) {
        this.index = index;
        this.format = format;
        this.shards = shards;
        this.byName = byName;
    }

    private static IOException bad(Path index, String why) {
        return new IOException("invalid checkpoint index " + index + ": " + why);
    }

    /** Shard file names of an index, in order of first appearance, validated but not opened. */
    static Map<String, List<String>> weightMap(Path index) throws IOException {
        long size = Files.size(index);
        if (size > MAX_INDEX) throw bad(index, "file is " + size + " bytes");
        JsonNode root;
        try {
            root = JSON.readTree(Files.readAllBytes(index));
        } catch (IOException e) {
            throw bad(index, "not valid JSON: " + e.getMessage().lines().findFirst().orElse(""));
        }
        JsonNode wm = root == null ? null : root.get("weight_map");
        if (wm == null || !wm.isObject() || wm.isEmpty()) throw bad(index, "no \"weight_map\" object");
        Map<String, List<String>> byShard = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = wm.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String shard = e.getValue().asText();
            if (!e.getValue().isTextual() || shard.isEmpty() || shard.contains("/") || shard.contains("\\") || shard.equals(".") || shard.equals(".."))
                throw bad(index, "tensor \"" + e.getKey() + "\" maps to \"" + e.getValue().asText() + "\", which is not a plain file name beside the index");
            byShard.computeIfAbsent(shard, k -> new ArrayList<>()).add(e.getKey());
        }
        return byShard;
    }

    public static ShardedSource open(Path index, String format, Opener opener) throws IOException {
        Map<String, List<String>> byShard = weightMap(index);
        Path dir = index.toAbsolutePath().getParent();
        List<TensorSource> shards = new ArrayList<>();
        Map<String, TensorSource> byName = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, List<String>> e : byShard.entrySet()) {
                Path p = dir.resolve(e.getKey());
                if (!Files.isRegularFile(p)) throw bad(index, "shard " + e.getKey() + " is missing");
                TensorSource s = opener.open(p);
                shards.add(s);
                for (String name : e.getValue()) {
                    if (!s.contains(name)) throw bad(index, "tensor \"" + name + "\" is not in its shard " + e.getKey());
                    byName.put(name, s);
                }
                for (String name : s.names()) {
                    if (!e.getValue().contains(name) && !byName.containsKey(name))
                        throw bad(index, "shard " + e.getKey() + " holds tensor \"" + name + "\", which the index does not list for it");
                }
            }
            return new ShardedSource(index, format + " (sharded, " + shards.size() + " files)", List.copyOf(shards), byName);
        } catch (IOException | RuntimeException ex) {
            for (TensorSource s : shards) s.close();
            throw ex;
        }
    }

    private TensorSource shard(String name) {
        TensorSource s = byName.get(name);
        if (s == null) throw new IllegalArgumentException("no tensor \"" + name + "\" in " + index);
        return s;
    }

    @Override
    public Path path() {
        return index;
    }

    @Override
    public String format() {
        return format;
    }

    public List<TensorSource> shards() {
        return shards;
    }

    @Override
    public List<String> names() {
        return List.copyOf(byName.keySet());
    }

    @Override
    public boolean contains(String name) {
        return byName.containsKey(name);
    }

    @Override
    public TensorInfo info(String name) {
        return shard(name).info(name);
    }

    @Override
    public MemorySegment raw(String name) throws IOException {
        return shard(name).raw(name);
    }

    @Override
    public float[] floats(String name) throws IOException {
        return shard(name).floats(name);
    }

    @Override
    public void close() {
        for (TensorSource s : shards) s.close();
    }
}
