package org.cottention.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A PyTorch checkpoint as {@code torch.save(state_dict)} writes it since torch 1.6: a zip (entries stored, not
 * compressed) holding {@code <archive>/data.pkl}, a pickle of the state dict whose tensors refer by persistent id to
 * storages kept raw and little-endian in {@code <archive>/data/<key>}.
 * <p>
 * The file is memory-mapped; the pickle runs through our own {@link Unpickler} with an allow-list of exactly the
 * globals a state dict needs ({@code collections.OrderedDict}, {@code torch._utils._rebuild_tensor_v2} and
 * {@code _rebuild_parameter}, the {@code torch.*Storage} types). Any other global is refused by name before anything
 * runs, and those allowed are implemented here: nothing is ever looked up by name or executed. Each tensor's offset,
 * shape and strides are checked against its storage blob at open; a blob's CRC-32 is checked the first time it is read.
 */
public final class PytorchCheckpoint implements TensorSource {
    /** A tensor: a view with {@code shape} and element {@code stride} starting at element {@code offset} of a storage. */
    public record Tensor(String name, DType dtype, long[] shape, long[] stride, long offset, String storageKey) implements TensorInfo {
        public boolean contiguous() {
            return TensorData.isContiguous(shape, stride);
        }
    }

    /** A storage type global such as {@code torch.FloatStorage}. */
    record StorageType(String name, DType dtype) {}

    /** A storage, from a persistent id ('storage', type, key, location, numel). */
    record Storage(String key, DType dtype, long numel, ZipArchive.Entry entry) {}

    private static final Map<String, DType> STORAGE_TYPES = Map.ofEntries(
            Map.entry("FloatStorage", DType.F32), Map.entry("DoubleStorage", DType.F64),
            Map.entry("HalfStorage", DType.F16), Map.entry("BFloat16Storage", DType.BF16),
            Map.entry("LongStorage", DType.I64), Map.entry("IntStorage", DType.I32),
            Map.entry("ShortStorage", DType.I16), Map.entry("CharStorage", DType.I8),
            Map.entry("ByteStorage", DType.U8), Map.entry("BoolStorage", DType.BOOL));

    /** Largest data.pkl accepted: a state dict's pickle is ~1 KB per tensor, so this is generous. */
    static final long MAX_PICKLE = 32L << 20;

    private final Path path;
    private final Arena arena;
    private final ZipArchive zip;
    private final String archive;
    private final Map<String, Tensor> tensors;
    private final Map<String, Storage> storages;
    private final Set<String> verified = ConcurrentHashMap.newKeySet();

    private PytorchCheckpoint(Path path, Arena arena, ZipArchive zip, String archive, Map<String, Tensor> tensors, Map<String, Storage> storages) {
        this.path = path;
        this.arena = arena;
        this.zip = zip;
        this.archive = archive;
        this.tensors = tensors;
        this.storages = storages;
    }

    private static IOException bad(Path path, String why) {
        return new IOException("invalid PyTorch checkpoint " + path + ": " + why);
    }

