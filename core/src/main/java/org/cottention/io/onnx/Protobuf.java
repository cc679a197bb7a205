package org.cottention.io.onnx;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A reader of the protocol-buffers wire format over a byte buffer, enough for ONNX: varints, fixed 32/64-bit fields and
 * length-delimited fields (strings, bytes, nested messages, packed repeated numbers). Every length is checked against
 * the bytes that remain, so a truncated or garbage file is an IOException naming the offset, never an out-of-bounds read.
 */
final class Protobuf {
    static final int VARINT = 0, I64 = 1, LEN = 2, I32 = 5;

    private final ByteBuffer buf;   // position = next byte; limit = end of this message
    private final String what;
    private int tag;

    Protobuf(ByteBuffer buf, String what) {
        this.buf = buf.slice().order(ByteOrder.LITTLE_ENDIAN);
        this.what = what;
    }

    IOException bad(String why) {
        return new IOException("invalid ONNX file " + what + ": " + why + " at byte " + buf.position() + " of a " + buf.limit() + "-byte message");
    }

    /** Advances to the next field; false at the end of the message. */
    boolean next() throws IOException {
        if (!buf.hasRemaining()) return false;
        long t = varint();
        if (t >>> 32 != 0 || (t >>> 3) == 0) throw bad("field tag " + t + " is out of range");
        tag = (int) t;
        int wt = tag & 7;
        if (wt != VARINT && wt != I64 && wt != LEN && wt != I32) throw bad("wire type " + wt + " is not supported");
        return true;
    }

    int field() {
        return tag >>> 3;
    }

    int wireType() {
        return tag & 7;
    }

    long varint() throws IOException {
        long v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (!buf.hasRemaining()) throw bad("varint runs past the end");
            int b = buf.get() & 0xff;
            v |= (long) (b & 0x7f) << shift;
            if (b < 0x80) return v;
        }
        throw bad("varint longer than 10 bytes");
    }

    private void need(long n) throws IOException {
        if (n < 0 || n > buf.remaining()) throw bad("field of " + n + " bytes runs past the end (" + buf.remaining() + " left)");
    }

    /** A length-delimited field's bytes as a buffer (no copy); the reader moves past it. */
    ByteBuffer bytes() throws IOException {
        if (wireType() != LEN) throw bad("field " + field() + " is not length-delimited");
        long n = varint();
        need(n);
        ByteBuffer b = buf.slice(buf.position(), (int) n).order(ByteOrder.LITTLE_ENDIAN);
        buf.position(buf.position() + (int) n);
        return b;
    }

    Protobuf message() throws IOException {
        return new Protobuf(bytes(), what);
    }

    String string() throws IOException {
        ByteBuffer b = bytes();
        byte[] a = new byte[b.remaining()];
        b.get(a);
        return new String(a, java.nio.charset.StandardCharsets.UTF_8);
    }

    float fixed32Float() throws IOException {
        if (wireType() != I32) throw bad("field " + field() + " is not a 32-bit value");
        need(4);
        return buf.getFloat();
    }

    /** An int64 field, plain or packed: the values are appended to out. */
    void longs(LongList out) throws IOException {
        if (wireType() == VARINT) {
            out.add(varint());
            return;
        }
        Protobuf p = new Protobuf(bytes(), what);
        while (p.buf.hasRemaining()) out.add(p.varint());
    }

    /** A float field, plain or packed. */
    void floats(FloatList out) throws IOException {
        if (wireType() == I32) {
            out.add(fixed32Float());
            return;
        }
        ByteBuffer b = bytes();
        if (b.remaining() % 4 != 0) throw bad("packed floats of " + b.remaining() + " bytes");
        while (b.hasRemaining()) out.add(b.getFloat());
    }

    /** Skips the current field's value. */
    void skip() throws IOException {
        switch (wireType()) {
            case VARINT -> varint();
            case I64 -> { need(8); buf.position(buf.position() + 8); }
            case I32 -> { need(4); buf.position(buf.position() + 4); }
            default -> bytes();
        }
    }

    /** A growable long array. */
    static final class LongList {
        long[] a = new long[4];
        int n;

        void add(long v) {
            if (n == a.length) a = java.util.Arrays.copyOf(a, n * 2);
            a[n++] = v;
        }

        long[] toArray() {
            return java.util.Arrays.copyOf(a, n);
        }
    }

    /** A growable float array. */
    static final class FloatList {
        float[] a = new float[4];
        int n;

        void add(float v) {
            if (n == a.length) a = java.util.Arrays.copyOf(a, n * 2);
            a[n++] = v;
        }

        float[] toArray() {
            return java.util.Arrays.copyOf(a, n);
        }
    }
}
