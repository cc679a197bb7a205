package org.cottention.tokenizer;

import org.cottention.testutil.Shared;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;

import static org.junit.jupiter.api.Assertions.*;

/** The hand-written splitter against the GPT-2 regex run by java.util.regex with Unicode character classes. */
class Gpt2PreTokenizerTest {
    static List<String> byRegex(String s) {
        List<String> out = new ArrayList<>();
        Matcher m = Gpt2PreTokenizer.REGEX.matcher(s);
        int last = 0;
        while (m.find()) {
            assertEquals(last, m.start(), "regex left a gap");
            out.add(m.group());
            last = m.end();
        }
        assertEquals(s.length(), last);
        return out;
    }

    @Test
    void matchesRegexOnCorpus() throws IOException {
        String text = Utf8.readFile(Shared.data("corpus", "moby-dick.txt")).substring(0, 300_000);
        assertEquals(byRegex(text), Gpt2PreTokenizer.split(text));
    }

    @Test
    void matchesRegexOnRandomTrickyText() {
        int[] pool = " \t\n\r\u000b\u000c\u0085\u00a0\u1680\u2000\u2028\u2029\u202f\u205f\u3000\ufeff\u200b'sStrevlmdxA1٣①é中.!-_\u0301"
                .codePoints().toArray();
        int[] more = {0x1F600, 0x1D518, 0x1D7D8, 0x20000, 0x0, 0x1F};
        Random rnd = new Random(11);
        for (int k = 0; k < 20_000; k++) {
            StringBuilder sb = new StringBuilder();
            int len = rnd.nextInt(16);
            for (int i = 0; i < len; i++) {
                int r = rnd.nextInt(20);
                sb.appendCodePoint(r == 0 ? more[rnd.nextInt(more.length)] : r == 1 ? rnd.nextInt(0x3000) : pool[rnd.nextInt(pool.length)]);
            }
            String s = sb.toString();
            assertEquals(byRegex(s), Gpt2PreTokenizer.split(s), () -> "pieces of " + s.codePoints().mapToObj(Integer::toHexString).toList());
        }
    }

    @Test
    void examples() {
        assertEquals(List.of("Hello", ",", " world", "'s", " 123", "  ", " x", "\n", "\n", "y", " ", "\t", "!"),
                Gpt2PreTokenizer.split("Hello, world's 123   x\n\ny \t!"));
        assertEquals(List.of("   "), Gpt2PreTokenizer.split("   "));
        assertEquals(List.of("a", "\u00a0", "b"), Gpt2PreTokenizer.split("a\u00a0b")); // NBSP is \s, not " ?"
        assertEquals(List.of("a", " \ufeff"), Gpt2PreTokenizer.split("a \ufeff")); // BOM is not White_Space
        assertEquals(List.of("DON", "'", "T", " I", "'m"), Gpt2PreTokenizer.split("DON'T I'm")); // case-sensitive
    }
}
