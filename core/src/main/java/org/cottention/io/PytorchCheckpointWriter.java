package org.cottention.io;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * Writes a checkpoint the way {@code torch.save(state_dict, f)} does (torch >= 1.6): a zip of stored entries,
 * {@code <archive>/data.pkl} (protocol 2: an OrderedDict of {@code _rebuild_tensor_v2} calls whose storages are
 * persistent ids), {@code <archive>/data/<key>} blobs aligned to 64 bytes, {@code <archive>/version}.
 * For round-trip tests and for handing our models to PyTorch users. Tensors may share storages and be strided views.
 * <pre>
 *   var w = new PytorchCheckpointWriter("archive");
 *   String key = w.storage(DType.F32, data);                    // one blob
 *   w.tensor("a", key, 0, new long[]{2, 3}, new long[]{3, 1});   // a view of it
 *   w.tensor("b", DType.BF16, new long[]{4}, values);           // its own blob
 *   w.write(path);                                              // atomically
 * </pre>
 */
public final class PytorchCheckpointWriter {
    private record StorageData(String key, DType dtype, Object data, long numel) {}

    private record View(String name, String key, long offset, long[] shape, long[] stride) {}

    private final String archive;
    private final Map<String, StorageData> storages = new LinkedHashMap<>();
    private final List<View> views = new ArrayList<>();

    public PytorchCheckpointWriter(String archive) {
        if (archive.isEmpty() || archive.contains("/")) throw new IllegalArgumentException("archive name must be a plain name, got \"" + archive + "\"");
        this.archive = archive;
    }

    /** A new storage holding {@code data} (float[] or double[]) converted to {@code dtype}; returns its key. */
    public String storage(DType dtype, Object data) {
        long n = switch (data) {
            case float[] f -> f.length;
            case double[] d -> d.length;
            default -> throw new IllegalArgumentException("storage data must be float[] or double[]");
        };
        if (!dtype.isFloat()) throw new IllegalArgumentException("storage dtype must be a float type, got " + dtype);
        String key = Integer.toString(storages.size());
        storages.put(key, new StorageData(key, dtype, data, n));
        return key;
    }

    /** A tensor viewing storage {@code key} from element {@code offset} with the given shape and element strides. */
    public void tensor(String name, String key, long offset, long[] shape, long[] stride) {
        if (!storages.containsKey(key)) throw new IllegalArgumentException("no storage \"" + key + "\"");
        if (shape.length != stride.length) throw new IllegalArgumentException("tensor \"" + name + "\": shape and stride differ in rank");
        views.add(new View(name, key, offset, shape.clone(), stride.clone()));
    }

    /** A contiguous tensor with a storage of its own. */
    public void tensor(String name, DType dtype, long[] shape, Object data) {
        String key = storage(dtype, data);
        long numel = 1;
        for (long d : shape) numel *= d;
        if (numel != storages.get(key).numel)
            throw new IllegalArgumentException("tensor \"" + name + "\": shape has " + numel + " elements, data " + storages.get(key).numel);
        tensor(name, key, 0, shape, TensorData.rowMajorStrides(shape));
    }

    /** Writes {@code entries} (as SafeTensors.write takes them) to a PyTorch checkpoint, archive named after the file. */
    public static void write(Path path, List<SafeTensors.Entry> entries) throws IOException {
        String fn = path.getFileName().toString();
        int dot = fn.lastIndexOf('.');
        var w = new PytorchCheckpointWriter(dot > 0 ? fn.substring(0, dot) : "archive");
        for (SafeTensors.Entry e : entries) w.tensor(e.name(), e.dtype(), e.shape(), e.data());
        w.write(path);
    }

