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

    /** The index's tensor → shard file map, in its order, validated but not opened. */
    static Map<String, String> weightMap(Path index) throws IOException {
        long size = Files.size(index);
        if (size > MAX_INDEX) throw bad(index, "file is " + size + " bytes");
        JsonNode root;
        try {
            root = JSON.readTree(Files.readAllBytes(index));
        } catch (IOException e) {
            String why = e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
            throw bad(index, "not valid JSON: " + why.lines().findFirst().orElse(""));
        }
        JsonNode wm = root == null ? null : root.get("weight_map");
        if (wm == null || !wm.isObject() || wm.isEmpty()) throw bad(index, "no \"weight_map\" object");
        Map<String, String> map = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = wm.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String shard = e.getValue().asText();
            if (!e.getValue().isTextual() || shard.isEmpty() || shard.contains("/") || shard.contains("\\") || shard.equals(".") || shard.equals(".."))
                throw bad(index, "tensor " + Msg.q(e.getKey()) + " maps to " + Msg.q(e.getValue().asText()) + ", which is not a plain file name beside the index");
            map.put(e.getKey(), shard);
        }
        return map;
    }

    public static ShardedSource open(Path index, String format, Opener opener) throws IOException {
        Map<String, String> map = weightMap(index);
        Path dir = index.toAbsolutePath().getParent();
        List<TensorSource> shards = new ArrayList<>();
        Map<String, TensorSource> byFile = new LinkedHashMap<>();
        Map<String, TensorSource> byName = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, String> e : map.entrySet()) {
                String file = e.getValue(), name = e.getKey();
                TensorSource s = byFile.get(file);
                if (s == null) {
                    Path p = dir.resolve(file);
                    if (!Files.isRegularFile(p)) throw bad(index, "shard " + Msg.plain(file) + " is missing");
                    s = opener.open(p);
                    shards.add(s);
                    byFile.put(file, s);
                    for (String held : s.names())
                        if (!file.equals(map.get(held)))
                            throw bad(index, "shard " + Msg.plain(file) + " holds tensor " + Msg.q(held) + ", which the index does not list for it");
                }
                if (!s.contains(name)) throw bad(index, "tensor " + Msg.q(name) + " is not in its shard " + Msg.plain(file));
                byName.put(name, s);
            }
            return new ShardedSource(index, format + " (sharded, " + shards.size() + " files)", List.copyOf(shards), byName);
        } catch (IOException | RuntimeException ex) {
            for (TensorSource s : shards) s.close();
            throw ex;
        }
    }

    private TensorSource shard(String name) {
        TensorSource s = byName.get(name);
        if (s == null) throw new IllegalArgumentException("no tensor " + Msg.q(name) + " in " + index);
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
