package org.cottention.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Issue 5 §6: broken and hostile checkpoints. Each must fail with one clear line in an IOException, before anything
 * in the file is executed and without allocating what the file claims.
 */
class HostileCheckpointTest {
    @TempDir
    Path dir;

    // ---- helpers -------------------------------------------------------------------------------------------------

    /** A zip like torch's with the given data.pkl and blobs archive/data/<key>. */
    private Path ckpt(byte[] pkl, Map<String, byte[]> blobs) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        var z = new PytorchCheckpointWriter.ZipOut(out);
        z.entry("archive/data.pkl", pkl);
        for (var e : blobs.entrySet()) z.entry("archive/data/" + e.getKey(), e.getValue());
        z.finish();
        return file(out.toByteArray());
    }

    private Path file(byte[] bytes) throws IOException {
        Path p = Files.createTempFile(dir, "c", ".bin");
        Files.write(p, bytes);
        return p;
    }

    private static byte[] floats(int n) {
        return new byte[4 * n];
    }

    /** A state dict {name: _rebuild_tensor_v2(storage(key, numel), offset, size, stride, False, OrderedDict())}. */
    private static byte[] statePickle(String name, String key, long numel, long offset, long[] size, long[] stride) {
        return statePickle(name, "FloatStorage", key, numel, offset, size, stride);
    }

    static byte[] statePickle(String name, String storageType, String key, long numel, long offset, long[] size, long[] stride) {
        var p = new PytorchCheckpointWriter.Pickle().proto(2);
        p.global("collections", "OrderedDict").op(')').op('R').op('(');
        p.unicode(name).global("torch._utils", "_rebuild_tensor_v2").op('(');
        p.op('(').unicode("storage").global("torch", storageType).unicode(key).unicode("cpu").integer(numel).op('t').op('Q');
        p.integer(offset).tuple(size).tuple(stride).op(0x89).global("collections", "OrderedDict").op(')').op('R').op('t').op('R');
        return p.op('u').op('.').bytes();
    }

    private IOException refused(Path p) {
        IOException e = assertThrows(IOException.class, () -> {
            try (TensorSource s = Checkpoint.open(p)) {
                for (String n : s.names()) if (s.info(n).dtype().isFloat()) s.floats(n);
            }
        });
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        return e;
    }

    private void assertRefused(Path p, String expected) {
        String m = refused(p).getMessage();
        assertTrue(m.contains(expected), "expected \"" + expected + "\" in: " + m);
    }

    private byte[] valid() throws IOException {
        Path p = dir.resolve("valid.bin");
        PytorchCheckpointWriter.write(p, List.of(
                new SafeTensors.Entry("a.weight", DType.F32, new long[]{4, 8}, PytorchCheckpointTest.ramp(32)),
                new SafeTensors.Entry("a.bias", DType.BF16, new long[]{8}, PytorchCheckpointTest.ramp(8))));
        return Files.readAllBytes(p);
    }

    // ---- payloads --------------------------------------------------------------------------------------------------

    @Test
    void refusesOsSystemBeforeRunningIt() throws IOException {
        Path marker = dir.resolve("pwned");
        byte[] pkl = new PytorchCheckpointWriter.Pickle().proto(2).global("os", "system")
                .unicode("touch " + marker).op(0x85).op('R').op('.').bytes();
        assertRefused(ckpt(pkl, Map.of()), "disallowed global os.system in archive/data.pkl");
        assertFalse(Files.exists(marker));
    }

    @Test
    void refusesBuiltinsEvalAndFriends() throws IOException {
        for (String[] g : new String[][]{{"builtins", "eval"}, {"__builtin__", "eval"}, {"builtins", "getattr"},
                {"subprocess", "Popen"}, {"torch", "load"}, {"torch._utils", "_rebuild_qtensor"}, {"collections", "defaultdict"}}) {
            byte[] pkl = new PytorchCheckpointWriter.Pickle().proto(2).global(g[0], g[1])
                    .unicode("__import__('os').system('true')").op(0x85).op('R').op('.').bytes();
            assertRefused(ckpt(pkl, Map.of()), "disallowed global " + g[0] + "." + g[1]);
        }
    }

    @Test
    void refusesStackGlobalAndPayloadsHiddenAfterValidTensors() throws IOException {
        byte[] stackGlobal = new PytorchCheckpointWriter.Pickle().proto(4).unicode("posix").unicode("system").op(0x93)
                .unicode("true").op(0x85).op('R').op('.').bytes();
        assertRefused(ckpt(stackGlobal, Map.of()), "disallowed global posix.system");
        // a valid state dict whose last value is a call to os.system
        var p = new PytorchCheckpointWriter.Pickle().proto(2).global("collections", "OrderedDict").op(')').op('R').op('(');
        p.unicode("ok").global("torch._utils", "_rebuild_tensor_v2").op('(').op('(').unicode("storage")
                .global("torch", "FloatStorage").unicode("0").unicode("cpu").integer(2).op('t').op('Q')
                .integer(0).tuple(new long[]{2}).tuple(new long[]{1}).op(0x89).op('N').op('t').op('R');
        p.unicode("evil").global("os", "system").unicode("true").op(0x85).op('R');
        p.op('u').op('.');
        assertRefused(ckpt(p.bytes(), Map.of("0", floats(2))), "disallowed global os.system");
    }

    @Test
    void reduceOnlyAppliesAllowListedCallables() throws IOException {
        // calling a storage type (allowed as a name, not as a function) and calling a string
        byte[] a = new PytorchCheckpointWriter.Pickle().proto(2).global("torch", "FloatStorage").op(')').op('R').op('.').bytes();
        assertRefused(ckpt(a, Map.of()), "REDUCE applies a StorageType, which is not an allowed callable");
        byte[] b = new PytorchCheckpointWriter.Pickle().proto(2).unicode("os.system").op(')').op('R').op('.').bytes();
        assertRefused(ckpt(b, Map.of()), "REDUCE applies a str");
        byte[] inst = new PytorchCheckpointWriter.Pickle().proto(2).op('(').raw("ios\nsystem\n".getBytes(StandardCharsets.US_ASCII)).op('.').bytes();
        assertRefused(ckpt(inst, Map.of()), "unsupported pickle opcode 0x69");
        byte[] newobj = new PytorchCheckpointWriter.Pickle().proto(2).global("collections", "OrderedDict").op(')').op(0x81).op('.').bytes();
        assertRefused(ckpt(newobj, Map.of()), "unsupported pickle opcode 0x81");
    }

    // ---- pickle bombs ----------------------------------------------------------------------------------------------

    @Test
    void pickleBombsAreBounded() throws IOException {
        var deep = new PytorchCheckpointWriter.Pickle().proto(2);
        for (int i = 0; i < 5000; i++) deep.op('(');
        assertRefused(ckpt(deep.op('.').bytes(), Map.of()), "nests deeper than 1000");

        byte[] hugeMemo = new PytorchCheckpointWriter.Pickle().proto(2).op('j').u32(0xfffffff0L).op('.').bytes();
        assertRefused(ckpt(hugeMemo, Map.of()), "memo entry 4294967280 that was never stored");

        var manyMemo = new PytorchCheckpointWriter.Pickle().proto(2).op('N');
        for (long i = 0; i <= Unpickler.MAX_MEMO; i++) manyMemo.op('r').u32(i);
        assertRefused(ckpt(manyMemo.op('.').bytes(), Map.of()), "memo larger than");

        var tall = new PytorchCheckpointWriter.Pickle().proto(2);
        for (int i = 0; i <= Unpickler.MAX_STACK; i++) tall.op('N');
        assertRefused(ckpt(tall.op('.').bytes(), Map.of()), "stack deeper than");

        var wide = new PytorchCheckpointWriter.Pickle().proto(2).op(']');
        for (int i = 0; i <= Unpickler.MAX_VALUES; i++) wide.op('N').op('a');  // a list of millions of values
        assertRefused(ckpt(wide.op('.').bytes(), Map.of()), "pickle builds more than");

        // string lengths are checked against the bytes present before anything is allocated
        byte[] longStr = new PytorchCheckpointWriter.Pickle().proto(2).op('X').u32(0x7fffffffL).raw(new byte[10]).bytes();
        assertRefused(ckpt(longStr, Map.of()), "pickle truncated");
        byte[] longStr8 = new PytorchCheckpointWriter.Pickle().proto(4).op(0x8d).raw(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(Long.MAX_VALUE).array()).op('.').bytes();
        assertRefused(ckpt(longStr8, Map.of()), "pickle truncated");
        byte[] bigInt = new PytorchCheckpointWriter.Pickle().proto(2).op(0x8a).op(200).raw(new byte[200]).op('.').bytes();
        assertRefused(ckpt(bigInt, Map.of()), "integer of 200 bytes is too large");
        // a list containing itself is fine to hold (no expansion) but it is not a state dict
        byte[] self = new PytorchCheckpointWriter.Pickle().proto(2).op(']').op('q').op(0).op('h').op(0).op('a').op('.').bytes();
        assertRefused(ckpt(self, Map.of()), "holds a list, not a state dict");
        var deepKey = new PytorchCheckpointWriter.Pickle().proto(2).op('}').op('N');
        for (int i = 0; i < 200_000; i++) deepKey.op(0x85);  // ((((None,),),),...) as a dict key: hashing it would recurse
        assertRefused(ckpt(deepKey.op('N').op('s').op('.').bytes(), Map.of()), "dict key or set item of type tuple is not supported");
        byte[] noStop = new PytorchCheckpointWriter.Pickle().proto(2).op('}').bytes();
        assertRefused(ckpt(noStop, Map.of()), "pickle truncated");
        byte[] underflow = new PytorchCheckpointWriter.Pickle().proto(2).op('s').op('.').bytes();
        assertRefused(ckpt(underflow, Map.of()), "stack underflow");
    }

    @Test
    void stateDictMustHoldOnlyTensors() throws IOException {
        byte[] notTensor = new PytorchCheckpointWriter.Pickle().proto(2).op('}').unicode("step").integer(5).op('s').op('.').bytes();
        assertRefused(ckpt(notTensor, Map.of()), "state dict entry \"step\" is a int, not a tensor");
    }

    // ---- storages --------------------------------------------------------------------------------------------------

    @Test
    void storageOffsetsAndSizesOutOfBounds() throws IOException {
        byte[] ok = statePickle("w", "0", 24, 12, new long[]{3, 4}, new long[]{4, 1});
        try (TensorSource s = Checkpoint.open(ckpt(ok, Map.of("0", floats(24))))) {
            assertEquals(12, s.floats("w").length);
        }
        assertRefused(ckpt(statePickle("w", "0", 24, 13, new long[]{3, 4}, new long[]{4, 1}), Map.of("0", floats(24))),
                "reaches element 24 of storage 0 which has only 24 elements");
        // the last element of a [5, 4] view with strides [5, 1] is 4*5 + 3 = 23: just fits
        try (TensorSource s = Checkpoint.open(ckpt(statePickle("w", "0", 24, 0, new long[]{5, 4}, new long[]{5, 1}), Map.of("0", floats(24))))) {
            assertEquals(20, s.floats("w").length);
        }
    }

    @Test
    void storageOffsetsAndSizesOutOfBoundsMore() throws IOException {
        assertRefused(ckpt(statePickle("w", "0", 24, 0, new long[]{5, 5}, new long[]{5, 1}), Map.of("0", floats(24))),
                "reaches element 24");
        assertRefused(ckpt(statePickle("w", "0", 24, -1, new long[]{2}, new long[]{1}), Map.of("0", floats(24))), "negative offset");
        assertRefused(ckpt(statePickle("w", "0", 24, 0, new long[]{2}, new long[]{-1}), Map.of("0", floats(24))), "size or stride that is not a non-negative integer");
        // the persistent id claims more elements than the blob holds
        assertRefused(ckpt(statePickle("w", "0", 1000, 0, new long[]{10}, new long[]{1}), Map.of("0", floats(24))),
                "storage 0 declares 1000 F32 elements but its entry holds 96 bytes");
        assertRefused(ckpt(statePickle("w", "0", Long.MAX_VALUE / 2, 0, new long[]{10}, new long[]{1}), Map.of("0", floats(24))),
                "declares");
        assertRefused(ckpt(statePickle("w", "7", 24, 0, new long[]{10}, new long[]{1}), Map.of("0", floats(24))),
                "storage 7 has no entry archive/data/7");
    }

    @Test
    void absurdSizesAreRefusedWithoutAllocating() throws IOException {
        assertRefused(ckpt(statePickle("w", "0", 24, 0, new long[]{1L << 40, 1L << 40}, new long[]{0, 0}), Map.of("0", floats(24))),
                "is absurdly large");
        // zero strides would expand 24 floats into 2^31*24: refused, not allocated
        assertRefused(ckpt(statePickle("w", "0", 24, 0, new long[]{1L << 31, 24}, new long[]{0, 1}), Map.of("0", floats(24))),
                "more than its storage 0");
    }

    // ---- zip -------------------------------------------------------------------------------------------------------

    @Test
    void writerAlignsDataTo64Bytes() throws IOException {
        byte[] v = valid();
        var zip = ZipArchive.open("t", java.lang.foreign.MemorySegment.ofArray(v));
        for (var e : zip.entries().values()) assertEquals(0, e.dataOffset() % 64, e.name());
    }

    @Test
    void truncatedZipsAreRefusedAtEveryLength() throws IOException {
        byte[] v = valid();
        for (int len = 0; len < v.length; len += 7) refused(file(java.util.Arrays.copyOf(v, len)));
        assertRefused(file(java.util.Arrays.copyOf(v, v.length - 1)), "end of central directory not found");
    }

    @Test
    void badCrcsAreCaught() throws IOException {
        byte[] pkl = statePickle("w", "0", 4, 0, new long[]{4}, new long[]{1});
        // a wrong CRC on a tensor blob: opening works, reading the tensor fails
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        var z = new PytorchCheckpointWriter.ZipOut(out);
        z.entry("archive/data.pkl", pkl);
        z.entry("archive/data/0", floats(4), 0x12345678L);
        z.finish();
        Path p = file(out.toByteArray());
        try (TensorSource s = Checkpoint.open(p)) {
            IOException e = assertThrows(IOException.class, () -> s.floats("w"));
            assertTrue(e.getMessage().startsWith("CRC-32 mismatch in entry \"archive/data/0\""), e.getMessage());
            assertThrows(IOException.class, () -> s.raw("w"));
        }
        // a flipped byte in data.pkl: refused at open
        byte[] v = valid();
        int at = indexOf(v, "a.weight".getBytes(StandardCharsets.US_ASCII));
        v[at] ^= 1;
        assertRefused(file(v), "CRC-32 mismatch in entry \"valid/data.pkl\"");
    }

    @Test
    void randomByteFlipsNeverEscapeAsAnythingButIOException() throws IOException {
        byte[] v = valid();
        Random r = new Random(5);
        for (int t = 0; t < 300; t++) {
            byte[] b = v.clone();
            int flips = 1 + r.nextInt(3);
            for (int f = 0; f < flips; f++) b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
            Path p = file(b);
            try (TensorSource s = Checkpoint.open(p)) {
                for (String n : s.names()) s.floats(n);  // flips in padding or unused header fields are harmless
            } catch (IOException e) {
                assertFalse(e.getMessage().contains("\n"), e.getMessage());
            }
            Files.delete(p);
        }
    }

    @Test
    void mutatedPicklesWithValidCrcsNeverEscapeAsAnythingButIOException() throws IOException {
        // the CRC catches random damage, so to exercise the unpickler itself re-zip each mutant with a correct CRC
        var w = new PytorchCheckpointWriter("archive");
        String k = w.storage(DType.F32, PytorchCheckpointTest.ramp(40));
        w.tensor("a", k, 0, new long[]{4, 10}, new long[]{10, 1});
        w.tensor("a.T", k, 0, new long[]{10, 4}, new long[]{1, 10});
        w.tensor("b", DType.BF16, new long[]{3}, new float[]{1, 2, 3});
        byte[] pkl = w.pickle();
        Map<String, byte[]> blobs = new LinkedHashMap<>();
        blobs.put("0", new byte[160]);
        blobs.put("1", new byte[6]);
        Random r = new Random(11);
        for (int t = 0; t < 400; t++) {
            byte[] m = pkl.clone();
            switch (r.nextInt(3)) {
                case 0 -> m[r.nextInt(m.length)] = (byte) r.nextInt(256);
                case 1 -> m[r.nextInt(m.length)] ^= (byte) (1 << r.nextInt(8));
                default -> m = java.util.Arrays.copyOf(m, r.nextInt(m.length));
            }
            Path p = ckpt(m, blobs);
            try (TensorSource s = Checkpoint.open(p)) {
                for (String n : s.names()) if (s.info(n).dtype().isFloat()) s.floats(n);
            } catch (IOException e) {
                assertFalse(e.getMessage().contains("\n"), e.getMessage());
            }
            Files.delete(p);
        }
    }

    @Test
    void readsZip64FieldsAndIntegerStoragesAndParameters() throws IOException {
        // every entry with ZIP64 extras (what a >4 GiB checkpoint has), an int64 buffer, a tensor wrapped in a Parameter
        var p = new PytorchCheckpointWriter.Pickle().proto(2).global("collections", "OrderedDict").op(')').op('R').op('(');
        p.unicode("position_ids").global("torch._utils", "_rebuild_tensor_v2").op('(').op('(').unicode("storage")
                .global("torch", "LongStorage").unicode("0").unicode("cpu").integer(4).op('t').op('Q')
                .integer(0).tuple(new long[]{1, 4}).tuple(new long[]{4, 1}).op(0x89).op('N').op('t').op('R');
        p.unicode("w").global("torch._utils", "_rebuild_parameter").op('(')
                .global("torch._utils", "_rebuild_tensor_v2").op('(').op('(').unicode("storage")
                .global("torch", "HalfStorage").unicode("1").unicode("cpu").integer(3).op('t').op('Q')
                .integer(1).tuple(new long[]{2}).tuple(new long[]{1}).op(0x89).op('N').op('t').op('R')
                .op(0x88).op('N').op('t').op('R');
        p.op('u').op('.');
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        var z = new PytorchCheckpointWriter.ZipOut(out, true);
        z.entry("model/data.pkl", p.bytes());
        z.entry("model/data/0", ByteBuffer.allocate(32).order(ByteOrder.LITTLE_ENDIAN).putLong(0).putLong(1).putLong(2).putLong(3).array());
        z.entry("model/data/1", ByteBuffer.allocate(6).order(ByteOrder.LITTLE_ENDIAN).putShort(Float.floatToFloat16(1f))
                .putShort(Float.floatToFloat16(-2f)).putShort(Float.floatToFloat16(0.5f)).array());
        z.finish();
        try (PytorchCheckpoint c = PytorchCheckpoint.open(file(out.toByteArray()))) {
            assertEquals("model", c.archiveName());
            assertEquals(DType.I64, c.info("position_ids").dtype());
            assertEquals(3L, c.raw("position_ids").get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 24));
            assertThrows(IllegalArgumentException.class, () -> c.floats("position_ids"));
            assertEquals(DType.F16, c.info("w").dtype());
            assertArrayEquals(new float[]{-2f, 0.5f}, c.floats("w"));
            assertTrue(c.raw("w").isReadOnly());
        }
    }

    @Test
    void compressedEntriesAreRefusedClearly() throws IOException {
        byte[] v = valid();
        v[8] = 8;  // method of the first local header (data.pkl)
        v[indexOf(v, new byte[]{'P', 'K', 1, 2}) + 10] = 8;  // and of its central directory entry
        assertRefused(file(v), "is compressed (method 8); only stored (uncompressed) entries are supported");
    }

    @Test
    void localHeaderMustAgreeWithCentralDirectory() throws IOException {
        byte[] v = valid();
        v[30] = 'X';  // first letter of the first local name
        assertRefused(file(v), "disagrees with the central directory");
    }

    @Test
    void legacyAndForeignFormatsAreRefused() throws IOException {
        byte[] legacy = {(byte) 0x80, 2, (byte) 0x8a, 10, 0x6c, (byte) 0xfc, (byte) 0x9c, 0x46, (byte) 0xf9, 0x20, 0x6a, (byte) 0xa8, 0x50, 0x19, 0x2e};
        assertRefused(file(legacy), "legacy (pre-1.6, non-zip) torch.save format");
        IOException e = assertThrows(IOException.class, () -> PytorchCheckpoint.open(file("hello world, not a zip".getBytes(StandardCharsets.US_ASCII))));
        assertTrue(e.getMessage().contains("not a zip archive"), e.getMessage());
        assertRefused(file(new byte[0]), "file is 0 bytes");
        // a zip without data.pkl
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        var z = new PytorchCheckpointWriter.ZipOut(out);
        z.entry("readme.txt", "hi".getBytes(StandardCharsets.US_ASCII));
        z.finish();
        assertRefused(file(out.toByteArray()), "no <archive>/data.pkl entry");
    }

    // ---- safetensors -----------------------------------------------------------------------------------------------

    private Path safetensors(String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return file(ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).put(h).array());
    }

    private void assertSafetensorsRefused(String header, int dataBytes, String expected) throws IOException {
        Path p = safetensors(header, dataBytes);
        IOException e = assertThrows(IOException.class, () -> SafeTensors.open(p));
        assertTrue(e.getMessage().contains(expected), "expected \"" + expected + "\" in: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void hostileSafetensorsHeaders() throws IOException {
        Path huge = file(ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(Long.MAX_VALUE).array());
        assertTrue(assertThrows(IOException.class, () -> SafeTensors.open(huge)).getMessage().contains("header length"));
        assertSafetensorsRefused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "end before they begin");
        assertSafetensorsRefused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                12, "overlap");
        assertSafetensorsRefused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "unused gap of 4 bytes");
        assertSafetensorsRefused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "trailing bytes");
        assertSafetensorsRefused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                8, "Duplicate field 'a'");
        assertSafetensorsRefused("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "unknown dtype \"F8_E4M3\"");
        assertSafetensorsRefused("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
                "absurdly large");
        assertSafetensorsRefused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "bad dimension");
        assertSafetensorsRefused("[1,2]", 0, "not a JSON object");
        // unordered in the header but tiling the data exactly is valid
        Path ok = safetensors("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8);
        try (SafeTensors s = SafeTensors.open(ok)) {
            assertEquals(List.of("b", "a"), s.names());
        }
    }

    @Test
    void hostileShardIndexes() throws IOException {
        Path idx = dir.resolve("model.safetensors.index.json");
        Files.writeString(idx, "{\"weight_map\": {\"a\": \"../../etc/passwd\"}}");
        IOException e = assertThrows(IOException.class, () -> Checkpoint.open(dir));
        assertTrue(e.getMessage().contains("not a plain file name"), e.getMessage());
        Files.writeString(idx, "{\"weight_map\": {\"a\": \"missing.safetensors\"}}");
        e = assertThrows(IOException.class, () -> Checkpoint.open(dir));
        assertTrue(e.getMessage().contains("shard missing.safetensors is missing"), e.getMessage());
        SafeTensors.write(dir.resolve("s1.safetensors"), List.of(new SafeTensors.Entry("a", DType.F32, new long[]{1}, new float[]{1}),
                new SafeTensors.Entry("z", DType.F32, new long[]{1}, new float[]{1})), Map.of());
        Files.writeString(idx, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"b\": \"s1.safetensors\"}}");
        e = assertThrows(IOException.class, () -> Checkpoint.open(dir));
        assertTrue(e.getMessage().contains("holds tensor \"z\", which the index does not list"), e.getMessage());
        Files.writeString(idx, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"z\": \"s1.safetensors\", \"b\": \"s1.safetensors\"}}");
        e = assertThrows(IOException.class, () -> Checkpoint.open(dir));
        assertTrue(e.getMessage().contains("tensor \"b\" is not in its shard s1.safetensors"), e.getMessage());
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        throw new AssertionError("not found");
    }
}
