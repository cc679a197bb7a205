package org.cottention.cli;

import org.cottention.testutil.Cli;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.io.DType;
import org.cottention.io.PytorchCheckpointWriter;
import org.cottention.io.SafeTensors;
import org.cottention.testutil.Shared;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class InspectCommandTest {
    static Cli.Result run(String... args) {
        return Cli.run(args);
    }

    @Test
    void listsTheSameTensorsFromBothFormats() throws IOException {
        String dir = Shared.fixture("gptj_small_s0").toString();
        Cli.Result st = run("inspect", "--model", dir, "--json", "--threads", "1");
        Cli.Result pt = run("inspect", "--model", dir, "--weights", "pytorch", "--json", "--check-finite", "--threads", "1");
        assertEquals(0, st.code(), st.err());
        assertEquals(0, pt.code(), pt.err());
        JsonNode a = new ObjectMapper().readTree(st.out()), b = new ObjectMapper().readTree(pt.out());
        assertEquals("safetensors", a.get("format").asText());
        assertEquals("pytorch", b.get("format").asText());
        assertEquals("gptj", a.get("config").get("model_type").asText());
        assertEquals("cosine", a.get("config").get("attention_type").asText());
        assertEquals(27, a.get("tensor_count").asInt());
        assertEquals(a.get("elements"), b.get("elements"));
        assertTrue(b.get("finite").asBoolean());
        java.util.Map<String, JsonNode> byName = new java.util.HashMap<>();
        b.get("tensors").forEach(t -> byName.put(t.get("name").asText(), t));
        a.get("tensors").forEach(t -> assertEquals(t, byName.get(t.get("name").asText())));
        Cli.Result text = run("inspect", "--model", dir);
        assertEquals(0, text.code());
        assertTrue(text.out().contains("transformer.h.0.attn.norm_const"), text.out());
        assertTrue(text.out().contains("[1, 4, 1, 1]"), text.out());
    }

    @Test
    void hostileCheckpointIsOneErrorLineAndExitTwo(@TempDir Path dir) throws IOException {
        // a pytorch_model.bin whose pickle calls os.system: refused by name, nothing run
        Path marker = dir.resolve("pwned");
        byte[] pkl = ("\u0080\u0002cos\nsystem\nX").getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
        byte[] cmd = ("touch " + marker).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        var b = new java.io.ByteArrayOutputStream();
        b.writeBytes(pkl);
        b.writeBytes(java.nio.ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(cmd.length).array());
        b.writeBytes(cmd);
        b.writeBytes(new byte[]{(byte) 0x85, 'R', '.'});
        Path bin = dir.resolve("pytorch_model.bin");
        for (boolean stored : new boolean[]{true, false}) {
            try (var zip = new java.util.zip.ZipOutputStream(Files.newOutputStream(bin))) {
                var e = new java.util.zip.ZipEntry("archive/data.pkl");
                if (stored) {
                    var crc = new java.util.zip.CRC32();
                    crc.update(b.toByteArray());
                    e.setMethod(java.util.zip.ZipEntry.STORED);
                    e.setSize(b.size());
                    e.setCompressedSize(b.size());
                    e.setCrc(crc.getValue());
                }
                zip.putNextEntry(e);
                zip.write(b.toByteArray());
                zip.closeEntry();
            }
            Cli.Result r = run("inspect", "--model", dir.toString());
            assertEquals(2, r.code());
            assertTrue(r.err().startsWith("error: "), r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(r.err().contains(stored ? "disallowed global os.system in archive/data.pkl" : "compressed (method 8)"), r.err());
            assertFalse(Files.exists(marker));
        }
    }

    @Test
    void nanWithCheckFiniteFails(@TempDir Path dir) throws IOException {
        PytorchCheckpointWriter.write(dir.resolve("pytorch_model.bin"),
                List.of(new SafeTensors.Entry("w", DType.F32, new long[]{2, 2}, new float[]{1, Float.POSITIVE_INFINITY, 0, 0})));
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"gptj\", \"n_embd\": 2}");
        Cli.Result ok = run("inspect", "--model", dir.toString());
        assertEquals(0, ok.code(), ok.err());
        assertTrue(ok.out().contains("config: model_type=gptj hidden_size=2"), ok.out());
        Cli.Result r = run("inspect", "--model", dir.toString(), "--check-finite");
        assertEquals(2, r.code());
        assertEquals("error: tensor \"w\" holds Infinity at index 1 (element [0, 1] of shape [2, 2])", r.err().strip());
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": ");
        Cli.Result bad = run("inspect", "--model", dir.toString());
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("config.json"), bad.err());
        assertEquals(1, bad.err().strip().lines().count(), bad.err());
    }
}
