package org.cottention.cli;

import org.cottention.testutil.Cli;
import org.cottention.testutil.Shared;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** convert and the off-heap weight options (--dtype, --mmap) through the command line. */
class ConvertAndWeightOptionsTest {
    @TempDir
    Path tmp;

    @Test
    void cliConvertsAndRefusesBadInput() throws IOException {
        Path out = tmp.resolve("cli");
        var ok = Cli.run("convert", "--model", Shared.fixture("bert_mlm_s0").toString(), "--out", out.toString(), "--weights", "pytorch",
                "--max-shard-size", "100KB");
        assertEquals(0, ok.code(), ok.err());
        assertTrue(ok.out().contains("2 tied duplicates dropped"), ok.out());
        assertTrue(Files.exists(out.resolve("model.safetensors.index.json")));
        var badDtype = Cli.run("convert", "--model", Shared.fixture("bert_mlm_s0").toString(), "--out", tmp.resolve("x").toString(), "--dtype", "f16");
        assertEquals(2, badDtype.code());
        assertTrue(badDtype.err().contains("--dtype must be f32 or bf16"), badDtype.err());
        Files.createDirectories(tmp.resolve("busy"));
        Files.writeString(tmp.resolve("busy/notes.txt"), "mine");
        var busy = Cli.run("convert", "--model", Shared.fixture("bert_mlm_s0").toString(), "--out", tmp.resolve("busy").toString());
        assertEquals(2, busy.code());
        assertTrue(busy.err().contains("already holds notes.txt"), busy.err());
        assertEquals("mine", Files.readString(tmp.resolve("busy/notes.txt")));
        var size = Cli.run("convert", "--model", Shared.fixture("bert_mlm_s0").toString(), "--out", tmp.resolve("y").toString(), "--max-shard-size", "lots");
        assertEquals(2, size.code());
        assertTrue(size.err().contains("--max-shard-size"), size.err());
    }


    @Test
    void cliGeneratesTheSameGreedyTokensWithBf16AndMappedWeights() {
        String dir = Shared.fixture("gptj_small_s0").toString();
        String[] base = {"generate", "--model", dir, "--ids", "1 2 3 4", "--max-new-tokens", "6", "--temperature", "0", "--json"};
        var f32 = Cli.run(base);
        assertEquals(0, f32.code(), f32.err());
        String ids = f32.out().substring(0, f32.out().indexOf(']') + 1);
        for (String[] extra : new String[][]{{"--dtype", "bf16"}, {"--mmap"}}) {
            String[] args = Stream.concat(Arrays.stream(base), Arrays.stream(extra)).toArray(String[]::new);
            var r = Cli.run(args);
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().startsWith(ids), extra[0] + ": " + r.out() + " vs " + ids);
        }
        var bad = Cli.run("generate", "--model", dir, "--ids", "1", "--dtype", "int8");
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("--dtype must be f32 or bf16"), bad.err());
    }
}
