package org.cottention.io;

import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file, memory-mapped read-only: an 8-byte little-endian header length, a JSON header
 * {@code {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}}, then the raw data.
 * The header and every offset are validated before the data is mapped; tensors are views into the mapping.
 */
public final class SafeTensors implements TensorSource {
    /** Largest header accepted (the format's own reference reader uses 100 MB). */
    static final long MAX_HEADER = 100L << 20;
    // a name given twice in the header is an error, not "last one wins"
    private static final ObjectMapper JSON = JsonMapper.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();
    private static final ValueLayout.OfDouble F64 = TensorData.F64;

    /** One tensor's header entry; {@code begin}/{@code end} are byte offsets into the data section. */
    public record Info(String name, DType dtype, long[] shape, long begin, long end) implements TensorInfo {
        @Override
        public long numel() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }
    }

    private final Path path;
    private final Arena arena;
    private final MemorySegment data;
    private final Map<String, Info> infos;
    private final Map<String, String> metadata;

    private SafeTensors(Path path, Arena arena, MemorySegment data, Map<String, Info> infos, Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.data = data;
        this.infos = infos;
        this.metadata = metadata;
    }

    public static SafeTensors open(Path path) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw bad(path, "file is " + size + " bytes, shorter than the 8-byte header length");
            java.nio.ByteBuffer lenBuf = java.nio.ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long headerLen = lenBuf.getLong(0);
            if (headerLen < 2 || headerLen > MAX_HEADER || headerLen > size - 8)
                throw bad(path, "header length " + headerLen + " does not fit the file of " + size + " bytes");
            java.nio.ByteBuffer hb = java.nio.ByteBuffer.allocate((int) headerLen);
            readFully(ch, hb, 8);
            Map<String, String> meta = new LinkedHashMap<>();
            Map<String, Info> infos = parseHeader(path, new String(hb.array(), StandardCharsets.UTF_8), size - 8 - headerLen, meta);
            Arena arena = Arena.ofShared();
            try {
                MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 8 + headerLen, size - 8 - headerLen, arena);
                return new SafeTensors(path, arena, seg, infos, meta);
            } catch (IOException | RuntimeException e) {
                arena.close();
                throw e;
            }
        }
    }

    private static void readFully(FileChannel ch, java.nio.ByteBuffer buf, long pos) throws IOException {
        while (buf.hasRemaining()) {
            int r = ch.read(buf, pos + buf.position());
            if (r < 0) throw new IOException("unexpected end of file");
        }
    }

    private static Map<String, Info> parseHeader(Path path, String header, long dataLen, Map<String, String> meta) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(header);
        } catch (IOException e) {
            String why = e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
            throw bad(path, "header is not valid JSON: " + why.lines().findFirst().orElse(""));
        }
        if (!(root instanceof ObjectNode)) throw bad(path, "header is not a JSON object");
        Map<String, Info> infos = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) throw bad(path, "__metadata__ is not an object");
                v.fields().forEachRemaining(m -> meta.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            if (!v.isObject() || !v.path("dtype").isTextual() || !v.path("shape").isArray() || !v.path("data_offsets").isArray()
                    || v.path("data_offsets").size() != 2)
                throw bad(path, "tensor " + Msg.q(name) + " needs dtype, shape and data_offsets [begin, end]");
            DType dt;
            try {
                dt = DType.fromSafetensors(v.get("dtype").asText());
            } catch (IllegalArgumentException ex) {
                throw bad(path, "tensor " + Msg.q(name) + ": " + ex.getMessage());
            }
            long[] shape = new long[v.get("shape").size()];
            long numel = 1, nbytes;
            try {
                for (int i = 0; i < shape.length; i++) {
                    JsonNode d = v.get("shape").get(i);
                    if (!d.isIntegralNumber() || !d.canConvertToLong() || d.asLong() < 0)
                        throw bad(path, "tensor " + Msg.q(name) + " has a bad dimension " + Msg.q(d.toString()));
                    shape[i] = d.asLong();
                    numel = Math.multiplyExact(numel, shape[i]);
                }
                nbytes = Math.multiplyExact(numel, (long) dt.bytes);
            } catch (ArithmeticException ex) {
                throw bad(path, "tensor " + Msg.q(name) + " shape " + Msg.q(v.get("shape").toString()) + " is absurdly large (overflows 64 bits)");
            }
            JsonNode o0 = v.get("data_offsets").get(0), o1 = v.get("data_offsets").get(1);
            if (!o0.isIntegralNumber() || !o1.isIntegralNumber() || !o0.canConvertToLong() || !o1.canConvertToLong())
                throw bad(path, "tensor " + Msg.q(name) + " has non-integer data_offsets");
            long begin = o0.asLong(), end = o1.asLong();
            if (end < begin)
                throw bad(path, "tensor " + Msg.q(name) + " data_offsets [" + begin + ", " + end + "] end before they begin");
            if (begin < 0 || end > dataLen)
                throw bad(path, "tensor " + Msg.q(name) + " data_offsets [" + begin + ", " + end + "] lie outside the data section of " + dataLen + " bytes");
            if (end - begin != nbytes)
                throw bad(path, "tensor " + Msg.q(name) + " holds " + (end - begin) + " bytes but " + dt + " " + java.util.Arrays.toString(shape)
                        + " needs " + nbytes);
            infos.put(name, new Info(name, dt, shape, begin, end));
        }
        // As the format's reference reader: sorted by offset, the tensors tile the data section exactly
        // (no overlap, which would alias two weights; no gap or tail, which would hide unvalidated bytes).
        List<Info> sorted = new ArrayList<>(infos.values());
        sorted.sort((a, b) -> a.begin != b.begin ? Long.compare(a.begin, b.begin) : Long.compare(a.end, b.end));
        long at = 0;
        String prev = null;
        for (Info i : sorted) {
            if (i.begin < at)
                throw bad(path, "tensors " + Msg.q(prev) + " and " + Msg.q(i.name) + " overlap");
            if (i.begin > at)
                throw bad(path, "unused gap of " + (i.begin - at) + " bytes in the data section before tensor " + Msg.q(i.name));
            at = i.end;
            prev = i.name;
        }
        if (at != dataLen)
            throw bad(path, "the tensors cover " + at + " bytes but the data section holds " + dataLen + " (trailing bytes)");
        return Collections.unmodifiableMap(infos);
    }

    private static IOException bad(Path path, String why) {
        return new IOException("invalid safetensors file " + path + ": " + why);
    }

    @Override
    public Path path() {
        return path;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    @Override
    public String format() {
        return "safetensors";
    }

    /** Tensor names in header order. */
    @Override
    public List<String> names() {
        return List.copyOf(infos.keySet());
    }

    @Override
    public boolean contains(String name) {
        return infos.containsKey(name);
    }

    @Override
    public Info info(String name) {
        Info i = infos.get(name);
        if (i == null) throw new IllegalArgumentException("no tensor " + Msg.q(name) + " in " + path);
        return i;
    }

    /** The raw little-endian bytes of a tensor, a view into the mapping (valid until {@link #close()}). */
    public MemorySegment segment(String name) {
        Info i = info(name);
        return data.asSlice(i.begin, i.end - i.begin);
    }

    /** Same as {@link #segment}: safetensors data is always contiguous. */
    @Override
    public MemorySegment raw(String name) {
        return segment(name);
    }

    /** The tensor converted to float32 (from F32, F16, BF16 or F64), copied onto the heap. */
    @Override
    public float[] floats(String name) {
        Info i = info(name);
        return TensorData.floats(name, i.dtype, segment(name));
    }

    /** An integer tensor (I64, I32, I16, I8, U8, BOOL) as longs. */
    public long[] longs(String name) {
        Info i = info(name);
        MemorySegment s = segment(name);
        long[] out = new long[Math.toIntExact(i.numel())];
        for (int j = 0; j < out.length; j++) {
            out[j] = switch (i.dtype) {
                case I64 -> s.getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), j);
                case I32 -> s.getAtIndex(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), j);
                case I16 -> s.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), j);
                case I8 -> s.get(ValueLayout.JAVA_BYTE, j);
                case U8, BOOL -> s.get(ValueLayout.JAVA_BYTE, j) & 0xff;
                default -> throw new IllegalArgumentException("tensor \"" + name + "\" has dtype " + i.dtype + ", not an integer type");
            };
        }
        return out;
    }

    /** The tensor converted to float64. */
    public double[] doubles(String name) {
        Info i = info(name);
        if (i.dtype == DType.F64) {
            double[] out = new double[TensorData.arrayLength(name, i.numel())];
            MemorySegment.copy(segment(name), F64, 0, out, 0, out.length);
            return out;
        }
        float[] f = floats(name);
        double[] out = new double[f.length];
        for (int j = 0; j < f.length; j++) out[j] = f[j];
        return out;
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) arena.close();
    }

    /**
     * A tensor to write. {@code data} is a float[] (written as F32, or BF16/F16 when asked), a double[] (F64), a
     * {@link Lazy} that produces the float[] only when the writer reaches the tensor (so a converter holds one tensor in
     * memory at a time), a {@link MemorySegment} of raw little-endian bytes already in {@code dtype}, copied verbatim, or
     * a {@link Converted} segment in another float dtype, converted a chunk at a time.
     */
    public record Entry(String name, DType dtype, long[] shape, Object data) {
        long numel() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }
    }

    /**
     * Raw little-endian bytes of a float tensor in dtype {@code from}, converted to the entry's dtype while writing,
     * a few KB at a time: converting a mapped multi-GB tensor needs no heap.
     */
    public record Converted(MemorySegment bytes, DType from) {
        public Converted {
            if (!from.isFloat()) throw new IllegalArgumentException("can only convert float tensors, not " + from);
        }
    }

    /** Tensor data produced on demand while writing. */
    @FunctionalInterface
    public interface Lazy {
        float[] get() throws IOException;
    }

    /** Writes tensors to a safetensors file atomically (temp file + rename), in the given order. */
    public static void write(Path path, List<Entry> entries, Map<String, String> metadata) throws IOException {
        byte[] h = header(entries, metadata);
        AtomicFiles.write(path, out -> write(out, h, entries));
    }

    /** Writes a whole safetensors file to a stream (the caller makes it atomic); lazy entries are produced one at a time. */
    public static void write(java.io.OutputStream out, List<Entry> entries, Map<String, String> metadata) throws IOException {
        write(out, header(entries, metadata), entries);
    }

    /** Bytes of the file {@link #write} produces for these entries: the size is known before any data is produced. */
    public static long fileSize(List<Entry> entries, Map<String, String> metadata) {
        long n = 8 + header(entries, metadata).length;
        for (Entry e : entries) n += e.numel() * e.dtype.bytes;
        return n;
    }

    /** The padded JSON header; checks eager data against the shapes (lazy data is checked when produced). */
    private static byte[] header(List<Entry> entries, Map<String, String> metadata) {
        ObjectNode header = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long off = 0;
        for (Entry e : entries) {
            long numel = e.numel();
            long have = switch (e.data) {
                case float[] f -> f.length;
                case double[] d -> d.length;
                case MemorySegment seg -> seg.byteSize() / e.dtype.bytes;
                case Converted c -> c.bytes().byteSize() / c.from().bytes;
                case Lazy l -> numel;
                default -> throw new IllegalArgumentException("tensor " + Msg.q(e.name) + ": data must be float[], double[], Lazy or MemorySegment");
            };
            if (have != numel) throw new IllegalArgumentException("tensor " + Msg.q(e.name) + ": shape " + java.util.Arrays.toString(e.shape)
                    + " has " + numel + " elements but the data has " + have);
            if (header.has(e.name)) throw new IllegalArgumentException("tensor " + Msg.q(e.name) + " given twice");
            ObjectNode t = header.putObject(e.name);
            t.put("dtype", e.dtype.name());
            var sh = t.putArray("shape");
            for (long d : e.shape) sh.add(d);
            var offs = t.putArray("data_offsets");
            offs.add(off);
            off += numel * e.dtype.bytes;
            offs.add(off);
        }
        byte[] hjson;
        try {
            hjson = JSON.writeValueAsBytes(header);
        } catch (com.fasterxml.jackson.core.JsonProcessingException ex) {
            throw new IllegalStateException(ex);
        }
        int pad = (8 - hjson.length % 8) % 8;  // keep the data 8-byte aligned, padding the header with spaces
        byte[] h = java.util.Arrays.copyOf(hjson, hjson.length + pad);
        java.util.Arrays.fill(h, hjson.length, h.length, (byte) ' ');
        return h;
    }

    private static void write(java.io.OutputStream out, byte[] h, List<Entry> entries) throws IOException {
        java.nio.ByteBuffer len = java.nio.ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length);
        out.write(len.array());
        out.write(h);
        java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        for (Entry e : entries) {
            Object data = e.data;
            if (data instanceof MemorySegment seg) {
                flush(out, buf);
                for (long o = 0; o < seg.byteSize(); o += buf.capacity()) {
                    int n = (int) Math.min(buf.capacity(), seg.byteSize() - o);
                    MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, o, buf.array(), 0, n);
                    out.write(buf.array(), 0, n);
                }
                continue;
            }
            if (data instanceof Converted c) {
                float[] chunk = new float[4096];
                long n = c.bytes().byteSize() / c.from().bytes;
                for (long j0 = 0; j0 < n; j0 += chunk.length) {
                    int m = (int) Math.min(chunk.length, n - j0);
                    TensorData.convert(c.bytes(), c.from(), j0 * c.from().bytes, chunk, 0, m);
                    for (int j = 0; j < m; j++) {
                        if (buf.remaining() < 8) flush(out, buf);
                        put(buf, e, chunk[j]);
                    }
                }
                continue;
            }
            if (data instanceof Lazy lazy) {
                data = lazy.get();  // dropped again after this tensor: only one is alive at a time
                if (!(data instanceof float[] f) || f.length != e.numel())
                    throw new IllegalArgumentException("tensor " + Msg.q(e.name) + ": lazy data does not have the " + e.numel() + " elements of its shape");
            }
            int n = data instanceof float[] f ? f.length : ((double[]) data).length;
            for (int j = 0; j < n; j++) {
                if (buf.remaining() < 8) flush(out, buf);
                put(buf, e, data instanceof float[] f ? f[j] : ((double[]) data)[j]);
            }
        }
        flush(out, buf);
    }

    private static void put(java.nio.ByteBuffer buf, Entry e, double x) {
        switch (e.dtype) {
            case F32 -> buf.putFloat((float) x);
            case F64 -> buf.putDouble(x);
            case BF16 -> buf.putShort(toBf16((float) x));
            case F16 -> buf.putShort(Float.floatToFloat16((float) x));
            default -> throw new IllegalArgumentException("tensor " + Msg.q(e.name) + ": cannot write dtype " + e.dtype);
        }
    }

    private static void flush(java.io.OutputStream out, java.nio.ByteBuffer buf) throws IOException {
        out.write(buf.array(), 0, buf.position());
        buf.clear();
    }

    /** float32 -> bfloat16 bits with round-to-nearest-even (NaN kept a quiet NaN). */
    public static short toBf16(float x) {
        int bits = Float.floatToRawIntBits(x);
        if (Float.isNaN(x)) return (short) ((bits >>> 16) | 0x40);
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }
}
