package org.cottention.io;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * A zip archive read in place from a memory-mapped file: only the central directory is parsed onto the heap; entry
 * data are slices of the mapping. Enough of the format for what {@code torch.save} writes (stored entries, data
 * descriptors, ZIP64 records) and strict about everything else: every size and offset is checked against the file
 * before it is used, local headers must agree with the central directory, entry data may not overlap.
 */
final class ZipArchive {
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final int LOCAL_SIG = 0x04034b50, CENTRAL_SIG = 0x02014b50, EOCD_SIG = 0x06054b50,
            ZIP64_EOCD_SIG = 0x06064b50, ZIP64_LOCATOR_SIG = 0x07064b50;
    private static final long U32_MAX = 0xffffffffL;

    /** One entry: {@code dataOffset} is where its (stored) bytes begin in the file. */
    record Entry(String name, int method, int flags, long crc, long compressedSize, long size, long localOffset, long dataOffset) {}

    private final String what;  // the file, for messages
    private final MemorySegment file;
    private final Map<String, Entry> entries;

    private ZipArchive(String what, MemorySegment file, Map<String, Entry> entries) {
        this.what = what;
        this.file = file;
        this.entries = entries;
    }

    private static IOException bad(String what, String why) {
        return new IOException("invalid zip archive " + what + ": " + why);
    }

    private static long u32(MemorySegment s, long off) {
        return s.get(U32, off) & U32_MAX;
    }

    private static int u16(MemorySegment s, long off) {
        return s.get(U16, off) & 0xffff;
    }

