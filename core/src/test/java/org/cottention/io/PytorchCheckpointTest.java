package org.cottention.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class PytorchCheckpointTest {
    static float[] ramp(int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) Math.sin(i * 0.37) * (i + 1);
        return x;
    }

    static void assertBitsEqual(float[] a, float[] b, String what) {
        assertEquals(a.length, b.length, what);
        for (int i = 0; i < a.length; i++)
            assertEquals(Float.floatToRawIntBits(a[i]), Float.floatToRawIntBits(b[i]), what + "[" + i + "]");
    }

    @Test
    void roundTripsEveryFloatDtypeLikeSafetensors(@TempDir Path dir) throws IOException {
        float[] x = ramp(24);
        double[] d = {1.0 / 3, -2.5, 1e-300, 7};
        List<SafeTensors.Entry> entries = List.of(
                new SafeTensors.Entry("f32", DType.F32, new long[]{2, 3, 4}, x),
                new SafeTensors.Entry("f16", DType.F16, new long[]{24}, x),
                new SafeTensors.Entry("bf16", DType.BF16, new long[]{4, 6}, x),
                new SafeTensors.Entry("f64", DType.F64, new long[]{2, 2}, d),
                new SafeTensors.Entry("scalar", DType.F32, new long[]{}, new float[]{42f}),
                new SafeTensors.Entry("empty", DType.F32, new long[]{0, 5}, new float[0]));
        Path bin = dir.resolve("pytorch_model.bin"), st = dir.resolve("model.safetensors");
        PytorchCheckpointWriter.write(bin, entries);
        SafeTensors.write(st, entries, Map.of());
        try (TensorSource p = Checkpoint.open(bin); TensorSource s = Checkpoint.open(st)) {
            assertEquals(s.names(), p.names());
            for (String n : s.names()) {
                assertEquals(s.info(n).dtype(), p.info(n).dtype(), n);
                assertArrayEquals(s.info(n).shape(), p.info(n).shape(), n);
                assertEquals(-1, s.raw(n).mismatch(p.raw(n)), n);
                assertBitsEqual(s.floats(n), p.floats(n), n);
            }
            assertBitsEqual(x, p.floats("f32"), "f32");
            assertEquals(42f, p.floats("scalar")[0]);
            assertEquals(0, p.floats("empty").length);
            assertEquals(x[5], p.floats("f16")[5], Math.abs(x[5]) / 1024);
            assertEquals((float) (1.0 / 3), p.floats("f64")[0]);
        }
    }

    @Test
    void gathersStridedViewsOfSharedStorages(@TempDir Path dir) throws IOException {
        float[] s = ramp(30);
        var w = new PytorchCheckpointWriter("archive");
        String key = w.storage(DType.F32, s);
        w.tensor("whole", key, 0, new long[]{5, 6}, new long[]{6, 1});
        w.tensor("transposed", key, 0, new long[]{6, 5}, new long[]{1, 6});      // whole.T
        w.tensor("rows", key, 12, new long[]{2, 6}, new long[]{6, 1});           // rows 2..3, contiguous at an offset
        w.tensor("cols", key, 1, new long[]{5, 2}, new long[]{6, 2});            // whole[:, 1:5:2]
        w.tensor("padded", key, 0, new long[]{3, 1, 4}, new long[]{8, 999, 1});  // size-1 dim: its stride is irrelevant
        Path p = dir.resolve("x.pt");
        w.write(p);
        try (PytorchCheckpoint c = PytorchCheckpoint.open(p)) {
            assertEquals("archive", c.archiveName());
            assertBitsEqual(s, c.floats("whole"), "whole");
            float[] t = c.floats("transposed");
            for (int i = 0; i < 6; i++) for (int j = 0; j < 5; j++) assertEquals(s[j * 6 + i], t[i * 5 + j]);
            assertNull(c.raw("transposed"), "a transposed view has no contiguous bytes");
            assertEquals(2 * 6 * 4, c.raw("rows").byteSize());
            assertEquals(s[12], c.floats("rows")[0]);
            assertEquals(s[12], c.raw("rows").get(TensorData.F32, 0));
            float[] cols = c.floats("cols");
            for (int i = 0; i < 5; i++) {
                assertEquals(s[i * 6 + 1], cols[i * 2]);
                assertEquals(s[i * 6 + 3], cols[i * 2 + 1]);
            }
            assertNull(c.raw("cols"));
            float[] padded = c.floats("padded");
            for (int i = 0; i < 3; i++) for (int k = 0; k < 4; k++) assertEquals(s[i * 8 + k], padded[i * 4 + k]);
            assertEquals(c.info("whole").storageKey(), c.info("cols").storageKey());
        }
    }

    @Test
    void readsShardedCheckpointsOfBothFormats(@TempDir Path dir) throws IOException {
        float[] a = ramp(6), b = ramp(8), c = ramp(3);
        SafeTensors.write(dir.resolve("model-00001-of-00002.safetensors"), List.of(
                new SafeTensors.Entry("a", DType.F32, new long[]{2, 3}, a), new SafeTensors.Entry("b", DType.BF16, new long[]{8}, b)), Map.of());
        SafeTensors.write(dir.resolve("model-00002-of-00002.safetensors"), List.of(
                new SafeTensors.Entry("c", DType.F32, new long[]{3}, c)), Map.of());
        Files.writeString(dir.resolve("model.safetensors.index.json"), """
                {"metadata": {"total_size": 52}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                 "c": "model-00002-of-00002.safetensors", "b": "model-00001-of-00002.safetensors"}}""");
        PytorchCheckpointWriter.write(dir.resolve("pytorch_model-00001-of-00002.bin"), List.of(
                new SafeTensors.Entry("a", DType.F32, new long[]{2, 3}, a), new SafeTensors.Entry("b", DType.BF16, new long[]{8}, b)));
        PytorchCheckpointWriter.write(dir.resolve("pytorch_model-00002-of-00002.bin"), List.of(
                new SafeTensors.Entry("c", DType.F32, new long[]{3}, c)));
        Files.writeString(dir.resolve("pytorch_model.bin.index.json"), """
                {"metadata": {}, "weight_map": {"a": "pytorch_model-00001-of-00002.bin",
                 "b": "pytorch_model-00001-of-00002.bin", "c": "pytorch_model-00002-of-00002.bin"}}""");
        try (TensorSource s = Checkpoint.open(dir); TensorSource p = Checkpoint.open(dir, Checkpoint.Format.PYTORCH)) {
            assertEquals("safetensors (sharded, 2 files)", s.format());
            assertEquals("pytorch (sharded, 2 files)", p.format());
            assertEquals(List.of("a", "c", "b"), s.names());
            for (String n : List.of("a", "b", "c")) {
                assertBitsEqual(s.floats(n), p.floats(n), n);
                assertEquals(-1, s.raw(n).mismatch(p.raw(n)), n);
            }
            assertBitsEqual(c, s.floats("c"), "c");
            assertEquals(DType.BF16, p.info("b").dtype());
        }
    }

    @Test
    void sniffsSafetensorsWhoseHeaderLengthLooksLikeAPickle(@TempDir Path dir) throws IOException {
        // a header padded to 0x280 bytes: the file then starts 0x80 0x02, like a protocol-2 pickle
        String json = "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        byte[] h = (json + " ".repeat(0x280 - json.length())).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        Path p = dir.resolve("weights");
        Files.write(p, java.nio.ByteBuffer.allocate(8 + h.length + 4).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .putLong(h.length).put(h).putFloat(3f).array());
        String name = "t";
        byte[] b = Files.readAllBytes(p);
        assertEquals(0x80, b[0] & 0xff);
        assertEquals(2, b[1]);
        try (TensorSource s = Checkpoint.open(p)) {
            assertEquals("safetensors", s.format());
            assertEquals(3f, s.floats(name)[0]);
        }
    }

    @Test
    void folderWithoutWeightsSaysWhatItLookedFor(@TempDir Path dir) {
        IOException e = assertThrows(IOException.class, () -> Checkpoint.open(dir, Checkpoint.Format.PYTORCH));
        assertTrue(e.getMessage().contains("pytorch_model.bin, pytorch_model.bin.index.json"), e.getMessage());
        assertEquals(Checkpoint.Format.PYTORCH, Checkpoint.Format.parse("PyTorch"));
        assertThrows(IllegalArgumentException.class, () -> Checkpoint.Format.parse("onnx"));
    }

    @Test
    void floatsWithExpectedShapeExplainsMismatches(@TempDir Path dir) throws IOException {
        Path p = dir.resolve("w.bin");
        PytorchCheckpointWriter.write(p, List.of(new SafeTensors.Entry("w", DType.F32, new long[]{2, 3}, ramp(6))));
        try (TensorSource s = Checkpoint.open(p)) {
            assertEquals(6, s.floats("w", 2, 3).length);
            IOException e = assertThrows(IOException.class, () -> s.floats("w", 3, 2));
            assertEquals("tensor \"w\" in " + p + " has shape [2, 3] but [3, 2] is expected", e.getMessage());
            e = assertThrows(IOException.class, () -> s.floats("v", 3));
            assertEquals("tensor \"v\" is missing from " + p, e.getMessage());
        }
    }

    @Test
    void checkFiniteNamesTheTensorAndIndex(@TempDir Path dir) throws IOException {
        float[] x = ramp(12);
        x[7] = Float.NaN;
        Path p = dir.resolve("w.bin");
        PytorchCheckpointWriter.write(p, List.of(new SafeTensors.Entry("ok", DType.F32, new long[]{2}, new float[]{1, 2}),
                new SafeTensors.Entry("layer.weight", DType.F32, new long[]{3, 4}, x)));
        try (TensorSource s = Checkpoint.open(p)) {
            IOException e = assertThrows(IOException.class, () -> Checkpoint.checkFinite(s));
            assertEquals("tensor \"layer.weight\" holds NaN at index 7 (element [1, 3] of shape [3, 4])", e.getMessage());
        }
    }
}