    /** The data.pkl bytes. */
    public byte[] pickle() {
        Pickle p = new Pickle();
        p.proto(2);
        p.global("collections", "OrderedDict");
        p.memoPut();                      // memo 0: OrderedDict, reused for every tensor's backward_hooks
        p.op(')').op('R');
        p.op('(');
        long rebuild = -1;
        Map<String, Long> storageTypes = new LinkedHashMap<>();
        for (View v : views) {
            StorageData s = storages.get(v.key);
            p.unicode(v.name);
            if (rebuild < 0) {
                p.global("torch._utils", "_rebuild_tensor_v2");
                rebuild = p.memoPut();
            } else p.memoGet(rebuild);
            p.op('(');
            p.op('(').unicode("storage");
            String type = switch (s.dtype) {
                case F32 -> "FloatStorage";
                case F64 -> "DoubleStorage";
                case F16 -> "HalfStorage";
                case BF16 -> "BFloat16Storage";
                default -> throw new IllegalStateException();
            };
            Long m = storageTypes.get(type);
            if (m == null) {
                p.global("torch", type);
                storageTypes.put(type, p.memoPut());
            } else p.memoGet(m);
            p.unicode(s.key).unicode("cpu").integer(s.numel).op('t');
            p.op('Q');
            p.integer(v.offset);
            p.tuple(v.shape);
            p.tuple(v.stride);
            p.op(0x89);                   // requires_grad False
            p.memoGet(0).op(')').op('R'); // backward_hooks = OrderedDict()
            p.op('t').op('R');
        }
        p.op('u');
        p.op('.');
        return p.bytes();
    }

    /** Writes the checkpoint atomically; storages are converted one at a time, so memory stays ~ the largest one. */
    public void write(Path path) throws IOException {
        byte[] pkl = pickle();
        AtomicFiles.write(path, out -> {
            ZipOut z = new ZipOut(out);
            z.entry(archive + "/data.pkl", pkl);
            for (StorageData s : storages.values()) z.entry(archive + "/data/" + s.key, encode(s));
            z.entry(archive + "/version", "3\n".getBytes(StandardCharsets.US_ASCII));
            z.finish();
        });
    }

