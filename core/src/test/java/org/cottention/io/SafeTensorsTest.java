package org.cottention.io;

import org.cottention.testutil.Shared;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class SafeTensorsTest {
    @Test
    void readsFixtureKernels() throws IOException {
        try (SafeTensors st = SafeTensors.open(Shared.fixture("attn_kernels", "kernels.safetensors"))) {
            SafeTensors.Info q = st.info("q");
            assertArrayEquals(new long[]{2, 3, 70, 16}, q.shape());
            assertEquals(2 * 3 * 70 * 16, st.floats("q").length);
            assertEquals(DType.F64, st.info("cos_causal.out").dtype());
        }
    }

    @Test
    void roundTripsAllFloatTypes(@TempDir Path dir) throws IOException {
        float[] x = {1f, -2.5f, 3.25f, 0f, 65504f, 1e-3f};
        Path p = dir.resolve("t.safetensors");
        SafeTensors.write(p, List.of(
                new SafeTensors.Entry("a", DType.F32, new long[]{2, 3}, x),
                new SafeTensors.Entry("b", DType.BF16, new long[]{6}, x),
                new SafeTensors.Entry("c", DType.F16, new long[]{6}, x),
                new SafeTensors.Entry("d", DType.F64, new long[]{3}, new double[]{1.0 / 3, 2, 3})), Map.of("format", "pt"));
        try (SafeTensors st = SafeTensors.open(p)) {
            assertArrayEquals(x, st.floats("a"));
            float[] b = st.floats("b"), c = st.floats("c");
            for (int i = 0; i < x.length; i++) {
                assertEquals(x[i], b[i], Math.abs(x[i]) / 128 + 1e-30);
                assertEquals(x[i], c[i], Math.abs(x[i]) / 1024 + 1e-6);
            }
            assertEquals(1.0 / 3, st.doubles("d")[0]);
            assertEquals("pt", st.metadata().get("format"));
        }
    }

    @Test
    void rejectsHeaderLongerThanFile(@TempDir Path dir) throws IOException {
        Path p = dir.resolve("bad.safetensors");
        byte[] h = "{}".getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40).put(h);
        Files.write(p, b.array());
        IOException e = assertThrows(IOException.class, () -> SafeTensors.open(p));
        assertTrue(e.getMessage().contains("header length"), e.getMessage());
    }

    @Test
    void rejectsOverlapAndOutOfRange(@TempDir Path dir) throws IOException {
        String overlap = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
        assertTrue(assertThrows(IOException.class, () -> SafeTensors.open(file(dir, overlap, 16))).getMessage().contains("overlap"));
        String outside = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
        assertTrue(assertThrows(IOException.class, () -> SafeTensors.open(file(dir, outside, 8))).getMessage().contains("outside"));
        String dtype = "{\"a\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,1]}}";
        assertTrue(assertThrows(IOException.class, () -> SafeTensors.open(file(dir, dtype, 8))).getMessage().contains("unknown dtype"));
    }

    private static Path file(Path dir, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).put(h);
        Path p = Files.createTempFile(dir, "x", ".safetensors");
        Files.write(p, b.array());
        return p;
    }
}
