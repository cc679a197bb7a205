package org.cottention.data;

import org.cottention.io.AtomicFiles;
import org.cottention.tokenizer.Tokenizer;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * A corpus tokenised once into a memory-mapped file of little-endian int32 ids, documents separated by a separator
 * id (EOS). The file name carries a hash of the inputs (paths, sizes, modification times) and of the tokenizer's
 * vocabulary, so a changed corpus or tokenizer is tokenised again and an unchanged one is only mapped.
 * Layout: magic "COTK", int32 version 1, int64 token count, then the ids.
 */
public final class TokenFile implements AutoCloseable {
    private static final int MAGIC = 0x4b544f43;  // "COTK" little-endian
    private static final int HEADER = 16;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Arena arena;
    private final MemorySegment tokens;
    private final long count;
    private final Path path;

    private TokenFile(Path path, Arena arena, MemorySegment tokens, long count) {
        this.path = path;
        this.arena = arena;
        this.tokens = tokens;
        this.count = count;
    }

    /**
     * Tokenises the files into {@code cacheDir} unless an up-to-date cache is there, then maps it. The text is read and
     * the ids written as a stream (see {@link TextSources#pieces}), so the corpus need not fit in memory.
     */
    public static TokenFile build(List<Path> files, Tokenizer tok, int separatorId, Path cacheDir) throws IOException {
        return build(files, tok, separatorId, cacheDir, TextSources.PIECE_BYTES);
    }

    static TokenFile build(List<Path> files, Tokenizer tok, int separatorId, Path cacheDir, int pieceBytes) throws IOException {
        Path cache = cacheDir.resolve("tokens-" + fingerprint(files, tok, separatorId) + ".bin");
        if (!Files.isRegularFile(cache)) {
            AtomicFiles.writeChannel(cache, ch -> {
                java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
                b.putInt(MAGIC).putInt(1).putLong(-1); // the count is written once known
                long[] counts = new long[2];           // ids, documents
                TextSources.pieces(files, (piece, last) -> {
                    int[] ids = tok.encode(piece);
                    for (int id : ids) put(ch, b, id);
                    if (last) {
                        put(ch, b, separatorId);
                        counts[1]++;
                    }
                    counts[0] += ids.length + (last ? 1 : 0);
                }, pieceBytes);
                if (counts[0] <= counts[1]) throw new IOException("the training data " + files + " holds no text (empty corpus)");
                flush(ch, b);
                b.putLong(counts[0]).flip();
                ch.write(b, 8);
            });
        }
        return open(cache, tok.vocabSize());
    }

    private static void put(FileChannel ch, java.nio.ByteBuffer b, int id) throws IOException {
        if (b.remaining() < 4) flush(ch, b);
        b.putInt(id);
    }

    private static void flush(FileChannel ch, java.nio.ByteBuffer b) throws IOException {
        b.flip();
        while (b.hasRemaining()) ch.write(b);
        b.clear();
    }

    /** Maps an existing token file, checking its header and that every id is below vocabSize. */
    public static TokenFile open(Path file, int vocabSize) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < HEADER) throw new IOException("token file " + file + " is truncated (" + size + " bytes)");
            Arena arena = Arena.ofShared();
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            long count = all.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 8);
            if (all.get(I32, 0) != MAGIC || all.get(I32, 4) != 1 || count < 0 || HEADER + count * 4 != size) {
                arena.close();
                throw new IOException("token file " + file + " is corrupt or half-written; delete it to rebuild");
            }
            TokenFile tf = new TokenFile(file, arena, all.asSlice(HEADER, count * 4), count);
            for (long i = 0; i < count; i++) {
                int id = tf.get(i);
                if (id < 0 || id >= vocabSize) {
                    tf.close();
                    throw new IOException("token file " + file + " holds id " + id + " at " + i + ", outside the vocabulary of " + vocabSize);
                }
            }
            return tf;
        }
    }

    public long size() {
        return count;
    }

    public int get(long i) {
        return tokens.getAtIndex(I32, i);
    }

    /** Copies n ids starting at from into dst[off..]. */
    public void read(long from, int[] dst, int off, int n) {
        MemorySegment.copy(tokens, I32, from * 4, dst, off, n);
    }

    public Path path() {
        return path;
    }

    @Override
    public void close() {
        arena.close();
    }

    private static String fingerprint(List<Path> files, Tokenizer tok, int sep) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (Path f : files) {
                md.update(f.toAbsolutePath().toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                md.update(Long.toString(Files.size(f)).getBytes());
                md.update(Long.toString(Files.getLastModifiedTime(f).toMillis()).getBytes());
            }
            md.update(Integer.toString(tok.vocabSize()).getBytes());
            md.update(Integer.toString(sep).getBytes());
            // a cheap vocabulary signature: a spread of token strings
            for (int id = 0; id < tok.vocabSize(); id += Math.max(1, tok.vocabSize() / 512))
                md.update(tok.idToToken(id).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(md.digest(), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
