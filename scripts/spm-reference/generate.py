#!/usr/bin/python3
"""Writes <model>.expected.json for bpe.model and unigram.model in the given directory.

The ids and decodes come from SentencePiece's own Python binding (Debian python3-sentencepiece,
0.1.97), never from detinfer:
  ids          Encode(text, add_special_tokens=false): as Hugging Face's slow (legacy)
               LlamaTokenizer, the text is first split at the strings of the control pieces and
               the unknown piece ("<s>", "</s>", "<unk>", ...; leftmost, longest first), which
               become their ids, and each remaining part is sp.encode()d on its own. For text
               with none of those strings this is sp.encode(text) (asserted).
  pieces       sp.id_to_piece of each id (for reading the file).
  decode       sp.decode(ids): SentencePiece's DecodeIds.
  decode_skip  sp.decode of ids without the control and unknown ids (what
               skip_special_tokens leaves).
Run by train.sh; usage: generate.py DIR.
"""
import json
import os
import sys

import sentencepiece as spm

TEXTS = [
    "",
    "Hello",
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    " leading space",
    "  two leading spaces",
    "trailing space ",
    "trailing spaces   ",
    "   ",
    " ",
    "inner    run   of spaces",
    "tab\there\tand\ttabs",
    "new\nline\n\nand blank line\n",
    "\n",
    "\r\n windows line",
    "digits 1234567890 and 3.14159",
    "2024-12-06 09:45:00",
    "Le renard brun rapide saute par-dessus le chien paresseux.",
    "Où est la bibliothèque ? Ça coûte très cher.",
    "Größe, Straße, Mädchen, Übersetzung",
    "¿Dónde está la estación? ¡Qué día!",
    "Быстрая коричневая лиса",
    "Η γρήγορη καφέ αλεπού",
    "日本語の文章です。東京は日本の首都です。",
    "中文文本示例。北京是中国的首都。",
    "한국어 문장입니다. 안녕하세요.",
    "Emoji: 😀 😂 👍 🎉 🚀",
    "😀😀😀",
    "❤️ heart with variation selector",
    "unseen characters: ᚠᛇᚻ ∮ ⊕ ℵ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "rare CJK: 龘 麤 鱻 and Thai: สวัสดีครับ",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ and the ﬁ ligature, ① ② ③, ½ ™",
    "combining: e\u0301 vs \u00e9, A\u030a vs \u00c5",
    "zero\u200bwidth\u200bspace and NBSP\u00a0here",
    "the metaspace \u2581 character itself \u2581\u2581",
    "<s>",
    "</s>",
    "<unk>",
    "<pad>",
    "<s>Hello</s>",
    "Hello <s> world </s> again",
    "a<unk>b <unk> c",
    "<s><s></s>",
    "<s",
    "</s ",
    "<|user|> hi <|user|>",
    "code: def add(a, b): return a + b  # adds",
    "for i in range(10):\n    print(i * i)\n",
    "MiXeD CaSe WoRdS and UPPERCASE",
    "a",
    ".",
    "\u00e9",
    "x" * 40,
    "The end. The end. The end of the text, and the end of the story.",
    "ends with emoji 🎉",
    "🎉 starts with emoji",
    " 😀 ",
    "Prices: 3.14 euros, 2,718 dollars, 100% of the time",
]


def specials(sp):
    out = []
    for i in range(sp.get_piece_size()):
        if sp.is_control(i) or sp.is_unknown(i):
            out.append((sp.id_to_piece(i), i))
    out.sort(key=lambda p: -len(p[0]))
    return out


def encode(sp, text):
    spec = specials(sp)
    ids, start, pos = [], 0, 0
    while pos < len(text):
        hit = next(((s, i) for s, i in spec if s and text.startswith(s, pos)), None)
        if hit is None:
            pos += 1
            continue
        if pos > start:
            ids += sp.encode(text[start:pos])
        ids.append(hit[1])
        pos += len(hit[0])
        start = pos
    if start < len(text):
        ids += sp.encode(text[start:])
    if not any(s in text for s, _ in spec if s):
        assert ids == sp.encode(text), text
    return ids


def main():
    d = sys.argv[1]
    for name in ("bpe", "unigram"):
        sp = spm.SentencePieceProcessor(model_file=os.path.join(d, name + ".model"))
        cases = []
        for text in TEXTS:
            ids = encode(sp, text)
            keep = [i for i in ids if not (sp.is_control(i) or sp.is_unknown(i))]
            cases.append({
                "text": text,
                "ids": ids,
                "pieces": [sp.id_to_piece(i) for i in ids],
                "decode": sp.decode(ids),
                "decode_skip": sp.decode(keep),
            })
        out = {
            "generator": "scripts/spm-reference/generate.py, sentencepiece " + spm.__version__,
            "model": name + ".model",
            "vocab_size": sp.get_piece_size(),
            "bos_id": sp.bos_id(),
            "eos_id": sp.eos_id(),
            "unk_id": sp.unk_id(),
            "pad_id": sp.pad_id(),
            "control_ids": [i for i in range(sp.get_piece_size()) if sp.is_control(i)],
            "byte_ids": [i for i in range(sp.get_piece_size()) if sp.is_byte(i)],
            "cases": cases,
        }
        with open(os.path.join(d, name + ".expected.json"), "w", encoding="utf-8") as f:
            json.dump(out, f, ensure_ascii=False, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