    public static PytorchCheckpoint open(Path path) throws IOException {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            MemorySegment file = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            PytorchCheckpoint c = parse(path, arena, file);
            arena = null;  // now owned by c
            return c;
        } finally {
            if (arena != null) arena.close();
        }
    }

    private static PytorchCheckpoint parse(Path path, Arena arena, MemorySegment file) throws IOException {
        long size = file.byteSize();
        if (size < 4) throw bad(path, "file is " + size + " bytes long");
        int b0 = file.get(ValueLayout.JAVA_BYTE, 0) & 0xff;
        if (b0 == 0x80)
            throw bad(path, "this is the legacy (pre-1.6, non-zip) torch.save format, which is not supported; "
                    + "re-save it with torch.save(state_dict, f) from torch >= 1.6 or convert it to safetensors");
        if (size > 262 && new String(file.asSlice(257, 5).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.ISO_8859_1).equals("ustar"))
            throw bad(path, "this is the legacy tar torch.save format, which is not supported; re-save it with torch >= 1.6");
        if (file.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 0) != ZipArchive.LOCAL_SIG)
            throw bad(path, String.format("not a zip archive (starts with %02x %02x %02x %02x)", b0,
                    file.get(ValueLayout.JAVA_BYTE, 1), file.get(ValueLayout.JAVA_BYTE, 2), file.get(ValueLayout.JAVA_BYTE, 3)));
        ZipArchive zip = ZipArchive.open(path.toString(), file);

        // The archive folder is named after the file torch saved to ("archive", "pytorch_model", ...): find data.pkl.
        String archive = null;
        for (String n : zip.entries().keySet()) {
            int slash = n.indexOf('/');
            if (slash > 0 && n.indexOf('/', slash + 1) < 0 && n.substring(slash + 1).equals("data.pkl")) {
                if (archive != null) throw bad(path, "two pickles: " + archive + "/data.pkl and " + n);
                archive = n.substring(0, slash);
            }
        }
        if (archive == null) throw bad(path, "no <archive>/data.pkl entry in the zip");
        ZipArchive.Entry bo = zip.entry(archive + "/byteorder");
        if (bo != null) {
            String order = new String(zip.data(bo).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII).trim();
            if (!order.equals("little")) throw bad(path, "tensors are stored " + order + "-endian; only little-endian is supported");
        }
        ZipArchive.Entry pklEntry = zip.entry(archive + "/data.pkl");
        if (pklEntry.size() > MAX_PICKLE) throw bad(path, "data.pkl is " + pklEntry.size() + " bytes, more than a state dict needs");
        zip.verifyCrc(pklEntry);
        MemorySegment pkl = zip.data(pklEntry);

        String where = archive + "/data.pkl of " + path;
        String dataDir = archive + "/data/";
        Map<String, Storage> storages = new HashMap<>();
        Unpickler.Globals globals = (module, name) -> resolveGlobal(where, module, name);
        Unpickler.Persistent persistent = pid -> {
            if (!(pid instanceof Unpickler.Tuple t) || t.size() != 5 || !"storage".equals(t.get(0))
                    || !(t.get(1) instanceof StorageType type) || !(t.get(2) instanceof String key)
                    || !(t.get(3) instanceof String) || !(t.get(4) instanceof Long numel))
                throw new IOException("unsupported persistent id (expected ('storage', type, key, location, numel)) in " + where);
            Storage s = storages.get(key);
            if (s != null) {
                if (s.dtype != type.dtype() || s.numel != numel)
                    throw new IOException("storage " + Msg.plain(key) + " is declared twice with different types or sizes in " + where);
                return s;
            }
            ZipArchive.Entry e = zip.entry(dataDir + key);
            if (e == null) throw new IOException("storage " + Msg.plain(key) + " has no entry " + Msg.plain(dataDir + key) + " in " + path);
            long need;
            try {
                need = Math.multiplyExact(numel, (long) type.dtype().bytes);
            } catch (ArithmeticException ex) {
                need = -1;
            }
            if (numel < 0 || need < 0 || need > e.size())
                throw new IOException("storage " + Msg.plain(key) + " declares " + numel + " " + type.dtype() + " elements but its entry holds "
                        + e.size() + " bytes in " + path);
            s = new Storage(key, type.dtype(), numel, e);
            storages.put(key, s);
            return s;
        };
        Object root = Unpickler.load(where, pkl, globals, persistent);

        if (!(root instanceof Map<?, ?> dict))
            throw new IOException("data.pkl of " + path + " holds a " + Unpickler.describe(root) + ", not a state dict");
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : dict.entrySet()) {
            if (!(e.getKey() instanceof String name))
                throw new IOException("state dict key of type " + Unpickler.describe(e.getKey()) + " (not str) in " + where);
            if (!(e.getValue() instanceof Tensor t))
                throw new IOException("state dict entry " + Msg.q(name) + " is a " + Unpickler.describe(e.getValue()) + ", not a tensor, in " + where);
            tensors.put(name, new Tensor(name, t.dtype, t.shape, t.stride, t.offset, t.storageKey));
        }
        return new PytorchCheckpoint(path, arena, zip, archive, Collections.unmodifiableMap(tensors), Map.copyOf(storages));
    }

    /** The allow-list: what GLOBAL may name. Each answer is our own object; nothing is looked up by name. */
    private static Object resolveGlobal(String where, String module, String name) throws IOException {
        switch (module + "." + name) {
            case "collections.OrderedDict" -> {
                return (Unpickler.Callable) args -> {
                    if (args.size() != 0) throw new IOException("OrderedDict with arguments is not supported in " + where);
                    return new LinkedHashMap<>();
                };
            }
            case "torch._utils._rebuild_tensor_v2" -> {
                return (Unpickler.Callable) args -> rebuildTensor(where, args);
            }
            case "torch._utils._rebuild_parameter" -> {  // (data, requires_grad, backward_hooks): the tensor itself
                return (Unpickler.Callable) args -> {
                    if (args.size() != 3 || !(args.get(0) instanceof Tensor t))
                        throw new IOException("_rebuild_parameter needs (tensor, requires_grad, hooks) in " + where);
                    return t;
                };
            }
            case "torch._utils._rebuild_parameter_with_state" -> {  // (data, requires_grad, hooks, state): state must be empty
                return (Unpickler.Callable) args -> {
                    if (args.size() != 4 || !(args.get(0) instanceof Tensor t)
                            || !(args.get(3) == null || args.get(3) instanceof Map<?, ?> m && m.isEmpty()))
                        throw new IOException("_rebuild_parameter_with_state needs (tensor, requires_grad, hooks, empty state) in " + where);
                    return t;
                };
            }
            default -> {
                if (module.equals("torch") && STORAGE_TYPES.containsKey(name)) return new StorageType(name, STORAGE_TYPES.get(name));
                throw new IOException("disallowed global " + Msg.plain(module + "." + name) + " in " + where
                        + " (only OrderedDict, torch tensors and storages may appear in a checkpoint)");
            }
        }
    }

    /** _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks[, metadata]), validated. */
    private static Tensor rebuildTensor(String where, Unpickler.Tuple a) throws IOException {
        if (a.size() < 6 || a.size() > 7 || !(a.get(0) instanceof Storage s) || !(a.get(1) instanceof Long offset)
                || !(a.get(2) instanceof Unpickler.Tuple size) || !(a.get(3) instanceof Unpickler.Tuple stride))
            throw new IOException("_rebuild_tensor_v2 needs (storage, offset, size, stride, ...) in " + where);
        int nd = size.size();
        if (nd > 64) throw new IOException("tensor on storage " + Msg.plain(s.key) + " has " + nd + " dimensions in " + where);
        if (stride.size() != nd) throw new IOException("tensor on storage " + Msg.plain(s.key) + " has " + nd + " sizes but " + stride.size() + " strides in " + where);
        long[] shape = new long[nd], st = new long[nd];
        for (int i = 0; i < nd; i++) {
            if (!(size.get(i) instanceof Long d) || d < 0 || !(stride.get(i) instanceof Long k) || k < 0)
                throw new IOException("tensor on storage " + Msg.plain(s.key) + " has a size or stride that is not a non-negative integer in " + where);
            shape[i] = d;
            st[i] = k;
        }
        String view = "tensor view (offset " + offset + ", size " + Arrays.toString(shape) + ", stride " + Arrays.toString(st) + ")";
        if (offset < 0) throw new IOException(view + " has a negative offset in " + where);
        try {
            long numel = 1, last = offset;
            for (int i = 0; i < nd; i++) numel = Math.multiplyExact(numel, shape[i]);
            if (numel > 0) {
                for (int i = 0; i < nd; i++) last = Math.addExact(last, Math.multiplyExact(shape[i] - 1, st[i]));
                if (last >= s.numel)
                    throw new IOException(view + " reaches element " + last + " of storage " + Msg.plain(s.key) + " which has only " + s.numel + " elements, in " + where);
            }
            // a view can only exceed its storage by repeating elements (zero strides): refuse that rather than allocate it
            if (numel > Math.max(s.numel, 1))
                throw new IOException(view + " has " + numel + " elements, more than its storage " + Msg.plain(s.key) + " (" + s.numel + "), in " + where);
        } catch (ArithmeticException e) {
            throw new IOException(view + " is absurdly large (overflows 64 bits) in " + where);
        }
        return new Tensor(null, s.dtype, shape, st, offset, s.key);
    }

    @Override
    public Path path() {
        return path;
    }

    @Override
    public String format() {
        return "pytorch";
    }

    /** The zip folder name the checkpoint was saved under. */
    public String archiveName() {
        return archive;
    }

    @Override
    public List<String> names() {
        return List.copyOf(tensors.keySet());
    }

    @Override
    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    @Override
    public Tensor info(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new IllegalArgumentException("no tensor " + Msg.q(name) + " in " + path);
        return t;
    }

    /** The storage's bytes, CRC-checked the first time. */
    private MemorySegment storage(Tensor t) throws IOException {
        Storage s = storages.get(t.storageKey);
        if (!verified.contains(s.key)) {
            zip.verifyCrc(s.entry);
            verified.add(s.key);
        }
        return zip.data(s.entry);
    }

    @Override
    public MemorySegment raw(String name) throws IOException {
        Tensor t = info(name);
        if (!t.contiguous()) return null;
        long bytes = t.numel() * t.dtype.bytes;
        return storage(t).asSlice(t.offset * t.dtype.bytes, bytes);
    }

    @Override
    public float[] floats(String name) throws IOException {
        Tensor t = info(name);
        TensorData.requireFloat(name, t.dtype);
        TensorData.arrayLength(name, t.numel());
        return TensorData.gather(name, t.dtype, storage(t), t.offset, t.shape, t.stride);
    }

    /** Checks the CRC-32 of every storage now (otherwise each is checked when first read). */
    public void verifyAll() throws IOException {
        for (Storage s : storages.values()) {
            if (!verified.contains(s.key)) {
                zip.verifyCrc(s.entry);
                verified.add(s.key);
            }
        }
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) arena.close();
    }
}
