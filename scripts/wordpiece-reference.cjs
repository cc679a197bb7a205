#!/usr/bin/env node
// Generates src/test/resources/tokenizer/bert-base-uncased-reference.jsonl.gz: reference WordPiece ids for
// WordPieceReferenceTest, from two independent implementations of the HF BERT tokenizer:
//   - @anush008/tokenizers 0.6.0  (Node bindings of the Rust HF `tokenizers` 0.22 crate: THE reference; ids stored)
//   - @huggingface/tokenizers 0.2.0 (HF's pure-JS port, tokenizers.js: cross-check; disagreements counted and printed)
// Setup (outside the repo, packages from npm only; --ignore-scripts because nothing needs building):
//   mkdir -p /tmp/wpref && cd /tmp/wpref && npm init -y && npm install --ignore-scripts \
//     @anush008/tokenizers@0.6.0 @anush008/tokenizers-linux-x64-gnu@0.6.0 @huggingface/tokenizers@0.2.0
// Run from the repository root:
//   NODE_PATH=/tmp/wpref/node_modules node scripts/wordpiece-reference.cjs [../shared]
// Texts: slices of data/corpus/{moby-dick,sotu}.txt, all of data/classify/spam/dev.tsv (one case per line),
// handcrafted Unicode stress cases and seeded random strings; pairs with the three truncation strategies.
// Last run: 1188 texts (1.37 M chars, ~358 K tokens), 201 pairs; tokenizers.js differs from Rust on 2 texts: astral CJK
// (its CJK ranges) and Greek final sigma (it lower-cases with String.toLowerCase; Rust maps per character).
// Line format (gzipped JSONL): {"kind":"single","text":..,"ids":"1 2 3"} (no special tokens),
// {"kind":"pair","a":..,"b":..,"max":n|0,"strategy":"LongestFirst"|...,"ids":..,"types":..} (special tokens added),
// {"kind":"decode","ids":"..","text":..} (Rust decode, special tokens kept).
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const path = require('path');
const rust = require('@anush008/tokenizers');