    static ZipArchive open(String what, MemorySegment file) throws IOException {
        long size = file.byteSize();
        // End of central directory: 22 bytes + a comment of at most 65535, searched backwards from the end.
        long eocd = -1;
        for (long p = size - 22; p >= Math.max(0, size - 22 - 65535); p--) {
            if (file.get(U32, p) == EOCD_SIG && p + 22 + u16(file, p + 20) == size) {
                eocd = p;
                break;
            }
        }
        if (eocd < 0) throw bad(what, "end of central directory not found (the file is truncated or not a zip)");
        long disk = u16(file, eocd + 4), cdDisk = u16(file, eocd + 6);
        long count = u16(file, eocd + 10), cdSize = u32(file, eocd + 12), cdOffset = u32(file, eocd + 16);
        long cdEnd = eocd;
        // ZIP64: a locator just before the EOCD points at the 64-bit end record (torch writes one always).
        if (eocd >= 20 && file.get(U32, eocd - 20) == ZIP64_LOCATOR_SIG) {
            long z64 = file.get(U64, eocd - 20 + 8);
            if (z64 < 0 || z64 > eocd - 20 - 56 || file.get(U32, z64) != ZIP64_EOCD_SIG)
                throw bad(what, "ZIP64 locator points at offset " + z64 + " where there is no ZIP64 end record");
            disk = u32(file, z64 + 16);
            cdDisk = u32(file, z64 + 20);
            count = file.get(U64, z64 + 32);
            cdSize = file.get(U64, z64 + 40);
            cdOffset = file.get(U64, z64 + 48);
            cdEnd = z64;
        } else if (count == 0xffff || cdSize == U32_MAX || cdOffset == U32_MAX) {
            throw bad(what, "ZIP64 sizes are announced but the ZIP64 end record is missing");
        }
        if (disk != 0 || cdDisk != 0) throw bad(what, "multi-disk archives are not supported");
        if (cdOffset < 0 || cdSize < 0 || cdOffset > cdEnd || cdSize > cdEnd - cdOffset)
            throw bad(what, "central directory [" + cdOffset + ", +" + cdSize + "] lies outside the file of " + size + " bytes");
        if (count < 0 || count > cdSize / 46)
            throw bad(what, "central directory of " + cdSize + " bytes cannot hold " + count + " entries");

        Map<String, Entry> entries = new LinkedHashMap<>();
        long p = cdOffset, cdStop = cdOffset + cdSize;
        for (long i = 0; i < count; i++) {
            if (p + 46 > cdStop || file.get(U32, p) != CENTRAL_SIG)
                throw bad(what, "central directory entry " + i + " at offset " + p + " is damaged");
            int flags = u16(file, p + 8), method = u16(file, p + 10);
            long crc = u32(file, p + 16), csize = u32(file, p + 20), usize = u32(file, p + 24);
            int nameLen = u16(file, p + 28), extraLen = u16(file, p + 30), commentLen = u16(file, p + 32);
            long diskStart = u16(file, p + 34);
            long local = u32(file, p + 42);
            long next = p + 46 + nameLen + extraLen + commentLen;
            if (next > cdStop) throw bad(what, "central directory entry " + i + " runs past the directory");
            String name = new String(file.asSlice(p + 46, nameLen).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
            // ZIP64 extended information (id 1): the 64-bit values of the fields that hold 0xffffffff, in this order
            for (long e = p + 46 + nameLen, eEnd = e + extraLen; e + 4 <= eEnd; ) {
                int id = u16(file, e), len = u16(file, e + 2);
                if (e + 4 + len > eEnd) throw bad(what, "entry " + Msg.q(name) + " has a damaged extra field");
                if (id == 1) {
                    long q = e + 4, qEnd = q + len;
                    if (usize == U32_MAX) { if (q + 8 > qEnd) throw bad(what, "entry " + Msg.q(name) + ": short ZIP64 field"); usize = file.get(U64, q); q += 8; }
                    if (csize == U32_MAX) { if (q + 8 > qEnd) throw bad(what, "entry " + Msg.q(name) + ": short ZIP64 field"); csize = file.get(U64, q); q += 8; }
                    if (local == U32_MAX) { if (q + 8 > qEnd) throw bad(what, "entry " + Msg.q(name) + ": short ZIP64 field"); local = file.get(U64, q); q += 8; }
                    if (diskStart == 0xffff) { if (q + 4 > qEnd) throw bad(what, "entry " + Msg.q(name) + ": short ZIP64 field"); diskStart = u32(file, q); }
                }
                e += 4 + len;
            }
            if ((flags & 1) != 0) throw bad(what, "entry " + Msg.q(name) + " is encrypted");
            if (diskStart != 0) throw bad(what, "entry " + Msg.q(name) + " starts on another disk");
            if (csize < 0 || usize < 0 || local < 0 || local > cdOffset - 30)
                throw bad(what, "entry " + Msg.q(name) + " has a local header offset " + local + " outside the file");
            if (method == 0 && csize != usize)
                throw bad(what, "stored entry " + Msg.q(name) + " has compressed size " + csize + " != size " + usize);
            // The local header must repeat the name and method; its data follows it and must end before the directory.
            if (file.get(U32, local) != LOCAL_SIG) throw bad(what, "entry " + Msg.q(name) + ": no local header at offset " + local);
            int lFlags = u16(file, local + 6), lMethod = u16(file, local + 8);
            int lNameLen = u16(file, local + 26), lExtraLen = u16(file, local + 28);
            long data = local + 30 + lNameLen + lExtraLen;
            if (data > cdOffset) throw bad(what, "entry " + Msg.q(name) + ": local header runs into the central directory");
            String lName = new String(file.asSlice(local + 30, lNameLen).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
            if (!lName.equals(name) || lMethod != method)
                throw bad(what, "local header of entry " + Msg.q(name) + " disagrees with the central directory (name " + Msg.q(lName) + ", method " + lMethod + ")");
            if ((lFlags & 8) == 0) {  // no data descriptor: the local header carries CRC and sizes, which must agree
                long lCrc = u32(file, local + 14), lCs = u32(file, local + 18), lUs = u32(file, local + 22);
                if (lCrc != crc || (lCs != U32_MAX && lCs != csize) || (lUs != U32_MAX && lUs != usize))
                    throw bad(what, "local header of entry " + Msg.q(name) + " disagrees with the central directory on CRC or size");
            }
            if (csize > cdOffset - data)
                throw bad(what, "entry " + Msg.q(name) + " of " + csize + " bytes at offset " + data + " runs past the end of the data (file truncated?)");
            if (entries.put(name, new Entry(name, method, flags, crc, csize, usize, local, data)) != null)
                throw bad(what, "entry " + Msg.q(name) + " appears twice");
            p = next;
        }
        // No two entries may share bytes (overlapping entries are a zip-bomb trick and would alias tensors).
        List<Entry> sorted = new ArrayList<>(entries.values());
        sorted.sort((a, b) -> Long.compare(a.localOffset, b.localOffset));
        for (int i = 1; i < sorted.size(); i++) {
            Entry a = sorted.get(i - 1), b = sorted.get(i);
            if (a.dataOffset + a.compressedSize > b.localOffset)
                throw bad(what, "entries " + Msg.q(a.name) + " and " + Msg.q(b.name) + " overlap");
        }
        return new ZipArchive(what, file, Collections.unmodifiableMap(entries));
    }

    Map<String, Entry> entries() {
        return entries;
    }

    Entry entry(String name) {
        return entries.get(name);
    }

    /** The stored bytes of an entry, a view into the mapping; compressed entries are refused. */
    MemorySegment data(Entry e) throws IOException {
        if (e.method != 0)
            throw new IOException("entry " + Msg.q(e.name) + " in " + what + " is compressed (method " + e.method
                    + "); only stored (uncompressed) entries are supported, as torch.save writes them");
        return file.asSlice(e.dataOffset, e.size);
    }

    /** Checks the entry's CRC-32 against the central directory. */
    void verifyCrc(Entry e) throws IOException {
        long crc = crc32(data(e));
        if (crc != e.crc)
            throw new IOException("CRC-32 mismatch in entry " + Msg.q(e.name) + " of " + what + ": stored "
                    + String.format("%08x", e.crc) + ", computed " + String.format("%08x", crc) + " (the file is corrupt)");
    }

    static long crc32(MemorySegment s) {
        CRC32 crc = new CRC32();
        long chunk = 1L << 30;  // ByteBuffer views are limited to 2 GiB
        for (long off = 0; off < s.byteSize(); off += chunk)
            crc.update(s.asSlice(off, Math.min(chunk, s.byteSize() - off)).asByteBuffer());
        return crc.getValue();
    }
}
