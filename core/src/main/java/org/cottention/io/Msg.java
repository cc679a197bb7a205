package org.cottention.io;

/** Quoting of names that come from a file, for one-line error messages: control characters escaped, length capped. */
final class Msg {
    private Msg() {}

    static final int MAX = 200;

    /** {@code "name"}, with control and non-ASCII-printable characters as \\uXXXX and a cap of 200 characters. */
    static String q(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder(Math.min(s.length(), MAX) + 8).append('"');
        for (int i = 0; i < s.length() && i < MAX; i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20 || c == 0x7f || Character.isISOControl(c) || Character.getType(c) == Character.LINE_SEPARATOR
                    || Character.getType(c) == Character.PARAGRAPH_SEPARATOR || Character.isSurrogate(c))
                b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        if (s.length() > MAX) b.append("...");
        return b.append('"').toString();
    }

    /** A file-controlled token (storage key, file name, global) as is when it is plain, else {@link #q quoted}. */
    static String plain(String s) {
        return s != null && s.length() <= MAX && s.matches("[A-Za-z0-9_.\\-/]+") ? s : q(s);
    }
}