async function main() {
  const shared = process.argv[2] || path.join('..', 'shared');
  const tokDir = path.join(shared, 'data', 'tokenizers', 'bert-base-uncased');
  const tjson = path.join(tokDir, 'tokenizer.json');
  const rt = rust.Tokenizer.fromFile(tjson);
  const { Tokenizer: JsTokenizer } = require('@huggingface/tokenizers');
  const jt = new JsTokenizer(JSON.parse(fs.readFileSync(tjson, 'utf8')), {
    do_lower_case: true, clean_up_tokenization_spaces: true, model_max_length: 1e9,
  });

  // ---- texts
  let seed = 12345;
  const rand = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 4294967296; };
  const texts = [];
  const slices = (file, count, len) => {
    const s = fs.readFileSync(path.join(shared, 'data', 'corpus', file), 'utf8');
    const step = Math.floor((s.length - len) / count);
    for (let i = 0; i < count; i++) texts.push(s.slice(i * step, i * step + len));
  };
  slices('moby-dick.txt', 120, 2500);
  slices('sotu.txt', 160, 2500);
  for (const line of fs.readFileSync(path.join(shared, 'data', 'classify', 'spam', 'dev.tsv'), 'utf8').split('\n'))
    if (line.length) texts.push(line);

  const stress = [
    'Héllo, Wörld! Ça va? Naïve café résumé coöperate São Paulo Øresund Łódź Straße ǅemal',
    'İstanbul ıi ŞĞÜ ﬁnance ﬀ Ⅻ ² ½ ａｂｃ ＡＢＣ',
    '你好，世界！我爱北京天安门。漢字テスト カタカナ ひらがな 한국어 텍스트',
    '𠀀𠀁 𪜀 𫝀 𫠠 𬺰 丽 ｈｅｌｌｏ',
    'emoji 😀😃👍🏽 ❤️ 🎉🎉 👨‍👩‍👧 ☃ ★ ♥ ✓ →',
    'ctrl\u0000chars\u0001here\u0007 \u001b[31mred\u001b[0m zero\u200bwidth soft\u00adhyphen bom\ufeffx repl\ufffdacement',
    'tabs\tand\nnewlines\r\nand\u000b\u000cvertical\u0085next\u00a0nbsp\u2003em\u3000ideo\u2028line\u2029para',
    'punctuation runs!!!??? ...... ---- ((([[[{{{}}}]]]))) "quotes" \'single\' `back` ~tilde ^caret$ @at#hash% &amp; *star* _under_ +plus= |pipe| \\back/slash <lt>',
    'unicode punct: «guillemets» „low“ ‘curly’ — – ‐ … ‰ ‱ † ‡ • ¡inverted! ¿question? 。、「」『』【】・ ؟ ، ۔ ¶ §',
    'math ∑∫√∞≈≠≤≥ ± × ÷ € £ ¥ ₹ $100.00 50% 3.14159 1,000,000 2^10 e=mc²',
    'a'.repeat(99) + ' ' + 'b'.repeat(100) + ' ' + 'c'.repeat(101) + ' ' + 'supercalifragilisticexpialidocious'.repeat(3) + ' ' + 'é'.repeat(101),
    'antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis floccinaucinihilipilification xyzzyqwfp',
    'special tokens [CLS] inline [SEP] and [MASK] and [PAD] [UNK] [cls] [ MASK ] [MASK][MASK]x[SEP]',
    'combining: e\u0301 a\u0300 o\u0308 n\u0303 A\u030a  \u0301alone  ॐ हिन्दी தமிழ் ไทย Ελληνικά ΑΘΗΝΑ Ρωσία Русский ЯЗЫК עברית العربية',
    'urls http://example.com/path?q=1&x=y#frag user@mail.org C:\\Windows\\path 192.168.0.1 ::1 v1.2.3-beta+build',
    "contractions don't can't won't I'm you're they've it's o'clock rock'n'roll",
    '   leading and trailing spaces   ', '', ' ', '\n\n\t', '!', '##', '##ing', 'x##y', '[', ']', '[MASK', 'MASK]',
    'UPPER lower MiXeD CamelCaseWord snake_case_word kebab-case-word dotted.name.here',
    'numbers 0123456789 ٠١٢٣ ०१२३ ①②③ ⅰⅱⅲ',
    'final sigma ΟΔΟΣ ΣΟΦΟΣ ὈΔΥΣΣΕΎΣ Σ ΣΣ, dotted İ İSTANBUL Ǆǅǆ ẞ',
  ];
  for (const s of stress) texts.push(s);
  // random strings over a pool mixing every character class (all assigned in Unicode 9, see WordPieceReferenceTest)
  const pool = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
    ...'         \t\n.,;:!?\'"()[]{}-_/\\@#$%^&*+=<>|~`',
    ...'éèêëàâäôöûüçñÉÀÖÜßøåæœĳ', '\u0301', '\u0308', '\u0327', '\u00a0', '\u2003', '\u200b', '\u0000', '\u0007', '\ufffd',
    ...'中文字符测试日本語', ...'αβγδεζηθ', ...'абвгдеж', ...'«»“”‘’—–…', '😀', '👍', '❤', '[MASK]', '[SEP]', '##'];
  for (let i = 0; i < 300; i++) {
    const len = 1 + Math.floor(rand() * 120);
    let s = '';
    for (let j = 0; j < len; j++) s += pool[Math.floor(rand() * pool.length)];
    texts.push(s);
  }

  // ---- singles
  const lines = [];
  let jsDiff = 0, total = 0, chars = 0;
  for (const text of texts) {
    const e = await rt.encode(text, null, { addSpecialTokens: false });
    const ids = e.getIds();
    const jids = jt.encode(text, { add_special_tokens: false }).ids;
    if (ids.join(' ') !== jids.join(' ')) { jsDiff++; console.log('tokenizers.js differs on: ' + JSON.stringify(text.slice(0, 80))); }
    total++; chars += text.length;
    lines.push(JSON.stringify({ kind: 'single', text, ids: ids.join(' ') }));
  }

  // ---- pairs with truncation (Rust semantics)
  const strategies = ['LongestFirst', 'OnlyFirst', 'OnlySecond'];
  let pairs = 0;
  for (let i = 0; i < 240; i++) {
    const a = texts[Math.floor(rand() * texts.length)].slice(0, 1 + Math.floor(rand() * 600));
    const b = texts[Math.floor(rand() * texts.length)].slice(0, 1 + Math.floor(rand() * 600));
    const max = i % 4 === 0 ? 0 : 3 + Math.floor(rand() * 200);
    const strategy = strategies[i % 3];
    if (max > 0) rt.setTruncation(max, { strategy }); else rt.disableTruncation();
    let e;
    try { e = await rt.encode(a, b, { addSpecialTokens: true }); } catch (err) { continue; }  // only-X that cannot fit
    lines.push(JSON.stringify({ kind: 'pair', a, b, max, strategy, ids: e.getIds().join(' '), types: e.getTypeIds().join(' ') }));
    pairs++;
  }
  rt.disableTruncation();

  // ---- decode (special tokens kept, cleanup as tokenizer.json says)
  for (let i = 0; i < texts.length; i += 7) {
    const e = await rt.encode(texts[i].slice(0, 400), null, { addSpecialTokens: true });
    const text = await rt.decode(e.getIds(), false);
    lines.push(JSON.stringify({ kind: 'decode', ids: e.getIds().join(' '), text }));
  }

  const out = path.join('src', 'test', 'resources', 'tokenizer', 'bert-base-uncased-reference.jsonl.gz');
  fs.writeFileSync(out, zlib.gzipSync(lines.join('\n') + '\n', { level: 9 }));
  console.log(`${total} single texts (${chars} chars), ${pairs} pairs; tokenizers.js disagrees with Rust on ${jsDiff} texts; wrote ${out} (${fs.statSync(out).size} bytes)`);
}
main().catch(e => { console.error(e); process.exit(1); });
