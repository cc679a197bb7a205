package org.cottention.io;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A restricted unpickler: it understands the opcodes {@code torch.save(state_dict)} emits (protocol 2, plus the few
 * protocol 4 ones that are plain data) and builds only inert Java values from them:
 * None → null, bool → Boolean, int → Long, float → Double, str → String, tuple → {@link Tuple}, list → ArrayList,
 * dict → LinkedHashMap, set → LinkedHashSet.
 * <p>
 * It never looks up a class or method by name. GLOBAL and STACK_GLOBAL go through the caller's {@link Globals}, which
 * answers with an object of its own (an allow-list) or refuses; REDUCE only applies a {@link Callable} that came out
 * of that allow-list; BINPERSID goes through the caller's {@link Persistent}. Everything is bounded: the stack, the
 * nesting of marks, the memo, string lengths (checked against the bytes left before allocating), integer widths.
 */
final class Unpickler {
    /** A Python tuple (immutable, compared by value). */
    record Tuple(List<Object> items) {
        Tuple {
            items = java.util.Collections.unmodifiableList(items);
        }

        int size() {
            return items.size();
        }

        Object get(int i) {
            return items.get(i);
        }
    }

    /** Something REDUCE may apply: only ever one of the caller's own implementations. */
    interface Callable {
        Object call(Tuple args) throws IOException;
    }

    /** Resolves GLOBAL module.name to an allowed object, or throws an IOException naming the refused global. */
    interface Globals {
        Object resolve(String module, String name) throws IOException;
    }

    /** Resolves a persistent id (BINPERSID). */
    interface Persistent {
        Object load(Object pid) throws IOException;
    }

    /** Bounds; a state dict needs ~30 values and ~10 memo entries per tensor, so these leave room for 50k tensors. */
    static final int MAX_STACK = 1 << 20, MAX_MARKS = 1000, MAX_MEMO = 1 << 20, MAX_VALUES = 2 << 20, MAX_GLOBAL_LINE = 256;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64_BE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private final String what;
    private final MemorySegment in;
    private final Globals globals;
    private final Persistent persistent;
    private long pos;
    private final ArrayList<Object> stack = new ArrayList<>();
    private final int[] marks = new int[MAX_MARKS];
    private int nMarks;
    private long values;  // everything ever pushed: bounds the heap a pickle can make us fill
    private final Map<Long, Object> memo = new HashMap<>();

    private Unpickler(String what, MemorySegment in, Globals globals, Persistent persistent) {
        this.what = what;
        this.in = in;
        this.globals = globals;
        this.persistent = persistent;
    }

    /** Runs the pickle in {@code in} to its STOP and returns the value left on the stack. */
    static Object load(String what, MemorySegment in, Globals globals, Persistent persistent) throws IOException {
        return new Unpickler(what, in, globals, persistent).run();
    }

    private IOException bad(String why) {
        return new IOException(why + " in " + what);
    }

    private IOException badAt(long at, String why) {
        return new IOException(why + " at byte " + at + " of " + what);
    }

    private int u8() throws IOException {
        need(1);
        return in.get(ValueLayout.JAVA_BYTE, pos++) & 0xff;
    }

    private void need(long n) throws IOException {
        if (n < 0 || n > in.byteSize() - pos) throw badAt(pos, "pickle truncated (needs " + n + " more bytes)");
    }

    private long u32() throws IOException {
        need(4);
        long v = in.get(I32, pos) & 0xffffffffL;
        pos += 4;
        return v;
    }