    private static byte[] encode(StorageData s) {
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(s.numel * s.dtype.bytes)).order(ByteOrder.LITTLE_ENDIAN);
        for (int j = 0; j < s.numel; j++) {
            double x = s.data instanceof float[] f ? f[j] : ((double[]) s.data)[j];
            switch (s.dtype) {
                case F32 -> b.putFloat((float) x);
                case F64 -> b.putDouble(x);
                case F16 -> b.putShort(Float.floatToFloat16((float) x));
                case BF16 -> b.putShort(SafeTensors.toBf16((float) x));
                default -> throw new IllegalStateException();
            }
        }
        return b.array();
    }

    /** A protocol-2 pickle assembler (also used by tests to build hostile pickles). */
    static final class Pickle {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();
        private long memo;

        Pickle op(int opcode) {
            out.write(opcode);
            return this;
        }

        Pickle proto(int v) {
            return op(0x80).op(v);
        }

        Pickle raw(byte[] b) {
            out.writeBytes(b);
            return this;
        }

        Pickle u32(long v) {
            return raw(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v).array());
        }

        Pickle unicode(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            return op('X').u32(b.length).raw(b);
        }

        Pickle global(String module, String name) {
            return op('c').raw((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
        }

        Pickle integer(long v) {
            if (v >= 0 && v < 256) return op('K').op((int) v);
            if (v >= 0 && v < 65536) return op('M').op((int) v & 0xff).op((int) (v >>> 8));
            if (v == (int) v) return op('J').u32(v);
            return op(0x8a).op(8).raw(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
        }

        Pickle tuple(long[] xs) {
            if (xs.length == 0) return op(')');
            if (xs.length > 3) op('(');
            for (long x : xs) integer(x);
            return op(xs.length == 1 ? 0x85 : xs.length == 2 ? 0x86 : xs.length == 3 ? 0x87 : 't');
        }

        /** BINPUT / LONG_BINPUT of the top of stack at the next memo index; returns that index. */
        long memoPut() {
            long i = memo++;
            if (i < 256) op('q').op((int) i);
            else op('r').u32(i);
            return i;
        }

        Pickle memoGet(long i) {
            return i < 256 ? op('h').op((int) i) : op('j').u32(i);
        }

        byte[] bytes() {
            return out.toByteArray();
        }
    }

    /**
     * A zip writer for stored entries as torch writes them: each entry's data aligned to 64 bytes by padding the local
     * header's extra field, ZIP64 fields where sizes or offsets need them, and always a ZIP64 end record.
     */
    static final class ZipOut {
        private record Central(String name, long crc, long size, long offset) {}

        private final OutputStream out;
        private final boolean forceZip64;
        private long pos;
        private final List<Central> central = new ArrayList<>();

        ZipOut(OutputStream out) {
            this(out, false);
        }

        /** With {@code forceZip64}, every entry carries ZIP64 fields, as multi-GB checkpoints do (for tests). */
        ZipOut(OutputStream out, boolean forceZip64) {
            this.out = out;
            this.forceZip64 = forceZip64;
        }

        private void write(byte[] b) throws IOException {
            out.write(b);
            pos += b.length;
        }

        void entry(String name, byte[] data) throws IOException {
            CRC32 c = new CRC32();
            c.update(data);
            entry(name, data, c.getValue());
        }

        /** An entry with a given CRC (tests pass a wrong one). */
        void entry(String name, byte[] data, long crc) throws IOException {
            byte[] n = name.getBytes(StandardCharsets.UTF_8);
            boolean z64 = forceZip64 || data.length >= 0xffffffffL;
            int fixedExtra = 4 + (z64 ? 20 : 0);
            int pad = (int) ((64 - (pos + 30 + n.length + fixedExtra) % 64) % 64);
            ByteBuffer h = ByteBuffer.allocate(30 + n.length + fixedExtra + pad).order(ByteOrder.LITTLE_ENDIAN);
            h.putInt(ZipArchive.LOCAL_SIG).putShort((short) (z64 ? 45 : 20)).putShort((short) 0x800).putShort((short) 0)
                    .putShort((short) 0).putShort((short) 0x21)  // time 0, date 1980-01-01
                    .putInt((int) crc).putInt(z64 ? -1 : data.length).putInt(z64 ? -1 : data.length)
                    .putShort((short) n.length).putShort((short) (fixedExtra + pad)).put(n);
            if (z64) h.putShort((short) 1).putShort((short) 16).putLong(data.length).putLong(data.length);
            h.put((byte) 'F').put((byte) 'B').putShort((short) pad);
            for (int i = 0; i < pad; i++) h.put((byte) 'Z');
            central.add(new Central(name, crc, data.length, pos));
            write(h.array());
            write(data);
        }

        void finish() throws IOException {
            long cdStart = pos;
            for (Central e : central) {
                byte[] n = e.name.getBytes(StandardCharsets.UTF_8);
                boolean bigSize = forceZip64 || e.size >= 0xffffffffL, bigOff = forceZip64 || e.offset >= 0xffffffffL;
                int extra = bigSize || bigOff ? 4 + (bigSize ? 16 : 0) + (bigOff ? 8 : 0) : 0;
                ByteBuffer h = ByteBuffer.allocate(46 + n.length + extra).order(ByteOrder.LITTLE_ENDIAN);
                h.putInt(ZipArchive.CENTRAL_SIG).putShort((short) 45).putShort((short) (extra > 0 ? 45 : 20)).putShort((short) 0x800)
                        .putShort((short) 0).putShort((short) 0).putShort((short) 0x21).putInt((int) e.crc)
                        .putInt(bigSize ? -1 : (int) e.size).putInt(bigSize ? -1 : (int) e.size)
                        .putShort((short) n.length).putShort((short) extra).putShort((short) 0).putShort((short) 0)
                        .putShort((short) 0).putInt(0).putInt(bigOff ? -1 : (int) e.offset).put(n);
                if (extra > 0) {
                    h.putShort((short) 1).putShort((short) (extra - 4));
                    if (bigSize) h.putLong(e.size).putLong(e.size);
                    if (bigOff) h.putLong(e.offset);
                }
                write(h.array());
            }
            long cdSize = pos - cdStart, z64 = pos;
            ByteBuffer t = ByteBuffer.allocate(56 + 20 + 22).order(ByteOrder.LITTLE_ENDIAN);
            t.putInt(ZipArchive.ZIP64_EOCD_SIG).putLong(44).putShort((short) 45).putShort((short) 45).putInt(0).putInt(0)
                    .putLong(central.size()).putLong(central.size()).putLong(cdSize).putLong(cdStart);
            t.putInt(ZipArchive.ZIP64_LOCATOR_SIG).putInt(0).putLong(z64).putInt(1);
            int count = Math.min(central.size(), 0xffff);
            t.putInt(ZipArchive.EOCD_SIG).putShort((short) 0).putShort((short) 0).putShort((short) count).putShort((short) count)
                    .putInt(cdSize >= 0xffffffffL ? -1 : (int) cdSize).putInt(cdStart >= 0xffffffffL ? -1 : (int) cdStart).putShort((short) 0);
            write(t.array());
        }
    }
}
