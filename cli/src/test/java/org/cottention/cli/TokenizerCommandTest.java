package org.cottention.cli;

import org.cottention.testutil.Cli;
import org.cottention.testutil.Shared;
import org.cottention.tokenizer.ByteLevelBpeTokenizer;
import org.cottention.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class TokenizerCommandTest {
    static Cli.Result run(String... args) {
        return Cli.run(args);
    }

    static final String GPT2 = Shared.data("tokenizers", "gpt2").toString();

    @Test
    void encodeAndDecodeWithGpt2() {
        Cli.Result r = run("tokenizer", "encode", "--tokenizer", GPT2, "--text", "Hello world<|endoftext|>");
        assertEquals(0, r.code(), r.err());
        assertEquals("15496 995 50256", r.out().trim());
        r = run("tokenizer", "encode", "--tokenizer", GPT2, "--text", "Hello world", "--json");
        assertEquals("{\"ids\":[15496,995],\"tokens\":[\"Hello\",\"Ġworld\"]}", r.out().trim());
        r = run("tokenizer", "decode", "--tokenizer", GPT2, "--ids", "15496 995 50256 220 40792");
        assertEquals(0, r.code(), r.err());
        assertEquals("Hello world<|endoftext|> 中", r.out());
    }

    @Test
    void trainEncodeDecode(@TempDir Path tmp) throws Exception {
        Path in = tmp.resolve("in.txt");
        Files.writeString(in, Files.readString(Shared.data("corpus", "moby-dick.txt")).substring(0, 50_000));
        Path out = tmp.resolve("tok");
        Cli.Result r = run("tokenizer", "train", "--input", in.toString(), "--vocab-size", "500", "--out", out.toString(), "--threads", "1");
        assertEquals(0, r.code(), r.err());
        assertTrue(Tokenizers.load(out) instanceof ByteLevelBpeTokenizer);
        assertEquals(500, Tokenizers.load(out).vocabSize());
        Path txt = tmp.resolve("x.txt");
        Files.writeString(txt, "Call me Ishmael. 😀");
        r = run("tokenizer", "encode", "--tokenizer", out.toString(), "--file", txt.toString());
        assertEquals(0, r.code(), r.err());
        r = run("tokenizer", "decode", "--tokenizer", out.toString(), "--ids", r.out().trim());
        assertEquals("Call me Ishmael. 😀", r.out());
    }

    @Test
    void badInputIsOneClearLine(@TempDir Path tmp) throws Exception {
        Cli.Result r = run("tokenizer", "decode", "--tokenizer", GPT2, "--ids", "1 99999");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("99999"), r.err());
        r = run("tokenizer", "decode", "--tokenizer", GPT2, "--ids", "1 x");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("'x'"), r.err());
        Path bad = tmp.resolve("bad.txt");
        Files.write(bad, new byte[] {'a', 'b', (byte) 0xC3});
        r = run("tokenizer", "train", "--input", bad.toString(), "--vocab-size", "300", "--out", tmp.resolve("o").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("bad.txt") && r.err().contains("byte offset 2"), r.err());
        r = run("tokenizer", "train", "--input", bad.toString(), "--vocab-size", "300", "--out", tmp.resolve("o").toString(), "--type", "unigram");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--type"), r.err());
        r = run("tokenizer", "train", "--input", bad.toString(), "--vocab-size", "300", "--out", tmp.resolve("o").toString(), "--type", "wordpiece");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("bad.txt"), r.err());
        r = run("tokenizer", "encode", "--tokenizer", tmp.resolve("missing").toString(), "--text", "x");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("missing"), r.err());
    }

    @Test
    void trainsAndLoadsWordPiece(@TempDir Path tmp) throws Exception {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, "The whale! The white whale, said Ahab. Call me Ishmael. ".repeat(50));
        Cli.Result r = run("tokenizer", "train", "--type", "wordpiece", "--input", text.toString(), "--vocab-size", "120", "--min-frequency", "1",
                "--out", tmp.resolve("wp").toString());
        assertEquals(0, r.code(), r.err());
        r = run("tokenizer", "encode", "--tokenizer", tmp.resolve("wp").toString(), "--text", "the white whale", "--json");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("whale"), r.out());
    }
}