    private String utf8(long len) throws IOException {
        need(len);  // checked against the bytes actually there before allocating anything
        byte[] b = in.asSlice(pos, len).toArray(ValueLayout.JAVA_BYTE);
        pos += len;
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(b)).toString();
        } catch (CharacterCodingException e) {
            throw badAt(pos - len, "string is not valid UTF-8");
        }
    }

    private String line() throws IOException {
        long start = pos;
        StringBuilder sb = new StringBuilder();
        for (int c; (c = u8()) != '\n'; ) {
            if (c < 0x20 || c > 0x7e || sb.length() >= MAX_GLOBAL_LINE) throw badAt(start, "malformed GLOBAL name");
            sb.append((char) c);
        }
        return sb.toString();
    }

    private void push(Object o) throws IOException {
        if (stack.size() >= MAX_STACK) throw bad("pickle stack deeper than " + MAX_STACK);
        if (++values > MAX_VALUES) throw bad("pickle builds more than " + MAX_VALUES + " values");
        stack.add(o);
    }

    private Object pop() throws IOException {
        if (stack.size() <= (nMarks > 0 ? marks[nMarks - 1] : 0)) throw badAt(pos - 1, "pickle stack underflow");
        return stack.removeLast();
    }

    private Object top() throws IOException {
        if (stack.size() <= (nMarks > 0 ? marks[nMarks - 1] : 0)) throw badAt(pos - 1, "pickle stack underflow");
        return stack.getLast();
    }

    /** The items pushed since the last MARK, removed from the stack together with the mark. */
    private List<Object> popMark() throws IOException {
        if (nMarks == 0) throw badAt(pos - 1, "pickle has no MARK to pop to");
        int m = marks[--nMarks];
        List<Object> sub = stack.subList(m, stack.size());
        List<Object> items = new ArrayList<>(sub);
        sub.clear();
        return items;
    }

    private void memoPut(long index, Object o) throws IOException {
        if (memo.size() >= MAX_MEMO && !memo.containsKey(index)) throw bad("pickle memo larger than " + MAX_MEMO + " entries");
        memo.put(index, o);
    }

    private Object memoGet(long index) throws IOException {
        Object o = memo.get(index);
        if (o == null && !memo.containsKey(index)) throw badAt(pos, "pickle refers to memo entry " + index + " that was never stored");
        return o;
    }

    @SuppressWarnings("unchecked")
    private Object run() throws IOException {
        while (true) {
            long at = pos;
            int op = u8();
            switch (op) {
                case 0x80 -> {  // PROTO
                    int proto = u8();
                    if (proto > 5) throw badAt(at, "unsupported pickle protocol " + proto);
                }
                case 0x95 -> {  // FRAME: a length hint only; the bytes follow inline
                    need(8);
                    pos += 8;
                }
                case '.' -> {  // STOP
                    if (nMarks != 0 || stack.size() != 1) throw badAt(at, "pickle ends with " + stack.size() + " values on the stack");
                    return stack.getFirst();
                }
                case '(' -> {  // MARK
                    if (nMarks >= MAX_MARKS) throw badAt(at, "pickle nests deeper than " + MAX_MARKS + " levels");
                    marks[nMarks++] = stack.size();
                }
                case '0' -> pop();  // POP
                case '1' -> popMark();  // POP_MARK
                case '2' -> push(top());  // DUP
                case 'N' -> push(null);
                case 0x88 -> push(Boolean.TRUE);
                case 0x89 -> push(Boolean.FALSE);
                case 'J' -> {  // BININT: signed 32-bit
                    need(4);
                    push((long) in.get(I32, pos));
                    pos += 4;
                }
                case 'K' -> push((long) u8());  // BININT1
                case 'M' -> push((long) (u8() | u8() << 8));  // BININT2
                case 0x8a -> {  // LONG1: n-byte two's complement little-endian
                    int n = u8();
                    if (n > 8) throw badAt(at, "integer of " + n + " bytes is too large");
                    need(n);
                    long v = 0;
                    for (int i = 0; i < n; i++) v |= (in.get(ValueLayout.JAVA_BYTE, pos + i) & 0xffL) << (8 * i);
                    if (n > 0 && n < 8 && (v & (1L << (8 * n - 1))) != 0) v |= -1L << (8 * n);  // sign-extend
                    pos += n;
                    push(v);
                }
                case 'G' -> {  // BINFLOAT: big-endian double
                    need(8);
                    push(in.get(F64_BE, pos));
                    pos += 8;
                }
                case 'X' -> push(utf8(u32()));  // BINUNICODE
                case 0x8c -> push(utf8(u8()));  // SHORT_BINUNICODE
                case 0x8d -> {  // BINUNICODE8
                    need(8);
                    long n = in.get(I64, pos);
                    pos += 8;
                    if (n < 0) throw badAt(at, "negative string length");
                    push(utf8(n));
                }
                case ')' -> push(new Tuple(List.of()));
                case 't' -> push(new Tuple(popMark()));
                case 0x85 -> push(new Tuple(Arrays.asList(pop())));
                case 0x86 -> {
                    Object b = pop(), a = pop();
                    push(new Tuple(Arrays.asList(a, b)));
                }
                case 0x87 -> {
                    Object c = pop(), b = pop(), a = pop();
                    push(new Tuple(Arrays.asList(a, b, c)));
                }
                case ']' -> push(new ArrayList<>());  // EMPTY_LIST
                case 'a' -> {  // APPEND
                    Object v = pop();
                    asList(top(), at).add(v);
                }
                case 'e' -> {  // APPENDS
                    List<Object> items = popMark();
                    asList(top(), at).addAll(items);
                }
                case '}' -> push(new LinkedHashMap<>());  // EMPTY_DICT
                case 's' -> {  // SETITEM
                    Object v = pop(), k = pop();
                    asMap(top(), at).put(key(k, at), v);
                }
                case 'u' -> {  // SETITEMS
                    List<Object> items = popMark();
                    if (items.size() % 2 != 0) throw badAt(at, "SETITEMS with an odd number of items");
                    Map<Object, Object> m = asMap(top(), at);
                    for (int i = 0; i < items.size(); i += 2) m.put(key(items.get(i), at), items.get(i + 1));
                }
                case 0x8f -> push(new LinkedHashSet<>());  // EMPTY_SET
                case 0x90 -> {  // ADDITEMS
                    List<Object> items = popMark();
                    if (!(top() instanceof Set<?> s)) throw badAt(at, "ADDITEMS on a " + describe(top()));
                    for (Object o : items) ((Set<Object>) s).add(key(o, at));
                }
                case 'q' -> memoPut(u8(), top());  // BINPUT
                case 'r' -> memoPut(u32(), top());  // LONG_BINPUT
                case 0x94 -> memoPut(memo.size(), top());  // MEMOIZE
                case 'h' -> push(memoGet(u8()));  // BINGET
                case 'j' -> push(memoGet(u32()));  // LONG_BINGET
                case 'c' -> {  // GLOBAL "module\nname\n": resolved by the caller's allow-list, nothing is looked up
                    String module = line(), name = line();
                    push(globals.resolve(module, name));
                }
                case 0x93 -> {  // STACK_GLOBAL
                    Object name = pop(), module = pop();
                    if (!(module instanceof String m) || !(name instanceof String n)) throw badAt(at, "STACK_GLOBAL needs two strings");
                    push(globals.resolve(m, n));
                }
                case 'R' -> {  // REDUCE: only our own allow-listed callables
                    Object args = pop(), fn = pop();
                    if (!(fn instanceof Callable c)) throw badAt(at, "REDUCE applies a " + describe(fn) + ", which is not an allowed callable");
                    if (!(args instanceof Tuple t)) throw badAt(at, "REDUCE arguments are a " + describe(args) + ", not a tuple");
                    push(c.call(t));
                }
                case 'b' -> {  // BUILD: only OrderedDict's attribute dict (torch stores _metadata there), which we drop
                    Object state = pop();
                    Object target = top();
                    if (!(target instanceof Map) || !(state instanceof Map))
                        throw badAt(at, "BUILD of a " + describe(target) + " from a " + describe(state) + " is not supported");
                }
                case 'Q' -> push(persistent.load(pop()));  // BINPERSID
                default -> throw badAt(at, String.format("unsupported pickle opcode 0x%02x", op));
            }
        }
    }

    /**
     * Dict keys and set items must be scalars: hashing a container recurses through it, and a pickle can nest
     * containers a million deep (a stack overflow instead of an error). A state dict only has str keys.
     */
    private Object key(Object k, long at) throws IOException {
        if (k == null || k instanceof String || k instanceof Long || k instanceof Boolean || k instanceof Double) return k;
        throw badAt(at, "dict key or set item of type " + describe(k) + " is not supported");
    }

    @SuppressWarnings("unchecked")
    private List<Object> asList(Object o, long at) throws IOException {
        if (o instanceof ArrayList<?> l) return (List<Object>) l;
        throw badAt(at, "APPEND to a " + describe(o));
    }

    @SuppressWarnings("unchecked")
    private Map<Object, Object> asMap(Object o, long at) throws IOException {
        if (o instanceof LinkedHashMap<?, ?> m) return (Map<Object, Object>) m;
        throw badAt(at, "SETITEM on a " + describe(o));
    }

    /** A short type name for messages; never prints the value (which may be huge or self-referencing). */
    static String describe(Object o) {
        return switch (o) {
            case null -> "None";
            case String s -> "str";
            case Long l -> "int";
            case Double d -> "float";
            case Boolean b -> "bool";
            case Tuple t -> "tuple";
            case List<?> l -> "list";
            case Map<?, ?> m -> "dict";
            case Set<?> s -> "set";
            default -> o.getClass().getSimpleName();
        };
    }
}
