package org.cottention.io;

import org.cottention.testutil.Shared;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** convert: pytorch_model.bin -> safetensors with identical tensors, bf16 rounding, sharding, atomicity. */
class CheckpointConverterTest {
    @TempDir
    Path tmp;

    static final CheckpointConverter.Options F32 = new CheckpointConverter.Options(DType.F32, Checkpoint.Format.PYTORCH, 4_000_000_000L);

    /** Every tensor of {@code want} is in {@code got} with the same name, shape and (after {@code round}) bits, and nothing else. */
    static void assertSameTensors(TensorSource want, TensorSource got, boolean roundToBf16) throws IOException {
        assertEquals(new HashSet<>(want.names()), new HashSet<>(got.names()));
        for (String n : want.names()) {
            assertArrayEquals(want.info(n).shape(), got.info(n).shape(), n);
            assertEquals(roundToBf16 ? DType.BF16 : want.info(n).dtype(), got.info(n).dtype(), n);
            float[] a = want.floats(n), b = got.floats(n);
            for (int i = 0; i < a.length; i++) {
                float expect = roundToBf16 ? Float.intBitsToFloat((SafeTensors.toBf16(a[i]) & 0xffff) << 16) : a[i];
                assertEquals(Float.floatToRawIntBits(expect), Float.floatToRawIntBits(b[i]), n + "[" + i + "]");
                if (roundToBf16) assertTrue(Math.abs(a[i] - b[i]) <= Math.abs(a[i]) * 0x1p-8f, n + "[" + i + "] within bf16 rounding");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gptj_small_s0", "gptj_tiny_grad_s2", "bert_mlm_s0"})
    void pytorchBinToSafetensorsGivesIdenticalTensors(String fixture) throws IOException {
        Path in = Shared.fixture(fixture), out = tmp.resolve("out");
        CheckpointConverter.Result r = CheckpointConverter.convert(in, out, F32);
        assertEquals(List.of("model.safetensors", "config.json"), r.files());
        // the fixture's own model.safetensors (written by HF) is the reference: same names, tied aliases dropped
        try (TensorSource ref = Checkpoint.open(in, Checkpoint.Format.SAFETENSORS);
             TensorSource got = Checkpoint.open(out, Checkpoint.Format.SAFETENSORS)) {
            assertSameTensors(ref, got, false);
            assertEquals("pt", ((SafeTensors) got).metadata().get("format"));
        }
        assertEquals(fixture.startsWith("bert") ? 2 : 0, r.dropped());
        var cfg = new com.fasterxml.jackson.databind.ObjectMapper().readTree(out.resolve("config.json").toFile());
        assertEquals("cosine", cfg.get("attention_type").asText());
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of(out), s.toList(), "no staging folder left behind");
        }
    }

    @Test
    void bf16ConversionRoundsToNearestEven() throws IOException {
        Path in = Shared.fixture("gptj_small_s0"), out = tmp.resolve("bf16");
        CheckpointConverter.convert(in, out, new CheckpointConverter.Options(DType.BF16, Checkpoint.Format.PYTORCH, 1L << 40));
        try (TensorSource ref = Checkpoint.open(in, Checkpoint.Format.SAFETENSORS);
             TensorSource got = Checkpoint.open(out)) {
            assertSameTensors(ref, got, true);
            assertEquals(Files.size(in.resolve("model.safetensors")) / 2, Files.size(out.resolve("model.safetensors")), 4096.0);
        }
        // bf16 -> bf16 copies the bytes verbatim
        Path again = tmp.resolve("bf16b");
        CheckpointConverter.convert(out, again, new CheckpointConverter.Options(DType.BF16, Checkpoint.Format.AUTO, 1L << 40));
        assertEquals(-1, Files.mismatch(out.resolve("model.safetensors"), again.resolve("model.safetensors")));
    }

    @Test
    void tinyShardLimitWritesAnIndexThatRoundTrips() throws IOException {
        Path in = Shared.fixture("gptj_tiny_grad_s2"), out = tmp.resolve("sharded");
        CheckpointConverter.Result r = CheckpointConverter.convert(in, out,
                new CheckpointConverter.Options(DType.F32, Checkpoint.Format.PYTORCH, 4096));
        assertTrue(r.files().size() > 3, r.files().toString());
        int n = r.files().size() - 2;  // shards, index, config
        assertEquals(String.format("model-00001-of-%05d.safetensors", n), r.files().get(0));
        assertTrue(r.files().contains("model.safetensors.index.json"));
        assertFalse(Files.exists(out.resolve("model.safetensors")));
        var index = new com.fasterxml.jackson.databind.ObjectMapper().readTree(out.resolve("model.safetensors.index.json").toFile());
        assertEquals(r.weightBytes(), index.get("metadata").get("total_size").asLong());
        try (TensorSource ref = Checkpoint.open(in, Checkpoint.Format.SAFETENSORS);
             TensorSource got = Checkpoint.open(out)) {
            assertTrue(got.format().startsWith("safetensors (sharded, " + n + " files)"), got.format());
            assertSameTensors(ref, got, false);
        }
        for (int i = 1; i <= n; i++) {  // a shard exceeds the limit only when it holds one tensor bigger than the limit
            try (SafeTensors s = SafeTensors.open(out.resolve(String.format("model-%05d-of-%05d.safetensors", i, n)))) {
                long bytes = s.names().stream().mapToLong(t -> s.info(t).end() - s.info(t).begin()).sum();
                assertTrue(bytes <= 4096 || s.names().size() == 1, "shard " + i + " holds " + bytes + " bytes");
            }
        }
    }

    @Test
    void tokenizerFilesAreCopiedAndAttentionTypeResolvedFromWeights() throws IOException {
        Path in = tmp.resolve("in");
        Files.createDirectories(in);
        Path fx = Shared.fixture("gptj_tiny_grad_s2");
        Files.copy(fx.resolve("pytorch_model.bin"), in.resolve("pytorch_model.bin"));
        var cfg = (com.fasterxml.jackson.databind.node.ObjectNode) new com.fasterxml.jackson.databind.ObjectMapper().readTree(fx.resolve("config.json").toFile());
        cfg.remove("attention_type");
        Files.writeString(in.resolve("config.json"), cfg.toString());
        Files.writeString(in.resolve("vocab.json"), "{\"a\": 0}");
        Files.writeString(in.resolve("merges.txt"), "#version: 0.2\n");
        Files.writeString(in.resolve("special_tokens_map.json"), "{}");
        Files.writeString(in.resolve("unrelated.txt"), "not copied");
        Path out = tmp.resolve("out");
        var r = CheckpointConverter.convert(in, out, F32);
        assertEquals(List.of("model.safetensors", "config.json", "vocab.json", "merges.txt", "special_tokens_map.json"), r.files());
        assertEquals("{\"a\": 0}", Files.readString(out.resolve("vocab.json")));
        assertFalse(Files.exists(out.resolve("unrelated.txt")));
        var written = new com.fasterxml.jackson.databind.ObjectMapper().readTree(out.resolve("config.json").toFile());
        assertEquals("cosine", written.get("attention_type").asText());
        assertEquals(cfg.get("n_embd"), written.get("n_embd"));
    }

    /** A stream that fails once the files written through it together exceed {@code left[0]} bytes, as a full disk does. */
    static final class FullDisk extends FilterOutputStream {
        final long[] left;

        FullDisk(OutputStream out, long[] left) {
            super(out);
            this.left = left;
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[]{(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            if (len > left[0]) throw new IOException("No space left on device");
            left[0] -= len;
            out.write(b, off, len);
        }
    }

    @Test
    void aFailureLeavesTheExistingOutputUntouched() throws IOException {
        Path in = Shared.fixture("gptj_tiny_grad_s2"), out = tmp.resolve("out");
        CheckpointConverter.convert(in, out, new CheckpointConverter.Options(DType.BF16, Checkpoint.Format.PYTORCH, 1L << 40));
        byte[] before = Files.readAllBytes(out.resolve("model.safetensors"));
        long[] disk = {20_000};
        IOException e = assertThrows(IOException.class, () -> CheckpointConverter.convert(in, out,
                new CheckpointConverter.Options(DType.F32, Checkpoint.Format.PYTORCH, 4096), s -> new FullDisk(s, disk)));
        assertTrue(e.getMessage().contains("No space left"), e.getMessage());
        assertArrayEquals(before, Files.readAllBytes(out.resolve("model.safetensors")));
        try (Stream<Path> s = Files.list(out)) {
            assertEquals(Set.of("model.safetensors", "config.json"), Set.copyOf(s.map(p -> p.getFileName().toString()).toList()));
        }
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of(out), s.toList(), "staging folder removed");
        }
        // a later successful conversion replaces the old output completely (shards instead of one file)
        CheckpointConverter.convert(in, out, new CheckpointConverter.Options(DType.F32, Checkpoint.Format.PYTORCH, 4096));
        assertFalse(Files.exists(out.resolve("model.safetensors")));
        assertTrue(Files.exists(out.resolve("model.safetensors.index.json")));
    }

    @Test
    void safetensorsWriterTakesLazyRawAndConvertedData() throws IOException {
        float[] a = {1f, -2.5f, 3.1415927f, 1e-3f, 7f, 8f};
        java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocate(24).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (float x : a) bytes.putFloat(x);
        java.lang.foreign.MemorySegment seg = java.lang.foreign.MemorySegment.ofArray(bytes.array());
        int[] produced = {0};
        Path f = tmp.resolve("kinds.safetensors");
        SafeTensors.write(f, List.of(
                new SafeTensors.Entry("lazy", DType.F32, new long[]{2, 3}, (SafeTensors.Lazy) () -> {
                    produced[0]++;
                    return a.clone();
                }),
                new SafeTensors.Entry("raw", DType.F32, new long[]{6}, seg),
                new SafeTensors.Entry("converted", DType.BF16, new long[]{3, 2}, new SafeTensors.Converted(seg, DType.F32))), null);
        assertEquals(1, produced[0], "lazy data produced once, while writing");
        try (SafeTensors st = SafeTensors.open(f)) {
            assertArrayEquals(a, st.floats("lazy"));
            assertArrayEquals(a, st.floats("raw"));
            float[] c = st.floats("converted");
            for (int i = 0; i < a.length; i++) assertEquals(Float.intBitsToFloat((SafeTensors.toBf16(a[i]) & 0xffff) << 16), c[i]);
        }
        var wrong = List.of(new SafeTensors.Entry("lazy", DType.F32, new long[]{4}, (SafeTensors.Lazy) () -> new float[3]));
        assertThrows(IllegalArgumentException.class, () -> SafeTensors.write(tmp.resolve("w.safetensors"), wrong, null));
        assertFalse(Files.exists(tmp.resolve("w.safetensors")));
    }
}
