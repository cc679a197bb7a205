// Compares the tables written by scripts/hf-unicode-probe.cjs with Java's (BertBasicTokenizer) and prints the ranges
// where they differ, in the form of HfUnicodeExceptions.java (empty once those exceptions are in place).
//   java -cp target/classes scripts/HfUnicodeCompare.java
import org.cottention.tokenizer.BertBasicTokenizer;
import java.nio.file.*;
import java.util.*;
public class HfUnicodeCompare {
  public static void main(String[] a) throws Exception {
    Map<Integer,String> rn = new HashMap<>();
    for (String l : Files.readAllLines(Path.of("/tmp/wpref/rust-norm.txt"))) { if (l.isEmpty()) continue; String[] p = l.split(" ", -1); StringBuilder sb = new StringBuilder(); if (p.length>1 && !p[1].isEmpty()) for (String h : p[1].split(",")) sb.appendCodePoint(Integer.parseInt(h,16)); rn.put(Integer.parseInt(p[0],16), sb.toString()); }
    Set<Integer> rp = new HashSet<>();
    for (String l : Files.readAllLines(Path.of("/tmp/wpref/rust-punct.txt"))) if (!l.isEmpty()) rp.add(Integer.parseInt(l,16));
    String rust = Files.readString(Path.of("/tmp/wpref/rust-clean.txt"));
    BertBasicTokenizer b = new BertBasicTokenizer(false, false, true, true);
    List<Integer> keepMn = new ArrayList<>(), punctFlip = new ArrayList<>(), ctrlKeep = new ArrayList<>(); List<String> other = new ArrayList<>();
    for (int cp = 0; cp <= 0x10FFFF; cp++) {
      if ((cp >= 0xD800 && cp <= 0xDFFF) || BertBasicTokenizer.isWhitespace(cp) || cp == 0x7C) continue;
      char r = rust.charAt(cp);
      boolean jc = cp == 0 || cp == 0xFFFD || BertBasicTokenizer.isControl(cp);
      if ((r == 'R') != jc) { if (r != 'R' && jc) ctrlKeep.add(cp); else other.add("ctrl " + Integer.toHexString(cp)); }
      String s = new String(Character.toChars(cp));
      String want = rn.getOrDefault(cp, s);
      String got = b.normalize(s);
      if (!want.equals(got)) {
        if (want.equals(s) && got.isEmpty() && Character.getType(cp) == Character.NON_SPACING_MARK) keepMn.add(cp);
        else other.add("norm " + Integer.toHexString(cp) + " type " + Character.getType(cp) + " rust " + want.codePoints().mapToObj(Integer::toHexString).toList() + " java " + got.codePoints().mapToObj(Integer::toHexString).toList());
      }
      if (BertBasicTokenizer.isPunctuation(cp) != rp.contains(cp)) punctFlip.add(cp);
    }
    System.out.println("keepMn " + ranges(keepMn));
    System.out.println("punctFlip " + ranges(punctFlip));
    System.out.println("ctrlKeep " + ranges(ctrlKeep));
    other.forEach(System.out::println);
  }
  static String ranges(List<Integer> l) {
    StringBuilder sb = new StringBuilder(); int n = 0;
    for (int i = 0; i < l.size(); ) { int j = i; while (j + 1 < l.size() && l.get(j + 1) == l.get(j) + 1) j++; sb.append(String.format("0x%X, 0x%X, ", l.get(i), l.get(j))); n++; i = j + 1; }
    return n + " ranges: " + sb;
  }
}
